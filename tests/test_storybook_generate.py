"""`make --model`: a new story written and drawn by a (tiny, random) MiniGPT-5, then printed."""

import json

import pypdf
import pytest
from PIL import Image

from storybook.cli import main

pytest.importorskip("minigpt5_core.model", reason="minigpt5_core (the model library) is not importable")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    folder = tmp_path_factory.mktemp("tiny-model")
    MiniGPT5.from_config(MiniGPT5Config.preset("tiny")).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def generated(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("generated") / "book"
    code = main(["make", "--model", str(model_dir), "--prompt", "A red circle rolls.", "--pages", "1",
                 "--seed", "5", "--out", str(out)])
    return code, out


def test_generated_book_is_written(generated):
    code, out = generated
    assert code == 0
    assert len(pypdf.PdfReader(out / "storybook.pdf").pages) == 2  # cover + one page


def test_manifest_records_seed_prompt_and_model(generated, model_dir):
    story = json.loads((generated[1] / "story.json").read_text())
    page = story["pages"][0]
    assert (page["seed"], page["prompt"]) == (5, "A red circle rolls.")
    assert story["model"]["name"] == model_dir.name
    assert story["model"]["checkpoint_hash"].startswith("sha256:")


def test_each_page_has_the_picture_the_model_drew(generated):
    story = json.loads((generated[1] / "story.json").read_text())
    with Image.open(generated[1] / story["pages"][0]["image"]) as picture:
        assert picture.size == (32, 32)  # the tiny preset's resolution


def test_folder_without_a_model_exits_2_with_the_library_message(tmp_path, capsys):
    (tmp_path / "not-a-model").mkdir()
    code = main(["make", "--model", str(tmp_path / "not-a-model"), "--out", str(tmp_path / "book")])
    err = capsys.readouterr().err
    assert code == 2 and "config.json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "book").exists()
