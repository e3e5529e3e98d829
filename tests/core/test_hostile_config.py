"""A model folder's config.json is checked before anything is built: absurd counts, widths that heads do not
divide, and sizes larger than the weight files hold are one MiniGPT5Error naming config.json and the field,
not hours of building, a ZeroDivisionError or a RuntimeError from torch."""

from __future__ import annotations

import json
import shutil

import pytest

from minigpt5_core import MiniGPT5, MiniGPT5Error


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def edit_config(folder, section: str | None, **values) -> None:
    path = folder / "config.json"
    meta = json.loads(path.read_text())
    (meta["config"][section] if section else meta["config"]).update(values)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("section, field, value, message", [
    (None, "num_vokens", 10**9, r"num_vokens must be a whole number in 1\.\.64, got 1000000000"),
    ("llm", "num_layers", 10**6, r"llm.num_layers must be a whole number in 1\.\.1024, got 1000000"),
    ("llm", "hidden_size", 2**36, r"llm.hidden_size must be a whole number in 1\.\.65536"),
    ("llm", "num_heads", 0, r"llm.num_heads must be a whole number in 1\.\.1024, got 0"),
    ("vision", "num_heads", 5, r"vision.hidden_size \(32\) must be a multiple of vision.num_heads \(5\)"),
    ("mapper", "num_heads", 0, r"mapper.num_heads must be a whole number in 1\.\.1024, got 0"),
])
def test_an_absurd_count_names_the_field_and_config_json(model_copy, section, field, value, message):
    edit_config(model_copy, section, **{field: value})
    with pytest.raises(MiniGPT5Error, match=rf"config.json: {message}"):
        MiniGPT5.from_pretrained(model_copy)


def test_a_config_larger_than_its_weights_is_refused_before_building(model_copy):
    edit_config(model_copy, "llm", num_layers=512, intermediate_size=2**14)
    with pytest.raises(MiniGPT5Error, match=r"config.json describes a model of at least 1,5\d\d MiB \(llm: .*, but "
                                            r"its weight files hold \d+ MiB: the sizes in its 'llm' section"):
        MiniGPT5.from_pretrained(model_copy)
