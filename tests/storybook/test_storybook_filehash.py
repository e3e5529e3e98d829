"""A book's model hash: every file of the folder counts, and each file is read once until it changes."""

from __future__ import annotations

import os

import pytest

import storybook.filehash as filehash
from storybook.filehash import folder_sha256


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    (folder / "sd").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sd" / "weights.bin").write_bytes(b"\x01" * 4096)
    return folder


def _touch_later(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_a_folder_hashed_again_is_not_read_again(model, tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "hashes.json"
    first = folder_sha256(model, cache)
    monkeypatch.setattr(filehash, "file_sha256", lambda path: pytest.fail(f"{path} was read again"))
    assert folder_sha256(model, cache) == first and first.startswith("sha256:")


def test_a_changed_file_changes_the_hash(model, tmp_path):
    cache = tmp_path / "hashes.json"
    before = folder_sha256(model, cache)
    (model / "sd" / "weights.bin").write_bytes(b"\x02" * 4096)  # same size
    _touch_later(model / "sd" / "weights.bin")
    assert folder_sha256(model, cache) != before
    assert folder_sha256(model, tmp_path / "fresh.json") == folder_sha256(model, cache)


def test_names_count_not_only_contents(model, tmp_path):
    before = folder_sha256(model, tmp_path / "a.json")
    (model / "sd" / "weights.bin").rename(model / "sd" / "other.bin")
    assert folder_sha256(model, tmp_path / "b.json") != before


def test_an_unwritable_cache_still_gives_the_hash(model, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    assert folder_sha256(model, blocker / "hashes.json") == folder_sha256(model, tmp_path / "ok.json")


def test_one_file_hashed_again_is_not_read_again_until_it_changes(model, tmp_path, monkeypatch):
    cache, weights = tmp_path / "hashes.json", model / "sd" / "weights.bin"
    first = filehash.cached_file_sha256(weights, cache)
    assert first == filehash.file_sha256(weights)
    read = []
    monkeypatch.setattr(filehash, "file_sha256", lambda path: read.append(path) or "0" * 64)
    assert filehash.cached_file_sha256(weights, cache) == first and read == []
    _touch_later(weights)
    assert filehash.cached_file_sha256(weights, cache) == "0" * 64 and read == [weights]
