"""Quantized LLM tiers: each loads from the ordinary model folder, generates, and keeps the conditioning close.

The closeness thresholds come from measurements on the tiny preset (random weights, fp32, CPU, bitsandbytes
0.50.2): feeding the same tokens and voken group to the unquantized and the quantized model and mapping the 8
voken states through the (unquantized) mapper, the conditioning's cosine similarity was 0.99999 for int8 and
0.998 for nf4, the largest absolute difference 0.014 (int8) and 0.23 (nf4) on values up to 4.2. The
thresholds leave about 5x room for other CPUs' kernels: int8 cosine >= 0.9995 and max error <= 0.1; nf4
cosine >= 0.99 and max error <= 1.0. A broken quantizer (wrong rows, unscaled weights) gives cosines near 0.
"""

from __future__ import annotations

import sys

import pytest
import torch

pytest.importorskip("bitsandbytes")

from minigpt5_core import MiniGPT5, MiniGPT5Error  # noqa: E402

LIMITS = {"int8": (0.9995, 0.1), "nf4": (0.99, 1.0)}  # (min cosine, max absolute error): see the docstring


@pytest.fixture(scope="module")
def quantized(tiny_model_dir):
    """The tiny model loaded once per tier (without its SD: the conditioning is what is compared)."""
    return {tier: MiniGPT5.from_pretrained(tiny_model_dir, quantize=tier, with_image_generator=False)
            for tier in LIMITS}


def _voken_conditioning(model: MiniGPT5, token_ids: list[int]) -> torch.Tensor:
    """The mapper output for the voken group that follows `token_ids` after a fixed prompt (teacher-forced)."""
    ids = model.special_ids
    session = model.start_session("A fox finds a lantern in the snow.")
    producer = session.feed_tokens(token_ids)[:, -1]
    states = session.feed_tokens(list(ids.vokens))[:, : len(ids.vokens) - 1]
    vokens = torch.cat([producer.unsqueeze(1), states], dim=1).float().cpu()
    positive, _ = model.conditioning(vokens)
    return positive


@pytest.mark.parametrize("tier", sorted(LIMITS))
def test_each_tier_quantizes_the_decoder_layers_and_keeps_the_head_and_embeddings(quantized, tier):
    import bitsandbytes as bnb

    llm = quantized[tier].llm
    expected = bnb.nn.Linear8bitLt if tier == "int8" else bnb.nn.Linear4bit
    layer = llm.model.layers[0]
    for linear in (layer.self_attn.q_proj, layer.self_attn.o_proj, layer.mlp.up_proj, layer.mlp.down_proj):
        assert isinstance(linear, expected)
    assert type(llm.lm_head) is torch.nn.Linear and llm.lm_head.weight.dtype == torch.float32
    assert llm.get_input_embeddings().weight.dtype == torch.float32
    assert quantized[tier].mapper.t2i_decoder_prompt.dtype == torch.float32


@pytest.mark.parametrize("tier", sorted(LIMITS))
def test_each_tier_generates_text_and_a_picture(quantized, tier):
    result = quantized[tier].generate("A red ball rolls away.", seed=0, force_image=True, max_new_tokens=24)
    assert result.num_images == 1
    positive, negative = quantized[tier].conditioning(result)
    assert positive.shape == (1, 77, 1024) and torch.isfinite(positive).all()


@pytest.mark.parametrize("tier", sorted(LIMITS))
def test_voken_conditioning_stays_close_to_the_unquantized_model(quantized, tiny_model, tier):
    text = tiny_model.text_ids(" The fox walks home, happy.")
    reference = _voken_conditioning(tiny_model, text)
    got = _voken_conditioning(quantized[tier], text)
    min_cosine, max_error = LIMITS[tier]
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), reference.flatten(), dim=0).item()
    assert cosine >= min_cosine
    assert (got - reference).abs().max().item() <= max_error


def test_a_story_runs_on_the_quantized_llm(quantized):
    story = quantized["nf4"].story("A little fox finds a lantern.", pages=2, seed=0, max_new_tokens_per_page=24)
    assert len(story) == 2 and story.vokens.shape[0] == 2


def test_quantizing_an_llm_with_a_stage_2_adapter_keeps_the_lora(fresh_tiny_model, tmp_path):
    fresh_tiny_model.wrap_adapter(2)
    fresh_tiny_model.eval()
    fresh_tiny_model.save_pretrained(tmp_path / "adapter")
    model = MiniGPT5.from_pretrained(tmp_path / "adapter", quantize="int8", with_image_generator=False)
    q_proj = model.llm.base_model.model.model.layers[0].self_attn.q_proj
    assert hasattr(q_proj, "lora_A") and type(q_proj.base_layer).__name__ == "Linear8bitLt"
    assert model.generate("A fox.", seed=0, force_image=True, max_new_tokens=16).num_images == 1


def test_an_unknown_tier_is_one_clear_error(tiny_model_dir):
    with pytest.raises(MiniGPT5Error, match="quantize must be one of none, int8, nf4"):
        MiniGPT5.from_pretrained(tiny_model_dir, quantize="q3", with_image_generator=False)


def test_without_bitsandbytes_the_error_says_what_to_install(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` now raises ImportError
    with pytest.raises(MiniGPT5Error, match=r"minigpt5-storybook\[quantize\]"):
        MiniGPT5.from_pretrained(tiny_model_dir, quantize="nf4", with_image_generator=False)


def test_int8_decoding_does_not_log_a_line_per_matmul(quantized, caplog):
    with caplog.at_level("WARNING"):
        quantized["int8"].generate("A fox.", seed=0, max_new_tokens=4)
    assert not [r for r in caplog.records if "inputs will be cast" in r.getMessage()]
