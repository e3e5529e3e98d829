"""LoadMiniGPT5's `quantize` input, inside a real ComfyUI: the quantized LLM is managed and runs like any model."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("bitsandbytes")

from comfy_fixtures import MINIGPT5_MODEL  # noqa: E402


@pytest.mark.parametrize("tier", ["int8", "nf4"])
def test_a_quantized_model_loads_generates_and_survives_unload(comfy, comfy_models, tier):
    import bitsandbytes as bnb
    import comfy.model_management as mm

    loader = comfy.node_classes["LoadMiniGPT5"]()
    handle = loader.load(MINIGPT5_MODEL, "auto", "cpu", tier)[0]
    linear = handle.model.llm.model.layers[0].mlp.up_proj
    assert isinstance(linear, bnb.nn.Linear8bitLt if tier == "int8" else bnb.nn.Linear4bit)
    plain = loader.load(MINIGPT5_MODEL, "auto", "cpu", "none")[0]
    assert handle.patcher.model_size() < plain.patcher.model_size()  # ComfyUI counts the smaller weights

    generate = comfy.node_classes["InterleavedGenerate"]()
    result, _ = generate.generate(handle, "A fox.", seed=0, max_new_tokens=16, temperature=1.0, top_p=0.9,
                                  force_image=True)
    positive, negative = comfy.node_classes["VokenToConditioning"]().convert(handle, result, 0)
    assert positive[0][0].shape == (1, 77, 1024) and positive[0][0].dtype == torch.float32
    mm.unload_all_models()
    again, _ = generate.generate(handle, "A fox.", seed=0, max_new_tokens=16, temperature=1.0, top_p=0.9,
                                 force_image=True)
    assert again.token_ids == result.token_ids


def test_an_unknown_quantize_value_is_one_clear_error(comfy, comfy_models):
    from minigpt5_core import MiniGPT5Error

    with pytest.raises(MiniGPT5Error, match="quantize must be one of none, int8, nf4"):
        comfy.node_classes["LoadMiniGPT5"]().load(MINIGPT5_MODEL, "auto", "cpu", "fp3")
