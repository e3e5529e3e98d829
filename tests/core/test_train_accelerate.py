"""Training CLI on accelerate: official defaults, two-process DDP and FSDP2 on CPU (gloo), exact resume."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from launch import accelerate_launch, run_or_dump_stacks

from minigpt5_core import MiniGPT5, MiniGPT5Config, MiniGPT5Error
from minigpt5_core.config import OptimizerConfig
from minigpt5_core.train.stages import trainable_parameters
from minigpt5_core.data.shapes_export import write_shapes_cc3m_tsv, write_shapes_vist_sis
from minigpt5_core.shapes import ShapesWorld
from minigpt5_core.train.sharding import check_sharding
from minigpt5_core.train.trainer import ShutdownStuck, TrainConfig, _end_training, main, weights_digest


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes-data")
    world = ShapesWorld(seed=0)
    return {"tsv": write_shapes_cc3m_tsv(world, 8, folder / "cc3m"),
            "sis": write_shapes_vist_sis(world, 2, folder / "vist"), "images": folder / "vist" / "images"}


def _config(tmp_path, shapes_data, name="run.json", **overrides) -> Path:
    cfg = {"model": "tiny", "stage": 1, "data": [{"format": "cc3m-tsv", "path": str(shapes_data["tsv"])}],
           "output_dir": str(tmp_path / "out"), "seed": 0, "per_device_batch_size": 1, "effective_batch_size": 2,
           "max_steps": 4, "mixed_precision": "no", "save_every": 2, "optimizer": {"warmup_steps": 1, "learning_rate": 1e-3}}
    cfg.update(overrides)
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return path


def _log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_defaults_are_the_official_hyper_parameters(tmp_path):
    cfg = TrainConfig(data=[{"format": "cc3m-tsv", "path": "x.tsv"}])
    assert (cfg.effective_batch_size, cfg.epochs, cfg.mixed_precision, cfg.max_grad_norm) == (48, 2, "bf16", None)
    assert cfg.optimiser(MiniGPT5Config()) == OptimizerConfig(learning_rate=2e-5, mapper_lr_multiplier=10.0,
                                                              weight_decay=0.01, adam_eps=1e-8, warmup_steps=1000)
    toml = tmp_path / "run.toml"
    toml.write_text('model = "tiny"\nstage = 2\n[optimizer]\nlearning_rate = 1e-4\n[[data]]\nformat = "vist-sis"\n'
                    'path = "s.json"\nimages = "img"\ntask = "gen"\n')
    loaded = TrainConfig.load(toml)
    assert loaded.stage == 2 and loaded.data[0]["task"] == "gen"
    assert loaded.optimiser(MiniGPT5Config()).learning_rate == 1e-4
    with pytest.raises(MiniGPT5Error, match="unknown training config fields"):
        TrainConfig.from_dict({"data": [{}], "learning_rat": 1.0})


def test_an_optimiser_setting_outside_optimizer_is_refused_with_where_it_belongs():
    with pytest.raises(MiniGPT5Error, match=r'learning_rate belongs under "optimizer"'):
        TrainConfig.from_dict({"data": [{}], "learning_rate": 1e-4})
    assert main(["--print-config"]) == 0


def test_effective_batch_must_divide(tmp_path, shapes_data, capsys):
    assert main(["--config", str(_config(tmp_path, shapes_data, effective_batch_size=3, per_device_batch_size=2))]) == 2
    assert "effective_batch_size 3" in capsys.readouterr().err


TWO_PROCESS_RUN = {"effective_batch_size": 4, "max_steps": 2, "save_every": 1}  # 1 per device x 2 x 2 accumulated


def _launch(tmp_path_factory, shapes_data, name: str, *mode: str) -> Path:
    """Train TWO_PROCESS_RUN in two CPU processes launched with `mode`; returns the output folder."""
    folder = tmp_path_factory.mktemp(name)
    config = _config(folder, shapes_data, **TWO_PROCESS_RUN)
    done = run_or_dump_stacks(accelerate_launch(*mode, "--config", str(config)), timeout=240, marker=str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "out"


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, shapes_data) -> Path:
    return _launch(tmp_path_factory, shapes_data, "ddp", "--multi_gpu", "-m", "minigpt5_core.train")


# accelerate selects FSDP for accelerator launches only; `fsdp_on_cpu` (tests/support) makes that one choice for
# CPU processes and runs the trainer unchanged: fully_shard, DTensor and the distributed checkpoints are real.
FSDP2 = ("--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP")


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory, shapes_data) -> Path:
    return _launch(tmp_path_factory, shapes_data, "fsdp", *FSDP2, "-m", "fsdp_on_cpu")


def _trained(folder: Path) -> dict:
    model = MiniGPT5.from_pretrained(folder)
    return trainable_parameters(model, 1)


def test_two_processes_ddp_on_cpu_end_with_identical_weights(ddp_run):
    log = _log(ddp_run)
    start, end = log[0], log[-1]
    assert start["processes"] == 2 and start["accumulation"] == 2 and not start["sharded"]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    first, second = end["weights_digest"]
    assert first == second  # both processes hold the same trained weights
    untrained = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)
    trainable_parameters(untrained, 1)
    assert first != weights_digest(untrained)  # and training did move them
    final = MiniGPT5.from_pretrained(ddp_run / "final")
    trainable_parameters(final, 1)
    assert weights_digest(final) == first


def test_fsdp_on_two_cpu_processes_holds_each_parameter_once_across_them(fsdp_run, ddp_run):
    start = _log(fsdp_run)[0]
    assert start["sharded"] and start["processes"] == 2
    whole = _log(ddp_run)[0]["parameters_per_process"][0]  # under DDP each process holds the whole model
    sd = sum(p.numel() for p in MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)
             .image_generator.parameters())  # kept whole on every process (sharding.keep_whole)
    held = start["parameters_per_process"]
    assert sum(held) == pytest.approx(whole + sd, rel=1e-3)  # the sharded rest split between the two
    assert all(abs(h - (whole + sd) / 2) < 0.05 * whole for h in held)
    checkpoint = fsdp_run / "checkpoints" / "step-2"
    for sharded in ("pytorch_model_fsdp_0", "optimizer_0"):  # accelerate's distributed checkpoints, one file a rank
        assert sorted(p.name for p in (checkpoint / sharded).glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]


def test_fsdp_trains_what_ddp_trains(fsdp_run, ddp_run):
    def curve(folder):
        return [r[key] for r in _log(folder) if "loss" in r for key in ("step", "loss", "text", "ldm", "caption")]

    assert curve(fsdp_run) == pytest.approx(curve(ddp_run), rel=1e-5)
    sharded, replicated = _trained(fsdp_run / "final"), _trained(ddp_run / "final")
    assert sharded.keys() == replicated.keys()
    for name, tensor in sharded.items():
        torch.testing.assert_close(tensor, replicated[name], rtol=1e-5, atol=1e-6, msg=name)
    digests = _log(fsdp_run)[-1]["weights_digest"]
    assert digests[0] == digests[1]  # each rank gathered the same whole tensors
    # A checkpoint's model/ folder is gathered too: an ordinary model folder that loads.
    assert _trained(fsdp_run / "checkpoints" / "step-1" / "model").keys() == sharded.keys()


@pytest.mark.slow  # a third two-process launch (13 s); make test keeps the DDP resume test
def test_an_fsdp_run_resumes_from_its_sharded_checkpoint(fsdp_run, tmp_path, shapes_data):
    config = _config(tmp_path, shapes_data, **TWO_PROCESS_RUN)
    resumed = tmp_path / "resumed"
    cmd = accelerate_launch(*FSDP2, "-m", "fsdp_on_cpu", "--config", str(config), "--output-dir", str(resumed),
                            "--resume", str(fsdp_run / "checkpoints" / "step-1"))
    done = run_or_dump_stacks(cmd, timeout=240, marker=str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    log = _log(resumed)
    assert log[0]["step"] == 1 and [r["step"] for r in log if "loss" in r] == [2]
    again = next(r for r in log if r.get("step") == 2 and "loss" in r)
    first = next(r for r in _log(fsdp_run) if r.get("step") == 2 and "loss" in r)
    assert again["loss"] == pytest.approx(first["loss"], rel=1e-6)
    assert log[-1]["weights_digest"] == _log(fsdp_run)[-1]["weights_digest"]


@pytest.mark.parametrize(("version", "quantize", "refusal"), [
    (1, "none", "runs under FSDP2 only .* launch with --fsdp_version 2"),
    (2, "nf4", "quantize: nf4 and FSDP do not go together"),
])
def test_fsdp_launches_the_trainer_cannot_run_are_refused_in_one_line(version, quantize, refusal):
    from accelerate.utils import DistributedType

    launch = SimpleNamespace(distributed_type=DistributedType.FSDP, is_fsdp2=version == 2)
    with pytest.raises(MiniGPT5Error, match=refusal):
        check_sharding(launch, quantize)
    check_sharding(SimpleNamespace(distributed_type=DistributedType.MULTI_CPU), quantize)  # DDP: no refusal


class _Accelerator:
    """Only what `_end_training` touches: the process count, the rank and a shutdown that may hang."""

    def __init__(self, num_processes: int, hang: bool):
        self.num_processes, self.process_index, self._hang, self.ended = num_processes, 1, hang, False

    def end_training(self):
        if self._hang:
            threading.Event().wait()
        self.ended = True


def test_a_process_group_teardown_that_hangs_is_abandoned_after_the_timeout():
    stuck = _Accelerator(num_processes=2, hang=True)
    with pytest.raises(ShutdownStuck, match="rank 1: .*destroy_process_group did not return within 0 s"):
        _end_training(stuck, timeout_s=0.2)
    fine = _Accelerator(num_processes=2, hang=False)
    _end_training(fine, timeout_s=5)
    assert fine.ended


def test_resume_continues_the_same_loss_curve(tmp_path, shapes_data):
    config = _config(tmp_path, shapes_data, max_steps=3)
    assert main(["--config", str(config)]) == 0
    full = _log(tmp_path / "out")
    checkpoint = tmp_path / "out" / "checkpoints" / "step-2"
    assert (checkpoint / "model" / "model.safetensors").is_file() and not (checkpoint / "model" / "sd").exists()
    assert (checkpoint / "optimizer.bin").is_file()

    def steps(log):
        return {r["step"]: (r["loss"], r["text"], r["ldm"], r["caption"], r["lr"]) for r in log if "loss" in r}

    assert main(["--config", str(config), "--resume", str(checkpoint), "--output-dir", str(tmp_path / "resumed")]) == 0
    resumed = _log(tmp_path / "resumed")
    assert resumed[0]["step"] == 2
    assert steps(resumed) == {k: v for k, v in steps(full).items() if k > 2}
    assert resumed[-1]["weights_digest"] == full[-1]["weights_digest"]

    # As after a crash between step 2 and 3: `--resume latest` in the same folder continues from step-2
    # and metrics.jsonl keeps one clean curve.
    shutil.rmtree(tmp_path / "out" / "checkpoints" / "step-3")
    assert main(["--config", str(config), "--resume", "latest"]) == 0
    again = _log(tmp_path / "out")
    assert [r.get("event", r.get("step")) for r in again] == ["start", 1, 2, "start", 3, "end"]
    assert steps(again) == steps(full)
    assert all(x == x for x, *_ in steps(full).values())  # finite


def test_stage2_vist_with_bf16_and_gradient_checkpointing(tmp_path, shapes_data):
    config = _config(tmp_path, shapes_data, stage=2, mixed_precision="bf16", gradient_checkpointing=True, max_steps=2,
                     effective_batch_size=1,
                     data=[{"format": "vist-sis", "path": str(shapes_data["sis"]), "images": str(shapes_data["images"]),
                            "task": "multimodal"}])
    assert main(["--config", str(config)]) == 0
    log = _log(tmp_path / "out")
    assert log[0]["samples"] == 10 and log[0]["mixed_precision"] == "bf16"
    assert all("caption" not in r for r in log if "loss" in r)  # no L_CAP in stage 2
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report[0]["read"] == 2 and report[0]["skipped"] == 0
    reloaded = MiniGPT5.from_pretrained(tmp_path / "out" / "final")
    assert reloaded.adapter_stage == 2
