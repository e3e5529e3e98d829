"""The evaluation across processes and resumed: the same cases, seeds, pictures and metrics however it ran."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from launch import ROOT, accelerate_launch, launch_env
from test_evaluate_metrics import write_tiny_clip, write_tiny_inception

from minigpt5_core import MiniGPT5
from minigpt5_core.data.shapes_export import write_shapes_vist_sis
from minigpt5_core.evaluate.protocols import main
from minigpt5_core.evaluate.runs import share
from minigpt5_core.shapes import ShapesWorld

STORIES = 12


@pytest.fixture(scope="module")
def metric_models(tmp_path_factory):
    pytest.importorskip("scipy", reason="the eval extra (scipy, for FID) is not installed")
    folder = tmp_path_factory.mktemp("metric-models")
    return {"clip": write_tiny_clip(folder / "clip"), "inception": write_tiny_inception(folder / "inception.pt")}


def _vist(folder: Path, stories: int, metric_models: dict) -> dict:
    return {"sis": write_shapes_vist_sis(ShapesWorld(seed=1), stories, folder / "vist"),
            "images": folder / "vist" / "images", **metric_models}


@pytest.fixture(scope="module")
def vist(tmp_path_factory, metric_models):
    """The 12-story file of the slow tests (one case per story under the gill protocol)."""
    return _vist(tmp_path_factory.mktemp("vist-12"), STORIES, metric_models)


@pytest.fixture(scope="module")
def short_vist(tmp_path_factory, metric_models):
    """Three stories: enough to stop a run in the middle and resume it in the fast tests."""
    return _vist(tmp_path_factory.mktemp("vist-3"), 3, metric_models)


def _argv(vist, out: Path, *extra: str) -> list[str]:
    return ["--model", "tiny", "--protocol", "gill", "--data", "vist-sis", "--path", str(vist["sis"]),
            "--images", str(vist["images"]), "--clip", str(vist["clip"]), "--inception", str(vist["inception"]),
            "--steps", "1", "--max-new-tokens", "12", "--out", str(out), "--quiet", *extra]


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread, as the launched processes (OMP_NUM_THREADS=1): a float sum split over another number of
    threads may round one pixel differently, and the slow tests compare pictures byte for byte."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_process(vist, tmp_path_factory, one_thread):
    """The uninterrupted one-process run of the 12 stories that every other run must equal."""
    out = tmp_path_factory.mktemp("one") / "eval"
    assert main(_argv(vist, out)) == 0
    return out


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def _records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "cases").glob("*.json")}


def _pictures(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "images").glob("*.png")}


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "images").iterdir()}


def _assert_same_result(out: Path, reference: Path) -> None:
    assert _pictures(out) == _pictures(reference)  # byte for byte
    got, want = _metrics(out), _metrics(reference)
    assert got["samples_scored"] == want["samples_scored"] == STORIES
    assert got["metrics"].keys() == want["metrics"].keys() >= {"clip_i", "fid", "is"}
    assert got["metrics"] == pytest.approx(want["metrics"], rel=1e-6, abs=1e-9)


@pytest.fixture
def stop_at_render(monkeypatch):
    """`stop_at_render(n)`: the n-th picture from now raises KeyboardInterrupt (Ctrl-C in the middle of a case);
    returns the list of render calls, which the test may clear."""
    render, calls, stop = MiniGPT5.render_images, [], []

    def render_or_stop(self, *args, **kwargs):
        calls.append(1)
        if stop and len(calls) == stop[0]:
            stop.clear()
            raise KeyboardInterrupt
        return render(self, *args, **kwargs)

    monkeypatch.setattr(MiniGPT5, "render_images", render_or_stop)

    def arm(n: int) -> list:
        calls.clear()
        stop.append(n)
        return calls

    return arm


def _stopped_then_resumed(vist, out: Path, stop_at_render, done_before_stop: int) -> tuple[list, dict]:
    """Stop a run during case done_before_stop + 1, resume it; the resumed run's render calls and the stamps of the
    pictures the stopped run had written."""
    stop_at_render(done_before_stop + 1)
    assert main(_argv(vist, out)) == 130
    assert len(_records(out)) == done_before_stop and not (out / "metrics.json").exists()
    before = _stamps(out)
    calls = stop_at_render(0)
    assert main(_argv(vist, out)) == 0
    return calls, before


def test_cases_are_shared_round_robin_among_the_processes():
    assert share(range(7), 0, 2) == [0, 2, 4, 6] and share(range(7), 1, 2) == [1, 3, 5]
    assert share([3, 5, 8], 0, 1) == [3, 5, 8]


def test_a_stopped_run_resumes_making_only_the_missing_cases(short_vist, tmp_path, stop_at_render):
    out = tmp_path / "eval"
    calls, before = _stopped_then_resumed(short_vist, out, stop_at_render, done_before_stop=2)
    assert len(calls) == 1 and len(before) == 2
    assert all(_stamps(out)[name] == stamp for name, stamp in before.items())  # not written again
    assert _metrics(out)["samples_scored"] == 3
    for case_id, record in _records(out).items():
        assert record["seed"] == record["index"]  # --seed 0: case i is seeded with 0 + i, however many processes
        assert record["rank"] == 0 and record["pictures"] == [f"images/{case_id}.png"]


def test_a_folder_of_another_run_is_refused_with_the_reason(short_vist, tmp_path, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"protocol": "gill", "seed": 0}))
    assert main(_argv(short_vist, out, "--seed", "3")) == 2
    err = capsys.readouterr().err
    assert "holds an evaluation with another data, max_new_tokens, model, narration, seed, steps" in err
    assert "seed: there 0, here 3" in err and "resume it with the same settings, or choose another --out" in err
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]
    assert main(_argv(short_vist, tmp_path / "new", "--resume")) == 2
    assert "holds no earlier evaluation" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(vist, one_process, tmp_path, stop_at_render):
    calls, _ = _stopped_then_resumed(vist, tmp_path / "eval", stop_at_render, done_before_stop=5)
    assert len(calls) == STORIES - 5
    _assert_same_result(tmp_path / "eval", one_process)


@pytest.mark.slow
def test_two_processes_give_the_one_process_result_each_making_half(vist, one_process, tmp_path):
    out = tmp_path / "eval"
    # Two CPU processes through torchrun (gloo): see tests/support/launch.py for why --multi_gpu.
    cmd = accelerate_launch("--multi_gpu", "-m", "minigpt5_core.evaluate", *_argv(vist, out))
    done = subprocess.run(cmd, cwd=ROOT, env=launch_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [r["rank"] for r in _records(out).values()]
    assert sorted(ranks) == [0] * (STORIES // 2) + [1] * (STORIES // 2)
    _assert_same_result(out, one_process)
    assert done.stdout.count("| protocol") == 1  # the main process alone scores and reports
