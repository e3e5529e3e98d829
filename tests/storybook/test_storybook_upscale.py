"""`make --upscale MODEL_FILE`: every picture enlarged by a spandrel-loadable model before layout, recorded in
story.json, and applied again by `redraw`.

The model is a random-weight Real-ESRGAN-shaped file built here (tests/support/upscale_models.py), loaded by the
real spandrel; torchvision, which spandrel imports for architectures we do not use, is the test stub of
tests/support/torchvision_shim.py (no torchvision works with this machine's CPU torch).
"""

import builtins
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from storybook import StorybookError
from storybook.upscale import Tiling, Upscaler, tile_starts, upscale_array
from storybook_helpers import files, run_make, story_folder
from torchvision_shim import install_torchvision_shim
from upscale_models import write_tiny_esrgan

install_torchvision_shim()
pytest.importorskip("spandrel", reason="spandrel is not installed (make setup installs it with --no-deps)")


@pytest.fixture(scope="module")
def esrgan(tmp_path_factory):
    return write_tiny_esrgan(tmp_path_factory.mktemp("upscale_models") / "RealESRGAN_x4plus-tiny.pth")


@pytest.fixture(scope="module")
def upscaler(esrgan):
    return Upscaler.load(esrgan)


def manifest(folder):
    return json.loads((folder / "story.json").read_text())


def sizes(folder):
    return {p["image"]: Image.open(folder / p["image"]).size for p in manifest(folder)["pages"]}


def test_tiles_cover_the_side_and_overlap_by_at_least_the_overlap():
    starts = tile_starts(512, 256, 32)
    assert starts[0] == 0 and starts[-1] + 256 == 512
    assert all(b - a <= 256 - 32 for a, b in zip(starts, starts[1:]))
    assert tile_starts(200, 256, 32) == [0]


def test_tiled_blending_equals_enlarging_the_whole_picture_at_once():
    pixels = np.random.default_rng(0).random((300, 170, 3), dtype=np.float32)
    nearest = lambda tile: tile.repeat(4, axis=0).repeat(4, axis=1)  # noqa: E731  (shift-invariant, like a conv net)
    tiled = upscale_array(nearest, pixels, 4, Tiling(tile=64, overlap=16))
    np.testing.assert_allclose(tiled, nearest(pixels), atol=1e-5)


def test_a_real_esrgan_file_loads_with_its_name_hash_and_scale(upscaler, esrgan):
    info = upscaler.info
    assert (info.model, info.scale, info.architecture) == (esrgan.name, 4, "ESRGAN")
    assert info.sha256.startswith("sha256:") and len(info.sha256) == 7 + 64


def test_a_file_described_again_is_loaded_once_until_it_changes(esrgan, tmp_path, monkeypatch):
    from storybook import upscale

    copy = tmp_path / esrgan.name
    shutil.copy(esrgan, copy)
    loads, load = [], upscale._load_descriptor
    monkeypatch.setattr(upscale, "_load_descriptor", lambda path: loads.append(path) or load(path))
    first = upscale.describe(copy)
    assert upscale.describe(copy) == first and len(loads) == 1  # each ComfyUI save asks again: answered at once
    first.scale = 99
    assert upscale.describe(copy).scale == 4  # each caller gets its own copy
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert upscale.describe(copy).sha256 == first.sha256 and len(loads) == 2  # a changed file is read again


def test_a_picture_gets_four_times_the_pixels_each_way_and_keeps_its_alpha(upscaler):
    picture = Image.new("RGBA", (70, 40), (200, 30, 30, 128))
    result = upscaler.upscale(picture)
    assert result.size == (280, 160) and result.mode == "RGBA"
    assert result.getchannel("A").getextrema() == (128, 128)


def test_make_upscales_a_story_folder_and_records_the_model(tmp_path, capsys, esrgan):
    source = story_folder(tmp_path / "story", texts=("One.", "Two."))
    Image.new("RGB", (128, 128), (90, 140, 200)).save(source / "p1.png")
    code, _, err = run_make(capsys, "--manifest", source, "--out", tmp_path / "book", "--upscale", esrgan)
    assert code == 0, err
    book = manifest(tmp_path / "book")
    assert sizes(tmp_path / "book") == {"p1.png": (512, 512), "p2.png": (256, 192)}
    assert book["upscale"]["model"] == esrgan.name and book["upscale"]["scale"] == 4
    assert [p["provenance"]["upscaled_from"] for p in book["pages"]] == [[128, 128], [64, 48]]


@pytest.mark.slow
def test_a_512_px_story_becomes_2048_px(tmp_path, capsys, esrgan):
    source = story_folder(tmp_path / "story", texts=("Big.",))
    Image.new("RGB", (512, 512), (10, 120, 60)).save(source / "p1.png")
    code, _, err = run_make(capsys, "--manifest", source, "--out", tmp_path / "book", "--upscale", esrgan)
    assert code == 0, err
    assert sizes(tmp_path / "book") == {"p1.png": (2048, 2048)}


def test_preflight_names_upscaling_as_the_fix_for_a_picture_below_print_resolution(tmp_path, capsys):
    code, out, _ = run_make(capsys, "--manifest", story_folder(tmp_path / "story"), "--out", tmp_path / "book", "--json")
    findings = [f for f in json.loads(out)["findings"] if f["check"] == "image-dpi"]
    assert findings and all("make --upscale MODEL_FILE" in f["message"] for f in findings)


def test_a_book_already_upscaled_is_not_upscaled_twice(tmp_path, capsys, esrgan):
    run_make(capsys, "--manifest", story_folder(tmp_path / "story"), "--out", tmp_path / "book", "--upscale", esrgan)
    code, _, err = run_make(capsys, "--manifest", tmp_path / "book", "--out", tmp_path / "again", "--upscale", esrgan)
    assert code == 2 and "already upscaled 4x" in err and not (tmp_path / "again").exists()


def test_without_spandrel_the_error_says_what_to_install(tmp_path, capsys, esrgan, monkeypatch):
    real_import = builtins.__import__

    def no_spandrel(name, *args, **kwargs):
        if name == "spandrel":
            raise ModuleNotFoundError("No module named 'spandrel'", name="spandrel")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spandrel)
    code, _, err = run_make(capsys, "--manifest", story_folder(tmp_path / "story"), "--out", tmp_path / "book",
                            "--upscale", esrgan)
    assert code == 2 and err.count("\n") == 1
    assert "pip install 'minigpt5-storybook[upscale]'" in err


def test_a_file_that_is_no_upscale_model_is_named(tmp_path):
    import torch

    path = tmp_path / "notes.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(StorybookError, match="notes.pth: spandrel does not recognise"):
        Upscaler.load(path)


# ---- the bundled model's book, and redraw --------------------------------------------------------------------
@pytest.fixture(scope="module")
def upscaled_book(tmp_path_factory, esrgan):
    """A 2-page book from the bundled shapes-world model (32 px pictures), upscaled; never changed by tests."""
    from storybook.cli import main
    from storybook.generate import default_model_dir

    if default_model_dir() is None:
        pytest.fail("the bundled shapes model is missing from this install")
    out = tmp_path_factory.mktemp("upscaled") / "book"
    assert main(["make", "--pages", "2", "--seed", "5", "--out", str(out), "--upscale", str(esrgan)]) == 0
    return out


@pytest.fixture
def book(upscaled_book, tmp_path):
    return shutil.copytree(upscaled_book, tmp_path / "book")


def redraw(capsys, book, *args):
    from storybook.cli import main

    code = main(["redraw", str(book), *map(str, args)])
    return code, capsys.readouterr().err


def test_the_bundled_models_book_gets_four_times_the_pixels(upscaled_book, esrgan):
    assert sizes(upscaled_book) == {"page-001.png": (128, 128), "page-002.png": (128, 128)}  # drawn at 32 px
    assert manifest(upscaled_book)["upscale"]["model"] == esrgan.name


def test_redraw_upscales_the_new_picture_like_the_others(book, esrgan, capsys):
    before = files(book)
    code, err = redraw(capsys, book, "--page", 2, "--seed", 77, "--upscale", esrgan)
    assert code == 0, err
    after = files(book)
    assert after["page-002.png"] != before["page-002.png"] and after["page-001.png"] == before["page-001.png"]
    assert sizes(book) == {"page-001.png": (128, 128), "page-002.png": (128, 128)}
    assert manifest(book)["upscale"]["model"] == esrgan.name


def test_redraw_of_an_upscaled_book_asks_for_the_upscale_model(book, capsys):
    before = files(book)
    code, err = redraw(capsys, book, "--page", 1)
    assert code == 2 and f"pass --upscale PATH/{manifest(book)['upscale']['model']}" in err
    assert files(book) == before


def test_redraw_refuses_another_upscale_model(book, tmp_path, capsys):
    other = write_tiny_esrgan(tmp_path / "other.safetensors", seed=1)
    code, err = redraw(capsys, book, "--page", 1, "--upscale", other)
    assert code == 2 and "is a different file" in err
