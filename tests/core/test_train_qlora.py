"""QLoRA (`quantize: nf4`): stage 2 over a frozen 4-bit LLM learns, leaves the 4-bit base as it was, and saves an
ordinary model folder that loads and generates."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt5_core import MiniGPT5, MiniGPT5Error
from minigpt5_core.data.shapes_export import write_shapes_vist_sis
from minigpt5_core.io.weights import SafetensorsReader
from minigpt5_core.layout import weight_files
from minigpt5_core.shapes import ShapesWorld
from minigpt5_core.train.quantized import QuantizedBase
from minigpt5_core.train.trainer import TrainConfig, main

pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes (the dev extras install it)")
LONG = 30  # optimiser steps of the slow run whose loss must fall


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def _qlora(model: str, folder, steps: int):
    """`steps` optimiser steps of stage 2 in nf4 on two shapes stories, from `model` (a folder or a preset)."""
    sis = write_shapes_vist_sis(ShapesWorld(seed=0), 2, folder / "vist")
    cfg = {"model": model, "stage": 2, "quantize": "nf4", "output_dir": str(folder / "out"),
           "data": [{"format": "vist-sis", "path": str(sis), "images": str(folder / "vist" / "images"), "task": "gen"}],
           "per_device_batch_size": 1, "effective_batch_size": 1, "max_steps": steps, "mixed_precision": "no",
           "save_every": steps, "optimizer": {"warmup_steps": 1, "learning_rate": 3e-3}}
    (folder / "run.json").write_text(json.dumps(cfg))
    assert main(["--config", str(folder / "run.json")]) == 0
    return folder / "out"


@pytest.fixture(scope="module")
def qlora_run(tmp_path_factory):
    """Two steps from the tiny preset, seed 0: the same weights as the `tiny_model_dir` folder."""
    return _qlora("tiny", tmp_path_factory.mktemp("qlora"), steps=2)


def _log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_qlora_lowers_the_loss(tiny_model_dir, tmp_path):
    losses = [r["text"] for r in _log(_qlora(str(tiny_model_dir), tmp_path, steps=LONG)) if "loss" in r]
    assert len(losses) == LONG  # the LLM's text loss: what LoRA and the token rows learn (the LDM term is noisy)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, losses


def test_qlora_leaves_the_4bit_base_as_it_was_quantized(qlora_run, tiny_model_dir):
    start, end = _log(qlora_run)[0], _log(qlora_run)[-1]
    assert start["quantize"] == "nf4" and start["frozen_digest"] == end["frozen_digest"]
    fresh = QuantizedBase(MiniGPT5.from_pretrained(tiny_model_dir, quantize="nf4"), tiny_model_dir)
    assert len(fresh.quantized_layers(fresh.model)) == 7 * fresh.model.config.llm.num_layers  # q k v o gate up down
    assert fresh.frozen_digest() == end["frozen_digest"]


def test_qlora_saves_the_original_base_weights_and_a_model_that_generates(qlora_run, tiny_model_dir):
    def plain(folder):
        state = {}
        for file in weight_files(folder):
            state.update(SafetensorsReader(file).tensors())
        return {k.replace("base_model.model.", "").replace(".base_layer.", "."): v for k, v in state.items()}

    before, after = plain(tiny_model_dir), plain(qlora_run / "final")
    projections = [k for k in before if k.startswith("llm.model.layers.") and k.endswith("proj.weight")]
    assert projections and all(torch.equal(before[k], after[k]) for k in projections)  # full precision, unchanged
    assert any("lora_A" in k for k in after)
    model = MiniGPT5.from_pretrained(qlora_run / "final")
    assert model.adapter_stage == 2
    out = model.generate("A red square.", force_image=True, seed=0, max_new_tokens=12)
    assert out.num_images == 1 and len(model.render_images(out, seed=0, steps=1)) == 1


def test_a_qlora_run_resumes_from_its_checkpoint_over_the_same_4bit_base(qlora_run, tmp_path):
    cfg = json.loads((qlora_run.parent / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**cfg, "max_steps": 3}))
    checkpoint = qlora_run / "checkpoints" / "step-2"
    assert main(["--config", str(tmp_path / "run.json"), "--resume", str(checkpoint),
                 "--output-dir", str(tmp_path / "out")]) == 0
    log = _log(tmp_path / "out")
    assert log[0]["step"] == 2 and [r["step"] for r in log if "loss" in r] == [3]
    assert log[0]["frozen_digest"] == log[-1]["frozen_digest"] == _log(qlora_run)[0]["frozen_digest"]


def test_an_unknown_quantize_tier_is_refused_in_one_line():
    with pytest.raises(MiniGPT5Error, match="quantize must be one of none, int8, nf4, got 'fp4'"):
        TrainConfig.from_dict({"data": [{}], "quantize": "fp4"})
