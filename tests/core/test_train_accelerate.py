"""Training CLI on accelerate: official defaults, two-process DDP on CPU (gloo), exact resume."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from minigpt5_core import MiniGPT5, MiniGPT5Config, MiniGPT5Error
from minigpt5_core.config import OptimizerConfig
from minigpt5_core.train.stages import trainable_parameters
from minigpt5_core.data.shapes_export import write_shapes_cc3m_tsv, write_shapes_vist_sis
from minigpt5_core.shapes import ShapesWorld
from minigpt5_core.train.trainer import ShutdownStuck, TrainConfig, _end_training, main, weights_digest

ROOT = Path(__file__).resolve().parents[2]


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(marker: str) -> list[int]:
    """PIDs of the training processes (not the launcher) whose command line names `marker`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "minigpt5_core.train" in cmdline and "accelerate" not in cmdline:
            pids.append(int(proc.name))
    return pids


def _run_or_dump_stacks(cmd: list[str], env: dict, timeout: float, marker: str) -> subprocess.CompletedProcess:
    """Run a launch; if it hangs, ask each worker for its stacks (SIGUSR1, see train/trainer.py) before killing it,
    so that the failure says where it was stuck."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        workers = _workers(marker)
        for pid in workers:
            os.kill(pid, signal.SIGUSR1)
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in workers:  # torchrun starts each worker in its own session: killpg misses them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the launch did not finish in {timeout:.0f} s; stdout {out!r}; stderr ends with:\n{err[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


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


def test_two_processes_ddp_on_cpu_end_with_identical_weights(tmp_path, shapes_data):
    config = _config(tmp_path, shapes_data, effective_batch_size=4, max_steps=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    # accelerate 1.15: `launch --cpu --num_processes 2` starts one process (it expects MPI); --multi_gpu
    # starts two through torchrun, and the trainer tells accelerate to use the CPU (gloo) without a GPU.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "minigpt5_core.train", "--config", str(config)]
    done = _run_or_dump_stacks(cmd, env, timeout=240, marker=str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    log = _log(tmp_path / "out")
    start, end = log[0], log[-1]
    assert start["processes"] == 2 and start["accumulation"] == 2  # 4 = 1 per device x 2 processes x 2
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    first, second = end["weights_digest"]
    assert first == second  # both processes hold the same trained weights
    untrained = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)
    trainable_parameters(untrained, 1)
    assert first != weights_digest(untrained)  # and training did move them
    final = MiniGPT5.from_pretrained(tmp_path / "out" / "final")
    trainable_parameters(final, 1)
    assert weights_digest(final) == first


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
