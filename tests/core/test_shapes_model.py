"""The bundled shapes-world model: it loads, it draws what it is asked for, and the judge reads pictures.

A regression anywhere in the pipeline (tokenizer, voken decoding, mapper, diffusers sampling,
checkpoint loading) shows up as a drop of the gen-task attribute accuracy on a small fixed sample.
"""

from __future__ import annotations

import pytest

from minigpt5_core.shapes import ShapesWorld, apply_narration
from minigpt5_core.shapes.__main__ import DEFAULT_JUDGE, DEFAULT_MODEL

needs_model = pytest.mark.skipif(not (DEFAULT_MODEL / "config.json").is_file(), reason="no bundled shapes model")


def test_narrations_of_every_story_replay_to_its_scenes():
    world = ShapesWorld(7)
    for index in range(200):
        scene = ()
        for step in world.story(index, steps=8):
            scene = apply_narration(scene, step.narration)
            assert scene == step.scene


def test_impossible_or_malformed_narrations_are_invalid():
    scene = ShapesWorld(0).story(0)[0].scene
    (thing,) = scene
    assert apply_narration(scene, f"The {thing.colour} {thing.shape} moves to the {thing.slot}.") is None
    assert apply_narration(scene, f"The {thing.colour} {thing.shape} turns {thing.colour}.") is None
    assert apply_narration(scene, f"The {thing.colour} {thing.shape} leaves.") is None  # the last one stays
    assert apply_narration(scene, "The purple circle moves to the left.") is None
    assert apply_narration(scene, "A dog appears.") is None


@needs_model
def test_judge_reads_ground_truth_pictures():
    from minigpt5_core.shapes import data
    from minigpt5_core.shapes.judge import Judge, attribute_accuracy

    scenes = [step.scene for i in range(20) for step in ShapesWorld(data.EVAL_SEED).story(i)]
    judge = Judge.load(DEFAULT_JUDGE)
    assert attribute_accuracy(judge.read([data.render(s, data.SIZE) for s in scenes]), scenes) >= 0.98


@needs_model
def test_shipped_model_draws_the_scene_of_the_gen_task():
    """Measured 0.78 on this sample (0.78 on 20 stories, 0.795 on 50; the issue's 0.8 is not reached
    yet). A broken voken -> mapper path scores about 0.4 (the no-stage1 and no-caption-loss
    ablations), so 0.7 catches it."""
    from minigpt5_core import MiniGPT5
    from minigpt5_core.shapes.evaluate import gen_accuracy
    from minigpt5_core.shapes.judge import Judge

    model = MiniGPT5.from_pretrained(DEFAULT_MODEL)
    accuracy = gen_accuracy(model, Judge.load(DEFAULT_JUDGE), range(8), seed=0)
    assert accuracy >= 0.7, f"gen attribute accuracy {accuracy:.3f} on 8 held-out stories x 5 steps"


def test_min_snr_gamma_zero_turns_the_loss_weighting_off(tiny_model):
    """gamma 0 = plain MSE; for epsilon prediction that equals min-SNR weighting with a gamma no SNR reaches."""
    import torch

    generator = tiny_model.image_generator
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    conditioning = torch.randn(2, 77, generator.unet.config.cross_attention_dim)
    with torch.no_grad():
        off = generator.ldm_loss(images, conditioning, min_snr_gamma=0, generator=torch.Generator().manual_seed(0))
        huge = generator.ldm_loss(images, conditioning, min_snr_gamma=1e30, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(off, huge)
