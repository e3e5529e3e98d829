"""A finished folder replaces the previous one in a swap that no signal can split: whatever step a Ctrl-C or
SIGTERM lands on, afterwards the target holds either the whole previous folder or the whole new one."""

from __future__ import annotations

import os
import signal

import pytest

import minigpt5_core.io.folder as folder_module
from minigpt5_core.io.folder import staged_folder


def publish_interrupted_at(tmp_path, monkeypatch, step: int, *, exchange: bool) -> None:
    """Replace tmp_path/target (holding "old") with a folder holding "new", sending SIGINT to this process just
    before the `step`-th rename or exchange of the swap (0 = the first)."""
    target = tmp_path / "target"
    target.mkdir(exist_ok=True)
    (target / "file").write_text("old")
    calls = {"n": 0}

    def interrupting(real):
        def call(*args, **kwargs):
            if calls["n"] == step:
                os.kill(os.getpid(), signal.SIGINT)
            calls["n"] += 1
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(folder_module.os, "replace", interrupting(os.replace))
    monkeypatch.setattr(folder_module, "_exchange",
                        interrupting(folder_module._exchange if exchange else lambda first, second: False))
    try:
        with staged_folder(target, lambda folder: None, mark=".test-tmp-", how_to_proceed="-") as staging:
            (staging / "file").write_text("new")
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()


@pytest.mark.parametrize("step", [0, 1, 2])
def test_an_interrupt_between_the_two_renames_leaves_the_old_or_the_new_folder(tmp_path, monkeypatch, step):
    publish_interrupted_at(tmp_path, monkeypatch, step, exchange=False)
    assert (tmp_path / "target" / "file").read_text() in ("old", "new")
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


@pytest.mark.parametrize("step", [0, 1])
def test_an_interrupt_around_the_exchange_leaves_the_old_or_the_new_folder(tmp_path, monkeypatch, step):
    publish_interrupted_at(tmp_path, monkeypatch, step, exchange=True)
    assert (tmp_path / "target" / "file").read_text() in ("old", "new")
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


@pytest.mark.skipif(folder_module._renameat2() is None, reason="no renameat2 on this system")
def test_the_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    assert folder_module._exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not (tmp_path / "a" / "x").exists()


def test_signals_are_delivered_again_after_the_swap(tmp_path):
    (tmp_path / "target").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(tmp_path / "target", lambda folder: None, mark=".t-", how_to_proceed="-") as staging:
            (staging / "file").write_text("new")
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
