"""The shapes-world training pipeline runs end to end (a few steps per phase) and resumes."""

from __future__ import annotations

import pytest

from minigpt5_core.shapes.train import Steps, train_all, vision_labels
from minigpt5_core.shapes.world import Thing

FEW = Steps(judge=2, vae=2, generator=2, vision=2, lm=(2,), stage1=2, stage2=(2, 2))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes")
    train_all(out, variants=["full", "no-stage1"], steps=FEW, workers=2)  # the default: worker processes
    return out


@pytest.mark.slow
def test_every_phase_writes_its_folder(trained):
    for phase in ("tokenizer", "judge", "vae", "generator", "vision", "lm", "variants/full", "variants/no-stage1"):
        assert (trained / phase).is_dir(), phase
    assert not list(trained.rglob("*.partial"))


@pytest.mark.slow
def test_the_trained_variant_loads_and_draws(trained):
    from minigpt5_core import MiniGPT5

    model = MiniGPT5.from_pretrained(trained / "variants" / "full")
    assert model.adapter_stage is None  # adapters merged
    result = model.generate("a small red circle on the left", [], template=False, force_image=True,
                            temperature=0, max_new_tokens=12)
    (picture,) = model.render_images(result, steps=2)
    assert picture.size == (32, 32)


@pytest.mark.slow
def test_a_second_run_skips_finished_phases(trained, capsys):
    train_all(trained, variants=["full"], steps=FEW, workers=1)
    captured = capsys.readouterr()
    assert "variants/full exists, skipped" in (captured.out + captured.err).replace("\\", "/")


def test_vision_labels_name_shape_colour_and_size_per_slot():
    small, large = Thing("circle", "red", "small", "left"), Thing("circle", "red", "large", "right")
    labels = vision_labels((small, large))
    assert labels[1] == 0 and labels[0] != 0 and labels[2] == labels[0] + 1


@pytest.mark.parametrize("argv, problem", [(["--workers", "0"], "--workers must be at least 1"),
                                           (["--variants", "full,bigger"], "unknown variants")])
def test_train_command_rejects_bad_options_before_training(tmp_path, capsys, argv, problem):
    from minigpt5_core.shapes.__main__ import main

    assert main(["train", "--out", str(tmp_path / "out"), *argv]) == 2
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
