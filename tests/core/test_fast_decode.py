"""The CUDA fast decode path (static KV cache, compiled one-token step) gives the default path's results."""

from __future__ import annotations

import dataclasses

import pytest

from minigpt5_core import MiniGPT5, MiniGPT5Error


def _story(model: MiniGPT5, **generation):
    original = model.config.generation
    model.config.generation = dataclasses.replace(original, **generation)
    try:
        return model.story("A little fox finds a lantern.", pages=2, seed=0, max_new_tokens_per_page=24)
    finally:
        model.config.generation = original


def test_static_cache_samples_the_same_story_and_vokens(tiny_model):
    default = _story(tiny_model)
    static = _story(tiny_model, static_cache=True)
    assert [p.token_ids for p in static] == [p.token_ids for p in default]
    assert (static.vokens - default.vokens).abs().max().item() < 1e-4


def test_compiled_decoding_without_a_static_cache_is_refused(tiny_model):
    with pytest.raises(MiniGPT5Error, match="compile_decode needs static_cache"):
        _story(tiny_model, compile_decode=True)


@pytest.mark.slow  # compiling the step with inductor takes 10-40 s on a 2-core CPU
def test_compiled_decode_step_samples_the_same_story(fresh_tiny_model):
    model = fresh_tiny_model  # compiling changes the model
    default = _story(model)
    compiled = _story(model, static_cache=True, compile_decode=True)
    assert [p.token_ids for p in compiled] == [p.token_ids for p in default]
    assert (compiled.vokens - default.vokens).abs().max().item() < 1e-4
