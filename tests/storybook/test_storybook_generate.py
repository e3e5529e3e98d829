"""`make --model`: a new story written and drawn by a (tiny, random) MiniGPT-5, then printed."""

import json

import pypdf
import pytest
from PIL import Image

from storybook.cli import main

pytest.importorskip("minigpt5_core.modeling.model", reason="minigpt5_core (the model library) is not importable")


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


# ---- --sd: Stable Diffusion from a local file or folder ------------------------------------------------------


@pytest.fixture(scope="module")
def model_without_sd(tmp_path_factory):
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    folder = tmp_path_factory.mktemp("no-sd") / "minigpt5-vist"
    model = MiniGPT5.from_config(MiniGPT5Config.preset("tiny"))
    model.image_generator = None  # like a converted official model: ComfyUI and --sd bring Stable Diffusion
    model.save_pretrained(folder)
    return folder


def test_sd_option_draws_with_a_single_checkpoint_file(model_without_sd, tmp_path, monkeypatch):
    import minigpt5_core.modeling.diffusion as diffusion
    from sd_single_file import write_config_folder, write_sd2_single_file

    sd, *_ = write_sd2_single_file(tmp_path / "v2-1_512-ema-pruned.safetensors", levels=1)
    # the file is SD2-shaped but cut to one UNet level: point the default configs at that shape
    monkeypatch.setattr(diffusion, "SD21_BASE_CONFIG", write_config_folder(tmp_path / "configs", levels=1))
    out = tmp_path / "book"
    code = main(["make", "--model", str(model_without_sd), "--sd", str(sd), "--prompt", "A fox.", "--pages", "1",
                 "--steps", "2", "--image-size", "64", "--out", str(out)])
    assert code == 0
    story = json.loads((out / "story.json").read_text())
    with Image.open(out / story["pages"][0]["image"]) as picture:
        assert picture.size == (64, 64)
    assert story["pages"][0]["provenance"]["stable_diffusion"] == "v2-1_512-ema-pruned.safetensors"


def test_sd_option_errors(model_without_sd, tmp_path, capsys):
    code = main(["make", "--model", str(model_without_sd), "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 2 and "has no sd/" in err and "--sd PATH" in err
    code = main(["make", "--model", str(model_without_sd), "--sd", str(tmp_path / "nope.safetensors"),
                 "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.safetensors does not exist" in err
    code = main(["make", "--manifest", str(tmp_path), "--sd", str(tmp_path), "--out", str(tmp_path / "c")])
    assert code == 2 and "--sd is for generating a story" in capsys.readouterr().err


def test_the_default_title_is_page_ones_first_sentence_which_the_cover_picture_shows(generated):
    from storybook.manifest import title_from

    story = json.loads((generated[1] / "story.json").read_text())
    assert story["title"] == (title_from(story["pages"][0]["text"]) or title_from("A red circle rolls."))
