"""A model with the converter's tokenizer builds the official training and prompt sequences, id for id.

Golden sequences (tests/golden/official_minigpt5.json) are the official `input_warp` output: <s>, the
source with each <ImageHere> replaced by 32 image slots (-1 here), then the target tokenised by itself.
"""

from __future__ import annotations


import pytest
import torch
from PIL import Image

from minigpt5_core import MiniGPT5, MiniGPT5Config, TrainingSample
from official_golden import GOLDEN

BLANK = Image.new("RGB", (8, 8))


@pytest.fixture(scope="module")
def official_style_model(official_tokenizer):
    config = MiniGPT5Config.preset("tiny")
    config.llm.tokenizer, config.llm.first_token, config.prompt_style = "external", "bos", "official"
    return MiniGPT5.from_config(config, tokenizer=official_tokenizer, seed=0)


def sequence_ids(model, embeds: torch.Tensor) -> list[int]:
    """Which vocabulary row each input embedding is, or -1 for an image slot."""
    table = model.llm.get_input_embeddings().weight.detach()
    nearest = torch.cdist(embeds.detach().double(), table.double()).argmin(dim=1).tolist()
    return [i if torch.equal(row, table[i]) else -1 for row, i in zip(embeds.detach(), nearest)]


def images(model, n: int) -> list[torch.Tensor]:
    width, slots = model.config.llm.hidden_size, model.config.vision.num_query_tokens
    return [torch.full((slots, width), 1e3) for _ in range(n)]  # far from every vocabulary row


@pytest.mark.parametrize("task", ["gen", "multimodal", "understanding"])
def test_vist_training_sequence_and_voken_position_are_official(official_style_model, task):
    golden = GOLDEN["vist"]["samples"][task]
    n_in, groups = golden["source"].count("<ImageHere>"), golden["target"].count("[IMG0]")
    sample = TrainingSample(golden["source"], golden["target"], [BLANK] * n_in, [BLANK] * groups)
    embeds, labels, starts = official_style_model.encode_sample(sample, images(official_style_model, n_in))
    assert sequence_ids(official_style_model, embeds) == golden["expanded_ids"]
    expected_starts = [golden["expanded_ids"].index(32000)] if groups else []
    assert starts == expected_starts


def test_voken_labels_train_img0_and_img7_only(official_style_model):
    golden = GOLDEN["vist"]["samples"]["gen"]
    sample = TrainingSample(golden["source"], golden["target"], [BLANK], [BLANK])
    _, labels, (start,) = official_style_model.encode_sample(sample, images(official_style_model, 1))
    assert labels[start:start + 8].tolist() == [32000] + [-100] * 6 + [32007]
    assert (labels[:start] == -100).all()


@pytest.mark.parametrize("name", ["vist_gen_1img", "playground_2img", "spaces_around_image", "vist_step4_multimodal"])
def test_prompt_embedding_sequence_is_official(official_style_model, name):
    golden = GOLDEN["prompts"][name]
    n = golden["text"].count("<ImageHere>")
    embeds = official_style_model._embed_source(golden["text"], images(official_style_model, n))
    expected = [1]
    for t in golden["ids"]:
        expected += [-1] * official_style_model.config.vision.num_query_tokens if t == 32008 else [t]
    assert sequence_ids(official_style_model, embeds) == expected
