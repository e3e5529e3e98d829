"""ConsistentStoryPages in a real ComfyUI 0.3.75: a patched clone of the MODEL, sampled by the stock KSampler."""

from __future__ import annotations

import pytest
import torch

from comfy_fixtures import SD_CHECKPOINT

PAGES = 3


@pytest.fixture(scope="module")
def sd(comfy, comfy_models):
    model = comfy.node_classes["CheckpointLoaderSimple"]().load_checkpoint(SD_CHECKPOINT)[0]
    generator = torch.Generator().manual_seed(0)
    positive = [[torch.randn(PAGES, 77, 1024, generator=generator), {"pooled_output": torch.zeros(PAGES, 1024)}]]
    negative = [[torch.zeros(1, 77, 1024), {"pooled_output": torch.zeros(1, 1024)}]]
    return model, positive, negative


def _patched(comfy, model, ratio, **settings):
    options = {"start_step": 1, "end_step": 10000, "sample_seed": 0, **settings}
    return comfy.node_classes["ConsistentStoryPages"]().patch(model, ratio, **options)[0]


def _sample(comfy, model, positive, negative, pages=PAGES):
    latent = {"samples": torch.zeros(pages, 4, 8, 8)}
    positive = [[positive[0][0][:pages], {"pooled_output": positive[0][1]["pooled_output"][:pages]}]]
    out = comfy.node_classes["KSampler"]().sample(model, 7, 2, 7.5, "euler", "normal", positive, negative, latent)
    return out[0]["samples"]


def test_ratio_zero_draws_exactly_the_unpatched_pictures(comfy, sd):
    model, positive, negative = sd
    assert torch.equal(_sample(comfy, _patched(comfy, model, 0.0), positive, negative),
                       _sample(comfy, model, positive, negative))


def test_a_single_page_is_left_alone(comfy, sd):
    model, positive, negative = sd
    assert torch.equal(_sample(comfy, _patched(comfy, model, 0.5), positive, negative, pages=1),
                       _sample(comfy, model, positive, negative, pages=1))


def test_in_the_up_blocks_each_page_also_attends_to_the_other_pages_from_step_1(comfy, sd):
    """The random-weight test UNet's attention is saturated (each query sees only its best key), so its
    pictures cannot show the effect: a second attn1 patch, chained after ours, records what attn1 gets."""
    model, positive, negative = sd
    seen = []

    def record(n, context, value, extra):
        seen.append((extra["block"][0], int(extra["sample_sigmas"].eq(extra["sigmas"][0]).nonzero()[0]),
                     context.shape[1], value.shape[1]))
        return n, context, value

    patched = _patched(comfy, model, 0.5)
    patched.set_model_attn1_patch(record)
    _sample(comfy, patched, positive, negative)
    tokens, borrowed = 64, 64 + (PAGES - 1) * 32  # an 8x8 latent; each page lends half its tokens
    assert {length for block, step, length, _ in seen if block != "output" or step == 0} == {tokens}
    assert {length for block, step, length, _ in seen if block == "output" and step >= 1} >= {borrowed}
    assert all(length == value for *_, length, value in seen)


def test_the_patch_goes_on_a_clone_beside_other_attn1_patches(comfy, sd):
    model = sd[0]
    other = model.clone()
    other.set_model_attn1_patch(lambda n, context, value, extra: (n, context, value))
    patched = _patched(comfy, other, 0.5)
    assert len(patched.model_options["transformer_options"]["patches"]["attn1_patch"]) == 2
    assert len(other.model_options["transformer_options"]["patches"]["attn1_patch"]) == 1
    assert "patches" not in model.model_options["transformer_options"]


def test_bad_settings_are_one_clear_error(comfy, sd):
    from minigpt5_core import MiniGPT5Error

    with pytest.raises(MiniGPT5Error, match="Consistent Story Pages: consistency end_step"):
        _patched(comfy, sd[0], 0.5, start_step=5, end_step=3)
