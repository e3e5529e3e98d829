"""Every bad input gets one clear line: values are checked where they enter (library API and CLIs), and a
command line ends with exit 2 (bad input), 1 (internal error, --debug for the traceback) or 130 (Ctrl-C)."""

from __future__ import annotations

import errno
import json
import math
import shutil

import pytest
from PIL import Image

from minigpt5_core import MiniGPT5, MiniGPT5Error
from minigpt5_core.cli import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, run_cli
from storybook import StorybookError
from storybook_helpers import run_make, story_folder


# ---- the CLI helper: exit codes and one line ----------------------------------------------------


def failing(exc: BaseException):
    def body(argv):
        raise exc
    return body


@pytest.mark.parametrize("exc, code, words", [
    (MiniGPT5Error("the prompt is empty; write one"), EXIT_BAD_INPUT, "error: the prompt is empty"),
    (OSError(errno.ENOSPC, "No space left on device", "/out/model.safetensors"), EXIT_BAD_INPUT,
     "the disk is full (/out/model.safetensors); free some space"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted; the previous output is unchanged"),
    (ZeroDivisionError("division by zero"), EXIT_INTERNAL, "internal error: ZeroDivisionError: division by zero "
                                                           "(rerun with --debug"),
])
def test_every_way_a_command_ends_is_one_line_and_its_exit_code(capsys, exc, code, words):
    assert run_cli("prog", failing(exc), []) == code
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("prog: ") and words in err


def test_debug_shows_the_traceback_of_an_internal_error(capsys):
    with pytest.raises(ZeroDivisionError):
        run_cli("prog", failing(ZeroDivisionError("boom")), ["--debug"])


def test_a_message_with_characters_stderr_cannot_encode_is_still_one_line(capsys):
    assert run_cli("prog", failing(MiniGPT5Error("bad \udcff byte")), []) == EXIT_BAD_INPUT
    assert "bad \\udcff byte" in capsys.readouterr().err


def test_storybook_reports_a_full_disk_in_one_line_and_keeps_out(tmp_path, capsys, monkeypatch):
    import storybook.book

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storybook.book, "write_html", full_disk)
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "book")
    assert code == 2 and "the disk is full" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".book.storybook-lock", "s"]  # the lock stays (outdir)


def test_every_library_command_line_reports_a_bad_option_in_one_line(capsys):
    from minigpt5_core.__main__ import main as core_main
    from minigpt5_core.convert.converter import main as convert_main
    from minigpt5_core.data.check import check
    from minigpt5_core.evaluate.protocols import main as evaluate_main
    from minigpt5_core.shapes.__main__ import main as shapes_main
    from minigpt5_core.train.trainer import main as train_main

    for main in (core_main, convert_main, check, evaluate_main, shapes_main, train_main):
        assert main(["--no-such-option"]) == 2, main.__module__
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("minigpt5_core")]
    assert len(lines) == 6 and all("error:" in line and "--help" in line for line in lines)


def test_convert_rejects_a_shard_size_that_is_not_a_size(tmp_path, capsys):
    from minigpt5_core.convert.converter import main as convert_main

    files = [str(tmp_path / "missing.pth")] * 5
    argv = ["--stage1", files[0], "--vicuna", files[1], "--eva-vit", files[2], "--blip2", files[3],
            "--minigpt4", files[4], "--out", str(tmp_path / "out"), "--max-shard-size", "lots"]
    assert convert_main(argv) == 2
    assert "--max-shard-size 'lots' is not a positive size; write it like 4GB" in capsys.readouterr().err


# ---- sampling, pictures, seeds --------------------------------------------------------------------


@pytest.mark.parametrize("settings, problem", [
    ({"temperature": math.nan}, "temperature must be a finite number"),
    ({"top_p": math.inf}, "top_p must be a finite number"),
    ({"max_new_tokens": -1}, "max_new_tokens must be a whole number of at least 1"),
])
def test_sampling_settings_that_cannot_sample_are_refused(tiny_model, settings, problem):
    with pytest.raises(MiniGPT5Error, match=problem):
        tiny_model.generate("A fox.", **settings)


@pytest.mark.parametrize("options, problem", [
    ({"guidance": math.nan}, "guidance must be a finite number"),
    ({"steps": -1}, r"steps must be a whole number in 1\.\.1000"),
    ({"height": -8}, r"height must be a multiple of 8 in 8\.\.2048"),
    ({"width": 2**20}, r"width must be a multiple of 8 in 8\.\.2048"),
    ({"seed": 2**64}, "seed 18446744073709551616 must lie in"),
])
def test_picture_settings_outside_their_documented_range_are_refused(tiny_model, options, problem):
    result = tiny_model.generate("A fox.", force_image=True, max_new_tokens=12)
    with pytest.raises(MiniGPT5Error, match=problem):
        tiny_model.render_images(result, **options)


def test_a_story_whose_last_page_seed_overflows_fails_before_any_text(tiny_model):
    tokens = []
    with pytest.raises(MiniGPT5Error, match=r"seed 18446744073709551615 \(and the 1 that follow it"):
        tiny_model.story("A fox.", pages=2, seed=2**64 - 1, on_token=tokens.append)
    assert tokens == []


def test_storybook_checks_seed_and_picture_options_before_loading_a_model(tmp_path, capsys):
    code, _, err = run_make(capsys, "--model", tmp_path / "no-model", "--seed", 2**64 - 1, "--pages", 2)
    assert code == 2 and "--seed 18446744073709551615" in err
    code, _, err = run_make(capsys, "--model", tmp_path / "no-model", "--guidance", "nan")
    assert code == 2 and "guidance must be a finite number" in err


# ---- files a user hands in ------------------------------------------------------------------------


def test_a_config_value_of_the_wrong_kind_is_named(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["llm"]["hidden_size"] = "big"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(MiniGPT5Error, match="llm.hidden_size must be a whole number >= 0, got 'big'"):
        MiniGPT5.from_pretrained(folder)


def test_a_damaged_tokenizer_is_named_with_its_folder(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "m")
    (folder / "tokenizer" / "tokenizer.json").write_text("{ not json")
    with pytest.raises(MiniGPT5Error, match=r"the tokenizer in .*tokenizer cannot be read"):
        MiniGPT5.from_pretrained(folder)


def test_a_provenance_nested_too_deeply_is_one_line(tmp_path, capsys):
    folder = story_folder(tmp_path / "s")
    text = (folder / "story.json").read_text().replace('"provenance": {}', '"provenance": ' + '{"a": ' * 100_000
                                                       + "1" + "}" * 100_000)
    (folder / "story.json").write_text(text)
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")
    assert code == 2 and "nested too deeply" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("page, problem", [
    ({"text": "half a \ud800 character"}, "field 'text': character 8 ('\\ud800') is not valid Unicode"),
    ({"image": "p\u00001.png"}, "contains a control character"),
])
def test_unprintable_manifest_values_are_one_line(tmp_path, capsys, page, problem):
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s", **page), "--out", tmp_path / "book")
    assert code == 2 and problem in err and len(err.splitlines()) == 1
    assert not (tmp_path / "book").exists()


def test_a_title_that_was_not_utf8_on_the_command_line_is_one_line(tmp_path, capsys):
    title = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python receives a Latin-1 argument
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "b",
                            "--title", title)
    assert code == 2 and "--title: character 4" in err and "is not valid Unicode" in err


def test_a_lone_surrogate_in_page_text_from_the_library_is_a_storybook_error(tmp_path):
    from storybook import story_from_pages, write_book

    source = story_from_pages(["fine", "not \udc80 fine"], [Image.new("RGB", (32, 32))] * 2, title="T")
    with pytest.raises(StorybookError, match="page 2: field 'text'"):
        write_book(source, tmp_path / "book")
    assert not (tmp_path / "book").exists()
