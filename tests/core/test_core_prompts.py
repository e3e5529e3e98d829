"""Prompt builders follow MINIGPT5_SPEC.md §5."""

from __future__ import annotations

import random

from PIL import Image

from minigpt5_core import cc3m_sample, mmdialog_sample, vist_samples
from minigpt5_core.config import VIST_SYSTEM_PROMPT
from minigpt5_core.prompts import MMDIALOG_SYSTEM_PROMPT

GROUP = "[IMG0][IMG1][IMG2][IMG3][IMG4][IMG5][IMG6][IMG7]"
PIC = Image.new("RGB", (8, 8))


def test_cc3m_source_is_the_cleaned_caption_and_target_the_vokens():
    sample = cc3m_sample("  a dog   on grass ", PIC, rng=random.Random(0), chat_fraction=0.0)
    assert sample.source == "a dog on grass"
    assert sample.target == f"{GROUP} ###"
    assert sample.captions == ["a dog on grass"]


def test_cc3m_chat_wrapping_happens_at_the_configured_fraction():
    rng = random.Random(0)
    wrapped = sum("###Human:" in cc3m_sample("x", PIC, rng=rng).source for _ in range(20000))
    assert 140 <= wrapped <= 260  # 1 in 100


def test_vist_gen_step_has_history_with_images_and_the_description():
    caps = ["We went out.", "It rained.", "We went home."]
    samples = vist_samples(caps, [PIC] * 3, "gen")
    third = samples[2]
    assert third.source.startswith(VIST_SYSTEM_PROMPT + "###Human:We went out.<Img><ImageHere></Img>It rained.")
    assert third.source.endswith("Generate an image with the scene description: We went home. ###Assistant:")
    assert third.target == f"{GROUP} ###"
    assert len(third.input_images) == 2 and len(third.output_images) == 1


def test_vist_multimodal_target_is_caption_then_vokens():
    samples = vist_samples(["A.", "B."], [PIC] * 2, "multimodal")
    assert samples[1].target == f"B. {GROUP} ###"
    assert samples[1].source.endswith("Tell me the next scene with image. ###Assistant:")
    assert samples[0].input_images == []


def test_vist_understanding_sees_the_next_image_and_writes_its_caption():
    samples = vist_samples(["A.", "B."], [PIC] * 2, "understanding")
    assert samples[1].source.count("<ImageHere>") == 2 and len(samples[1].input_images) == 2
    assert samples[1].target == "B. ###" and samples[1].output_images == []


def test_mmdialog_history_images_are_inputs_and_a_final_image_is_generated():
    sample = mmdialog_sample([("Show me a cat", None), ("Here:", PIC), ("Now a dog?", None), ("Sure!", PIC)])
    assert sample.source == (MMDIALOG_SYSTEM_PROMPT + " ###Human: Show me a cat ###Assistant: Here: <Img><ImageHere></Img> "
                             "###Human: Now a dog? ###Assistant:")
    assert sample.target == f"Sure! {GROUP} ###"
    assert len(sample.input_images) == 1 and len(sample.output_images) == 1
