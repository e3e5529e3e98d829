"""`make --model` with a sharded model folder, as `python -m minigpt5_core.convert` writes a 7B model."""

import json

import pytest

from storybook.cli import main

pytest.importorskip("minigpt5_core.modeling.model", reason="minigpt5_core (the model library) is not importable")


def test_sharded_model_folder_makes_a_book_with_the_saved_models_story(tiny_model, tmp_path):
    from minigpt5_core.layout import WEIGHTS_INDEX
    sharded = tmp_path / "tiny-sharded"
    tiny_model.save_pretrained(sharded, max_shard_bytes=2**20)
    assert (sharded / WEIGHTS_INDEX).is_file() and len(list(sharded.glob("model-*-of-*.safetensors"))) > 1

    code = main(["make", "--model", str(sharded), "--prompt", "A red circle rolls.", "--pages", "1", "--seed", "5",
                 "--out", str(tmp_path / "book"), "--no-cover"])
    assert code == 0
    story = json.loads((tmp_path / "book" / "story.json").read_text())
    expected = tiny_model.story("A red circle rolls.", pages=1, seed=5)
    assert [page["text"] for page in story["pages"]] == expected.texts
