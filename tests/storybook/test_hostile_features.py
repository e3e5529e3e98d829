"""A book's voken features are read as carefully as its pictures: the file stays inside the book, only the
tensors the pages name are read, and values that would draw garbage are refused; `redraw` checks its
options as `make` does."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from storybook.cli import main
from storybook.features import FEATURES_NAME, load_features
from storybook.manifest import load_story
from storybook_helpers import files


def remake(book, tmp_path, capsys) -> tuple[int, str]:
    code = main(["make", "--manifest", str(book), "--out", str(tmp_path / "copy")])
    return code, capsys.readouterr().err


def test_a_features_file_that_links_out_of_the_book_is_refused(tiny_book, tmp_path, capsys):
    outside = tmp_path / "elsewhere.safetensors"
    (tiny_book / FEATURES_NAME).rename(outside)
    (tiny_book / FEATURES_NAME).symlink_to(outside)
    code, err = remake(tiny_book, tmp_path, capsys)
    assert code == 2 and "leads outside the book folder" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "copy").exists()


def test_only_the_tensors_the_pages_name_are_read(tiny_book):
    stored = load_file(tiny_book / FEATURES_NAME)
    save_file({**stored, "unnamed": np.zeros((4096, 4096), np.float32)}, str(tiny_book / FEATURES_NAME))  # 64 MiB
    tracemalloc.start()
    try:
        features = load_features(tiny_book, load_story(tiny_book))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(features) == sorted(stored) and peak < 2**20


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_features_that_are_not_finite_are_refused(tiny_book, tmp_path, capsys, bad):
    stored = load_file(tiny_book / FEATURES_NAME)
    stored["page-002"][3, 5] = bad
    save_file(stored, str(tiny_book / FEATURES_NAME))
    code, err = remake(tiny_book, tmp_path, capsys)
    assert code == 2 and "'page-002' hold NaN or infinite values" in err and len(err.splitlines()) == 1


def test_redraw_refuses_zero_steps_as_make_does(tiny_book, tiny_model_dir, capsys):
    before = files(tiny_book)
    code = main(["redraw", str(tiny_book), "--page", "1", "--steps", "0", "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "--steps: steps must be a whole number in 1..1000, got 0" in err
    assert files(tiny_book) == before
    code = main(["make", "--model", str(tiny_model_dir), "--steps", "0"])
    assert code == 2 and "--steps: steps must be a whole number" in capsys.readouterr().err


def test_redraw_refuses_a_seed_that_overflows_on_a_later_page_as_make_does(tiny_book, tiny_model_dir, capsys):
    code = main(["redraw", str(tiny_book), "--page", "1", "--page", "2", "--seed", str(2**64 - 1),
                 "--model", str(tiny_model_dir)])
    assert code == 2 and "--seed 18446744073709551615 (and the 1 that follow it" in capsys.readouterr().err
