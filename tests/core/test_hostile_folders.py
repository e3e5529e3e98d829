"""Nothing of the user's is ever deleted: every folder writer replaces only its own kind of folder, and an
interrupted or killed run leaves the previous output as it was and no temporary folder behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from minigpt5_core import MiniGPT5Error
from minigpt5_core.io.folder import STAGING_MARKER
from storybook_helpers import run_make, story_folder


def temporary_folders(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if "-tmp-" in p.name)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def abandoned_staging(parent: Path, name: str, pid: int, host: str | None = None) -> Path:
    folder = parent / name
    folder.mkdir()
    (folder / "half-written.bin").write_bytes(b"\0" * 10)
    (folder / STAGING_MARKER).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname()}))
    return folder


# ---- model folders ------------------------------------------------------------------------------


def test_saving_a_model_over_a_folder_of_other_files_stops_and_keeps_them(tiny_model, tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.txt").write_text("four years of work")
    with pytest.raises(MiniGPT5Error, match=r"thesis holds files that are not part of a model folder \(thesis.txt\)"):
        tiny_model.save_pretrained(tmp_path / "thesis")
    assert (tmp_path / "thesis" / "thesis.txt").read_text() == "four years of work"
    assert temporary_folders(tmp_path) == []


def test_saving_a_model_over_a_plain_file_stops(tiny_model, tmp_path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(MiniGPT5Error, match="exists and is not a folder"):
        tiny_model.save_pretrained(tmp_path / "notes")
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_model_folder_is_replaced_by_a_new_save(tiny_model, tiny_model_dir, tmp_path):
    target = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (target / "model.safetensors").write_bytes(b"old")
    tiny_model.save_pretrained(target)
    assert (target / "model.safetensors").stat().st_size > 1000 and temporary_folders(tmp_path) == []


def test_save_tiny_demo_and_convert_refuse_a_folder_of_other_files_before_any_work(tmp_path, capsys):
    from minigpt5_core.__main__ import main as core_main
    from minigpt5_core.convert.converter import main as convert_main

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "thesis.txt").write_text("x")
    assert core_main(["save-tiny", "--out", str(tmp_path / "d")]) == 2
    assert core_main(["demo", "--out", str(tmp_path / "d")]) == 2
    missing = [str(tmp_path / "nope.ckpt")] * 5
    argv = ["--stage1", missing[0], "--vicuna", missing[1], "--eva-vit", missing[2], "--blip2", missing[3],
            "--minigpt4", missing[4], "--out", str(tmp_path / "d")]
    assert convert_main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("minigpt5_core")]
    assert len(errors) == 3 and all("thesis.txt" in line and "not replaced" in line for line in errors)
    assert (tmp_path / "d" / "thesis.txt").read_text() == "x"


def test_a_staging_folder_of_a_killed_save_is_removed_by_the_next_one(tiny_model, tmp_path):
    dead = abandoned_staging(tmp_path, ".model.minigpt5-tmp-dead", dead_pid())
    alive = abandoned_staging(tmp_path, ".model.minigpt5-tmp-alive", os.getppid())
    elsewhere = abandoned_staging(tmp_path, ".model.minigpt5-tmp-other-host", dead_pid(), host="another-host")
    unmarked = tmp_path / ".model.minigpt5-tmp-unmarked"
    unmarked.mkdir()
    tiny_model.save_pretrained(tmp_path / "model")
    assert not dead.exists() and alive.exists() and elsewhere.exists() and unmarked.exists()


# ---- book folders -------------------------------------------------------------------------------


def test_a_folder_with_an_invalid_story_json_is_not_a_book_and_is_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "story.json").write_text("{not json")
    (out / "thesis.txt").write_text("mine")
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", out)
    assert code == 2 and "is not a storybook folder" in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(out)) == ["story.json", "thesis.txt"]


def test_rendering_a_story_folder_in_place_keeps_unrelated_files(tmp_path, capsys):
    folder = story_folder(tmp_path / "s")
    (folder / "notes.txt").write_text("mine")
    code, _, err = run_make(capsys, "--manifest", folder, "--out", folder)
    assert code == 2 and "holds files that are not part of its book (notes.txt)" in err
    assert (folder / "notes.txt").read_text() == "mine" and not (folder / "storybook.pdf").exists()


def test_sigterm_during_make_leaves_the_previous_book_and_no_temporary_folder(tmp_path, capsys, monkeypatch):
    import storybook.book

    out = tmp_path / "book"
    assert run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(storybook.book, "write_html", terminated)
    handler = signal.getsignal(signal.SIGTERM)
    code, _, err = run_make(capsys, "--manifest", tmp_path / "s", "--out", out)
    assert code == 128 + signal.SIGTERM and "stopped by SIGTERM" in err and len(err.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert temporary_folders(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == handler  # the CLI's handler is only there while it runs


def test_the_next_make_removes_temporary_folders_a_killed_make_left(tmp_path, capsys):
    dead = abandoned_staging(tmp_path, ".book.storybook-tmp-dead", dead_pid())
    alive = abandoned_staging(tmp_path, ".book.storybook-tmp-alive", os.getppid())
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "book")
    assert code == 0, err
    assert not dead.exists() and alive.exists()


def test_evaluate_refuses_an_out_folder_of_other_files_before_evaluating(tmp_path, capsys):
    from minigpt5_core.evaluate.protocols import main as evaluate_main

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "paper.tex").write_text("mine")
    code = evaluate_main(["--model", "tiny", "--path", str(tmp_path / "missing.json"), "--out", str(tmp_path / "results")])
    assert code == 2 and "is not the --out of an earlier evaluation" in capsys.readouterr().err
    assert os.listdir(tmp_path / "results") == ["paper.tex"]


def test_a_previous_folder_left_aside_by_a_run_killed_mid_rename_is_put_back(tiny_model_dir, tmp_path):
    from minigpt5_core.io.folder import MODEL_STAGING_MARK, remove_abandoned_staging

    aside = abandoned_staging(tmp_path, f".model{MODEL_STAGING_MARK}old-x", dead_pid())
    shutil.copytree(tiny_model_dir, aside / "model")
    remove_abandoned_staging(tmp_path / "model", f".model{MODEL_STAGING_MARK}")
    assert (tmp_path / "model" / "config.json").is_file() and not aside.exists()
