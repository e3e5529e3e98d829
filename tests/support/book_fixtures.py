"""A small book drawn by the tiny model, made once per test session, for tests that redraw or damage a book
(each test works on its own copy)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_book_made(tiny_model_dir, tmp_path_factory):
    """A 2-page book from the tiny model (seed 5: pages drawn with seeds 5 and 6); never changed by tests."""
    from storybook.cli import main

    out = tmp_path_factory.mktemp("tiny-book") / "book"
    assert main(["make", "--model", str(tiny_model_dir), "--prompt", "A red circle rolls.", "--pages", "2",
                 "--seed", "5", "--out", str(out)]) == 0
    return out


@pytest.fixture
def tiny_book(tiny_book_made, tmp_path):
    """This test's own copy of the tiny model's book."""
    return shutil.copytree(tiny_book_made, tmp_path / "book")
