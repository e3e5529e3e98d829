"""`python -m storybook make --model ... --quantize`: the book is written by the quantized model."""

from __future__ import annotations

import json

import pytest

from storybook.cli import main

pytest.importorskip("bitsandbytes")


def test_make_with_quantize_nf4_writes_the_book(tiny_model_dir, tmp_path, monkeypatch):
    import storybook.generate as generate

    loaded = []
    load = generate.load_model
    monkeypatch.setattr(generate, "load_model", lambda *a, **k: loaded.append(load(*a, **k)) or loaded[-1])
    out = tmp_path / "book"
    code = main(["make", "--model", str(tiny_model_dir), "--quantize", "nf4", "--prompt", "A red circle rolls.",
                 "--pages", "1", "--out", str(out)])
    assert code == 0
    assert type(loaded[0].llm.model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    assert len(json.loads((out / "story.json").read_text())["pages"]) == 1


def test_quantize_goes_with_a_model_only(tmp_path, capsys):
    assert main(["make", "--manifest", str(tmp_path), "--quantize", "int8", "--out", str(tmp_path / "b")]) == 2
    assert "--quantize is for generating a story (--model)" in capsys.readouterr().err


def test_an_unknown_tier_is_refused_in_one_line(tmp_path, capsys):
    assert main(["make", "--model", str(tmp_path), "--quantize", "q3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none, int8, nf4" in err.replace("'", "")
