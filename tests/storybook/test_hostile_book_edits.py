"""Edits of one book are serialised: a `redraw` or `make --out BOOK` started while another run is writing the
same book is refused with the reason, and the running one's change lands; nothing is silently lost."""

from __future__ import annotations

import json

import pytest

import storybook.redraw
from storybook.cli import main

pytest.importorskip("minigpt5_core.modeling.model", reason="minigpt5_core (the model library) is not importable")


def seeds(book) -> list[int]:
    return [page["seed"] for page in json.loads((book / "story.json").read_text())["pages"]]


def while_drawing(monkeypatch, command: list[str]) -> dict:
    """Run `command` once, in the middle of the next redraw's drawing; returns where its exit code goes."""
    seen, real_draw = {}, storybook.redraw.draw

    def draw(*args, **kwargs):
        if "code" not in seen:
            seen["code"] = main(command)
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(storybook.redraw, "draw", draw)
    return seen


def test_a_redraw_of_a_book_another_redraw_is_writing_is_refused_and_the_first_lands(tiny_book, tiny_model_dir,
                                                                                     monkeypatch, capsys):
    second = while_drawing(monkeypatch, ["redraw", str(tiny_book), "--page", "2", "--seed", "77",
                                         "--model", str(tiny_model_dir)])
    assert main(["redraw", str(tiny_book), "--page", "1", "--seed", "66", "--model", str(tiny_model_dir)]) == 0
    err = capsys.readouterr().err
    assert second["code"] == 2 and "is being written by another run" in err
    assert seeds(tiny_book) == [66, 6]


def test_make_over_a_book_a_redraw_is_writing_is_refused(tiny_book, tiny_model_dir, monkeypatch, capsys):
    second = while_drawing(monkeypatch, ["make", "--manifest", str(tiny_book), "--out", str(tiny_book), "--no-cover"])
    assert main(["redraw", str(tiny_book), "--page", "1", "--seed", "66", "--model", str(tiny_model_dir)]) == 0
    assert second["code"] == 2 and "is being written by another run" in capsys.readouterr().err
    assert seeds(tiny_book) == [66, 6] and json.loads((tiny_book / "story.json").read_text())["book"]["cover"] is True
