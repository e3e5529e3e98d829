"""voken_forcing: ours ("turn-end") masks the inner vokens; "official" is the official sampler's forcing."""

from __future__ import annotations

import pytest
import torch

from minigpt5_core.errors import MiniGPT5Error
from minigpt5_core.modeling.generation import SamplingSettings


def first_step_scores(model, forcing: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The LLM's logits and the scores the sampler picks the first answer token from, for a forced picture
    (temperature 1, top-p 1, no repetition penalty: the scores are the logits but for the forcing)."""
    seen = []

    def pick(scores, temperature, generator):
        seen.append(scores.clone())
        return model.special_ids.eos

    session = model.start_session("a red square")
    session._pick = pick
    logits = session.last_logits[0].clone()
    settings = SamplingSettings(max_new_tokens=20, temperature=1.0, top_p=1.0, repetition_penalty=1.0,
                                force_image=True, voken_forcing=forcing)
    session.sample_turn(settings, torch.Generator().manual_seed(0))
    return logits, seen[0][0]


def test_turn_end_forcing_never_samples_inner_vokens_or_the_placeholder(tiny_model):
    _, scores = first_step_scores(tiny_model, "turn-end")
    ids = tiny_model.special_ids
    assert torch.isinf(scores[[*ids.vokens[1:], ids.image_placeholder]]).all()


def test_official_forcing_scores_img0_ten_times_the_best_and_masks_nothing(tiny_model):
    logits, scores = first_step_scores(tiny_model, "official")
    ids = tiny_model.special_ids
    assert torch.isfinite(scores[[*ids.vokens[1:], ids.image_placeholder]]).all()
    assert scores[ids.first_voken].item() == pytest.approx(10 * logits.max().item())
    others = [i for i in range(len(scores)) if i != ids.first_voken]
    assert torch.equal(scores[others], logits[others].to(scores.dtype))


def test_unknown_voken_forcing_is_one_clear_error():
    with pytest.raises(MiniGPT5Error, match="turn-end, official"):
        SamplingSettings(max_new_tokens=4, temperature=1.0, top_p=0.9, repetition_penalty=1.0,
                         voken_forcing="always").validate()
