"""A bad value is reported with where it came from and how to fix it: a book's own options (story.json's
"book"), a damaged file-hash cache (rebuilt, never a crash), a bitsandbytes that fails to import (one line
naming it, not an internal error from inside diffusers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from storybook.filehash import folder_sha256
from storybook_helpers import run_make, story_folder


@pytest.mark.parametrize("field, value, problem", [
    ("size", "a9", "a9"), ("layout", "comic", "comic"), ("bleed", "lots", "lots"), ("formats", ["mobi"], "mobi"),
    ("padding", "sideways", "sideways"),
])
def test_a_bad_option_in_story_json_names_story_json_and_the_fix(tmp_path, capsys, field, value, problem):
    folder = story_folder(tmp_path / "s")
    story = json.loads((folder / "story.json").read_text())
    story["book"] = {field: value}
    (folder / "story.json").write_text(json.dumps(story))
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "out")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{folder / 'story.json'}: field 'book': " in err and problem in err and "override it" in err


@pytest.mark.parametrize("entry", [{"sha256": 5}, {"sha256": None}, {"sha256": "not hex"}, {}, [1, 2], "text"])
def test_a_damaged_hash_cache_entry_is_rebuilt(tmp_path, entry):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\1" * 100)
    expected = folder_sha256(folder, tmp_path / "fresh.json")
    stat = (folder / "weights.bin").stat()
    damaged = entry if not isinstance(entry, dict) else {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, **entry}
    cache = tmp_path / "cache.json"
    cache.write_text(json.dumps({str((folder / "weights.bin").resolve()): damaged}))
    assert folder_sha256(folder, cache) == expected
    assert folder_sha256(folder, cache) == expected  # and the cache now holds the right digest


def test_a_hash_cache_nested_too_deep_is_rebuilt(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\1")
    cache = tmp_path / "cache.json"
    cache.write_text("[" * 100_000 + "]" * 100_000)
    assert folder_sha256(folder, cache).startswith("sha256:")


@pytest.mark.slow  # a fresh interpreter that imports torch, transformers and diffusers
def test_a_bitsandbytes_that_fails_to_import_is_one_line_naming_it(tiny_model_dir, tmp_path):
    broken = tmp_path / "site" / "bitsandbytes"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise RuntimeError("CUDA Setup failed despite GPU being available")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "storybook", "make", "--model", str(tiny_model_dir), "--pages", "1",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=600)
    ours = [line for line in result.stderr.splitlines() if line.startswith("storybook:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(ours) == 1 and "the installed bitsandbytes fails to import (RuntimeError: CUDA Setup failed" in ours[0]
    assert "pip uninstall bitsandbytes" in ours[0] and "Traceback" not in result.stderr
