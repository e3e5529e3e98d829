"""The prompt builders write the official loaders' strings (style "official"); "v0.1" keeps the old ones.

Golden strings: tests/golden/official_minigpt5.json, recorded from the official VISTDataset / CC3MDataset
(github:eric-ai-lab/MiniGPT-5 at 915ab17) by shared/tools/parity, first prompt variant of each task.
"""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from minigpt5_core import MiniGPT5Config
from minigpt5_core.prompts import chat_message, cc3m_sample, pre_caption, vist_samples
from official_golden import GOLDEN

PIC = Image.new("RGB", (8, 8))
VIST = GOLDEN["vist"]


@pytest.mark.parametrize("task", ["gen", "multimodal", "understanding"])
def test_vist_samples_are_the_official_strings(task):
    step = VIST["step"]
    ours = vist_samples(VIST["captions"][: step + 1], [PIC] * (step + 1), task)[step]
    assert (ours.source, ours.target) == (VIST["samples"][task]["source"], VIST["samples"][task]["target"])


def test_official_vist_history_is_glued_and_ends_in_a_newline():
    source = vist_samples(["A b .", "C d .", "E f ."], [PIC] * 3, "gen")[2].source
    assert "###Human:A b .<Img><ImageHere></Img>C d .<Img><ImageHere></Img>\n Generate an image" in source


def test_official_vist_first_step_has_a_space_after_human():
    assert "###Human: Generate an image with the scene description: A b . ###Assistant:" in \
        vist_samples(["A b ."], [PIC], "gen")[0].source


def test_cc3m_captions_are_cleaned_as_pre_caption():
    raw = GOLDEN["cc3m"]["raw_captions"][0]
    assert pre_caption(raw) == GOLDEN["cc3m"]["samples"]["cc3m"]["caption"]
    assert pre_caption('A "Big" Dog: (runs)!  Fast.#~') == "a big dog runs fast"


@pytest.mark.parametrize("task,fraction", [("cc3m", 0.0), ("cc3m_instruction", 1.0)])
def test_cc3m_samples_are_the_official_strings(task, fraction):
    golden = GOLDEN["cc3m"]["samples"][task]
    ours = cc3m_sample(GOLDEN["cc3m"]["raw_captions"][0], PIC, rng=random.Random(0), chat_fraction=fraction)
    assert (ours.source, ours.target, ours.captions) == (golden["source"], golden["target"], [golden["caption"]])


def test_v01_style_keeps_the_formats_the_toy_model_was_trained_on():
    source = vist_samples(["A.", "B."], [PIC] * 2, "gen", style="v0.1")[1].source
    assert source.endswith("###Human: A. <Img><ImageHere></Img> Generate an image with the scene description: B. ###Assistant:")
    assert cc3m_sample("A  Dog.", PIC, rng=random.Random(0), chat_fraction=0.0, style="v0.1").source == "A Dog."


def test_official_chat_message_puts_pictures_as_a_history_before_the_request():
    assert chat_message("What next?", 2, "S") == "S###Human:<Img><ImageHere></Img><Img><ImageHere></Img>\n What next? ###Assistant:"
    assert chat_message("What next?", 0, "S") == "S###Human: What next? ###Assistant:"


def test_presets_choose_their_prompt_style_and_old_config_files_read_as_v01():
    assert MiniGPT5Config.preset("minigpt5-7b").prompt_style == "official"
    assert MiniGPT5Config.preset("toy").prompt_style == "v0.1"
    data = MiniGPT5Config.preset("minigpt5-7b").to_dict()
    del data["prompt_style"]  # a config.json written before the field existed
    assert MiniGPT5Config.from_dict(data).prompt_style == "v0.1"


def test_bundled_toy_model_selects_the_v01_style():
    from minigpt5_core.shapes.__main__ import DEFAULT_MODEL

    assert json.loads((DEFAULT_MODEL / "config.json").read_text())["config"]["prompt_style"] == "v0.1"
