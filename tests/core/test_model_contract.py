"""The contract every preset's model keeps, run on a tiny copy of each preset.

A copy keeps what makes the preset itself (first token, prompt style, voken forcing, number of vokens, the
mapper's conditioning width) and takes the tiny preset's widths and depths, so the whole contract runs in seconds:
save then load gives identical outputs, the same seed gives the same turn, a dtype given at load is the dtype of
the weights (the conditioning stays float32), and every quantize tier loads and writes a picture's conditioning.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.modeling.quantize import QUANTIZE_TIERS

PROMPT = "A little fox finds a lantern."


def tiny_copy(preset: str) -> MiniGPT5Config:
    """`preset` with the tiny preset's sizes: its own behaviour, a model built in a fraction of a second."""
    config, tiny = MiniGPT5Config.preset(preset), MiniGPT5Config.preset("tiny")
    sizes = ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "max_position_embeddings",
             "tokenizer")
    config.llm = dataclasses.replace(config.llm, **{name: getattr(tiny.llm, name) for name in sizes})
    config.vision = tiny.vision
    config.mapper = dataclasses.replace(config.mapper, num_encoder_layers=1, num_decoder_layers=1,
                                        ffn_dim=2 * config.mapper.d_model)
    config.diffusion = dataclasses.replace(config.diffusion, kind="external")  # the contract is up to conditioning
    config.generation = dataclasses.replace(config.generation, max_new_tokens=16)
    return config


@pytest.fixture(scope="module", params=MiniGPT5Config.PRESETS)
def saved(request, tmp_path_factory):
    """(model, its folder) for a tiny copy of each preset."""
    model = MiniGPT5.from_config(tiny_copy(request.param), seed=0)
    folder = tmp_path_factory.mktemp(request.param) / "model"
    model.save_pretrained(folder)
    return model, folder


def picture_turn(model: MiniGPT5, seed: int = 0):
    """One forced-picture turn: its tokens and its picture's conditioning."""
    result = model.generate(PROMPT, seed=seed, force_image=True)
    positive, negative = model.conditioning(result)
    return result.token_ids, positive, negative


def test_a_saved_and_loaded_model_writes_the_same_turn_and_conditioning(saved):
    model, folder = saved
    loaded = MiniGPT5.from_pretrained(folder)
    tokens, positive, negative = picture_turn(model)
    again_tokens, again_positive, again_negative = picture_turn(loaded)
    assert again_tokens == tokens
    torch.testing.assert_close(again_positive, positive, rtol=0, atol=0)
    torch.testing.assert_close(again_negative, negative, rtol=0, atol=0)


def test_the_same_seed_gives_the_same_turn_and_another_seed_another(saved):
    model, _ = saved
    first, again, other = picture_turn(model, 0), picture_turn(model, 0), picture_turn(model, 1)
    assert again[0] == first[0]
    torch.testing.assert_close(again[1], first[1], rtol=0, atol=0)
    assert other[0] != first[0]


def test_a_dtype_given_at_load_is_the_weights_dtype_and_the_conditioning_stays_float32(saved):
    _, folder = saved
    model = MiniGPT5.from_pretrained(folder, dtype=torch.bfloat16)
    float_dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    assert float_dtypes == {torch.bfloat16}
    _, positive, negative = picture_turn(model)
    assert positive.dtype == negative.dtype == torch.float32
    assert positive.shape == (1, model.config.mapper.num_queries, model.config.mapper.d_model)


@pytest.mark.parametrize("tier", [t for t in QUANTIZE_TIERS if t != "none"])
def test_every_quantize_tier_loads_and_writes_a_pictures_conditioning(saved, tier):
    pytest.importorskip("bitsandbytes")
    _, folder = saved
    model = MiniGPT5.from_pretrained(folder, quantize=tier)
    tokens, positive, _ = picture_turn(model)
    assert model.special_ids.first_voken in tokens
    assert positive.shape == (1, model.config.mapper.num_queries, model.config.mapper.d_model)
    assert torch.isfinite(positive).all()
