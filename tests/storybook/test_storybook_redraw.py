"""`redraw BOOK --page K`: one page's picture drawn again from the voken features the book keeps."""

import json
import shutil
from pathlib import Path

import pypdf
import pytest
from safetensors.numpy import load_file

from storybook.cli import main
from storybook_helpers import files

pytest.importorskip("minigpt5_core.modeling.model", reason="minigpt5_core (the model library) is not importable")


def manifest(folder: Path) -> dict:
    return json.loads((folder / "story.json").read_text())


@pytest.fixture(scope="module")
def made(tiny_model_dir, tmp_path_factory):
    """A 3-page book from the tiny model (seed 5: pages drawn with seeds 5, 6, 7), never changed by tests."""
    out = tmp_path_factory.mktemp("made") / "book"
    assert main(["make", "--model", str(tiny_model_dir), "--prompt", "A red circle rolls.", "--pages", "3",
                 "--seed", "5", "--layout", "spread", "--out", str(out)]) == 0
    return out


@pytest.fixture
def book(made, tmp_path):
    copy = tmp_path / "book"
    shutil.copytree(made, copy)
    return copy


def redraw(book, *args, capsys=None):
    code = main(["redraw", str(book), *map(str, args)])
    return code, capsys.readouterr() if capsys else None


def test_made_book_keeps_each_pages_features_and_the_sampler_settings(made, tiny_model_dir):
    story = manifest(made)
    stored = load_file(made / "features.safetensors")
    assert [p["features"] for p in story["pages"]] == ["page-001", "page-002", "page-003"]
    assert all(stored[p["features"]].shape == (8, 64) for p in story["pages"])  # tiny: 8 vokens of width 64
    assert story["model"]["checkpoint_hash"].startswith("sha256:")
    assert isinstance(story["model"]["steps"], int) and isinstance(story["model"]["guidance"], float)
    assert story["model"]["image_size"] == 32


def test_redraw_changes_only_the_page_asked_for_and_records_its_seed(book, tiny_model_dir, capsys):
    before = files(book)
    code, _ = redraw(book, "--page", 2, "--seed", 99, "--model", tiny_model_dir, capsys=capsys)
    assert code == 0
    after = files(book)
    assert after["page-002.png"] != before["page-002.png"]
    assert after["page-001.png"] == before["page-001.png"] and after["page-003.png"] == before["page-003.png"]
    page = manifest(book)["pages"][1]
    assert page["seed"] == 99
    assert page["provenance"]["redraws"][-1]["seed"] == 99 and page["provenance"]["redraws"][-1]["previous_seed"] == 6


def test_redraw_with_the_original_seed_gives_back_the_original_picture(book, tiny_model_dir):
    before = (book / "page-003.png").read_bytes()
    assert main(["redraw", str(book), "--page", "3", "--seed", "7", "--model", str(tiny_model_dir)]) == 0
    assert (book / "page-003.png").read_bytes() == before


def test_redraw_prints_the_book_as_it_was_printed(book, tiny_model_dir):
    assert main(["redraw", str(book), "--page", "1", "--seed", "1", "--model", str(tiny_model_dir)]) == 0
    assert manifest(book)["book"]["layout"] == "spread"
    assert len(pypdf.PdfReader(book / "storybook.pdf").pages) == 7  # cover + 3 spreads, as made


def test_several_pages_get_consecutive_seeds(book, tiny_model_dir):
    assert main(["redraw", str(book), "--page", "1", "--page", "3", "--seed", "40",
                 "--model", str(tiny_model_dir)]) == 0
    assert [p["seed"] for p in manifest(book)["pages"]] == [40, 6, 41]


def test_redraw_refuses_another_model(book, tmp_path, capsys):
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    other = tmp_path / "other-model"
    MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=1).save_pretrained(other)
    capsys.readouterr()
    before = files(book)
    code, (_, err) = redraw(book, "--page", 1, "--model", other, capsys=capsys)
    assert code == 2 and "different model" in err and len(err.splitlines()) == 1
    assert files(book) == before


def test_redraw_refuses_a_book_whose_pages_carry_no_features(tmp_path, tiny_model_dir, capsys):
    from PIL import Image

    from storybook import Page, Story, save_story

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(folder / "p1.png")
    save_story(Story(title="Photos", pages=[Page(text="A photo.", image="p1.png")]), folder)
    code, (_, err) = redraw(folder, "--page", 1, "--model", tiny_model_dir, capsys=capsys)
    assert code == 2 and "carries no voken features" in err


def test_redraw_refuses_a_page_the_book_does_not_have(book, tiny_model_dir, capsys):
    code, (_, err) = redraw(book, "--page", 4, "--model", tiny_model_dir, capsys=capsys)
    assert code == 2 and "has pages 1 to 3" in err


def test_edited_text_is_printed_after_make_manifest(book, capsys):
    story = manifest(book)
    story["pages"][0]["text"] = "A blue circle waits."
    (book / "story.json").write_text(json.dumps(story))
    assert main(["make", "--manifest", str(book), "--out", str(book)]) == 0
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(book / "storybook.pdf").pages)
    text = text.replace("\u00a0", " ")  # the last two words are joined by a no-break space (no lone last word)
    assert "A blue circle waits." in text
    assert (book / "features.safetensors").is_file() and manifest(book)["pages"][0]["features"] == "page-001"


def test_redraw_works_on_a_book_from_the_bundled_model(tmp_path):
    from storybook.generate import default_model_dir

    if default_model_dir() is None:
        pytest.fail("the bundled shapes model is missing from this install")
    out = tmp_path / "book"
    assert main(["make", "--pages", "2", "--out", str(out)]) == 0
    before = files(out)
    assert main(["redraw", str(out), "--page", "2", "--seed", "123"]) == 0
    after = files(out)
    assert after["page-002.png"] != before["page-002.png"] and after["page-001.png"] == before["page-001.png"]
    assert manifest(out)["pages"][1]["seed"] == 123
