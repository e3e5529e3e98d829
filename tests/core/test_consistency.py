"""Consistent self-attention (minigpt5_core.modeling.consistency): the authors' maths, and the diffusers sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from consistency_golden import build_attention, load
from diffusers.models.attention_processor import AttnProcessor2_0

from minigpt5_core import ConsistencySettings, MiniGPT5Error
from minigpt5_core.modeling.consistency import consistent_context, gather_context, key_length_factor

ON = ConsistencySettings(ratio=0.5, early_probability=1.0)  # always applies from step 1: deterministic tests


def test_matches_the_authors_processor_on_the_golden_tensors():
    golden = load()
    attn = build_attention(golden["state"])
    context = gather_context(golden["hidden"], golden["pages"], golden["indices"])
    with torch.no_grad():
        ours = AttnProcessor2_0()(attn, golden["hidden"], context)
    torch.testing.assert_close(ours, golden["output"], rtol=1e-5, atol=1e-5)


def test_the_golden_output_is_not_plain_self_attention():
    golden = load()
    with torch.no_grad():
        plain = AttnProcessor2_0()(build_attention(golden["state"]), golden["hidden"])
    assert (plain - golden["output"]).abs().max() > 1e-2


def test_each_page_sees_the_other_pages_samples_then_all_of_its_own_tokens():
    hidden = torch.arange(3 * 4, dtype=torch.float32).reshape(3, 4, 1)  # page p, token t -> 4p + t
    context = gather_context(hidden, 3, torch.tensor([[0, 2], [1, 3], [0, 1]]))
    assert context[1, :, 0].tolist() == [0, 2, 8, 9, 4, 5, 6, 7]


def test_cond_and_uncond_halves_borrow_only_from_their_own_half():
    hidden = torch.cat([torch.zeros(2, 4, 1), torch.ones(2, 4, 1)])  # uncond pages 0-1, cond pages 0-1
    context = gather_context(hidden, 2, torch.tensor([[0], [1]]))
    assert context[:2].eq(0).all() and context[2:].eq(1).all()


def test_one_page_or_ratio_zero_leaves_self_attention_alone():
    hidden = torch.randn(4, 16, 8)
    assert consistent_context(hidden[:2], 1, 5, ON, "layer") is None
    assert consistent_context(hidden, 2, 5, ConsistencySettings(ratio=0.0), "layer") is None


def test_never_at_the_first_step_nor_outside_the_step_range():
    hidden = torch.randn(4, 16, 8)
    ranged = ConsistencySettings(ratio=0.5, early_probability=1.0, end_step=3)
    assert consistent_context(hidden, 2, 0, ON, "layer") is None
    assert consistent_context(hidden, 2, 3, ranged, "layer") is None
    assert consistent_context(hidden, 2, 2, ranged, "layer").shape == (4, 16 + 8, 8)


def test_the_sample_repeats_for_the_same_seed_and_changes_with_it():
    hidden = torch.randn(6, 64, 8)
    first, again = (consistent_context(hidden, 3, 4, ON, "layer") for _ in range(2))
    other = consistent_context(hidden, 3, 4, ConsistencySettings(ratio=0.5, early_probability=1.0, seed=1), "layer")
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_key_length_grows_by_one_plus_ratio_times_the_other_pages():
    assert key_length_factor(5, 0.5) == 3.0
    assert key_length_factor(1, 0.5) == 1.0


@pytest.mark.parametrize("settings, word", [
    (ConsistencySettings(ratio=1.5), "ratio"), (ConsistencySettings(ratio=float("nan")), "ratio"),
    (ConsistencySettings(ratio=0.5, start_step=-1), "start_step"),
    (ConsistencySettings(ratio=0.5, start_step=4, end_step=2), "end_step"),
])
def test_bad_settings_are_named(settings, word):
    with pytest.raises(MiniGPT5Error, match=word):
        settings.validate()


def _pixels(images):
    return np.stack([np.asarray(image) for image in images])


@pytest.fixture(scope="module")
def draw(tiny_model):
    generator = tiny_model.image_generator
    width = tiny_model.config.diffusion.cross_attention_dim
    positive = torch.randn(3, 77, width, generator=torch.Generator().manual_seed(0))
    negative = torch.zeros(1, 77, width)

    drawn = {}

    def draw(consistency=None, again=False):  # each setting drawn once per module: the tiny UNet is slow
        if again or consistency not in drawn:
            drawn[consistency] = _pixels(generator.render(positive, negative, steps=2, guidance=3.0, seed=1,
                                                          height=32, width=32, consistency=consistency))
        return drawn[consistency]
    return draw


def test_ratio_zero_draws_todays_pictures_byte_for_byte(draw):
    assert np.array_equal(draw(ConsistencySettings(ratio=0.0)), draw())


def test_consistency_changes_the_pictures_and_repeats_exactly(draw):
    assert not np.array_equal(draw(ON), draw())
    assert np.array_equal(draw(ON), draw(ON, again=True))


def test_the_unet_gets_its_own_processors_back(tiny_model, draw):
    before = tiny_model.image_generator.unet.attn_processors
    draw(ON)
    assert tiny_model.image_generator.unet.attn_processors == before
