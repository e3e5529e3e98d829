"""`make --consistency R`: the pages drawn together (StoryDiffusion), recorded in story.json; `redraw` of one
page draws the batch again beside the others' recorded seeds and keeps only that page's new picture."""

import json
import shutil
from pathlib import Path

import pytest

from storybook.cli import main
from storybook_helpers import files

pytest.importorskip("minigpt5_core.modeling.model", reason="minigpt5_core (the model library) is not importable")

MAKE = ["--prompt", "A red circle rolls.", "--pages", "3", "--seed", "5", "--steps", "2", "--formats", "pdf"]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "story.json").read_text())


@pytest.fixture(scope="module")
def made(tiny_model_dir, tmp_path_factory):
    """A 3-page book drawn together at consistency 0.5 (seeds 5, 6, 7), never changed by tests."""
    out = tmp_path_factory.mktemp("consistent") / "book"
    assert main(["make", "--model", str(tiny_model_dir), *MAKE, "--consistency", "0.5", "--out", str(out)]) == 0
    return out


@pytest.fixture
def book(made, tmp_path):
    return Path(shutil.copytree(made, tmp_path / "book"))


def test_the_ratio_is_recorded(made):
    assert manifest(made)["model"]["consistency"] == 0.5


def test_redraw_with_a_pages_own_seed_gives_back_its_picture(book, tiny_model_dir):
    before = files(book)
    page = manifest(book)["pages"][1]
    assert main(["redraw", str(book), "--page", "2", "--seed", str(page["seed"]), "--model", str(tiny_model_dir)]) == 0
    assert files(book)[page["image"]] == before[page["image"]]


def test_redraw_changes_only_that_page_and_records_its_seed(book, tiny_model_dir):
    before = files(book)
    assert main(["redraw", str(book), "--page", "2", "--seed", "99", "--model", str(tiny_model_dir)]) == 0
    after, pages = files(book), manifest(book)["pages"]
    assert after[pages[1]["image"]] != before[pages[1]["image"]] and pages[1]["seed"] == 99
    assert [after[p["image"]] for p in (pages[0], pages[2])] == [before[p["image"]] for p in (pages[0], pages[2])]


def test_redraw_refuses_when_another_page_lost_its_seed(book, tiny_model_dir, capsys):
    story = manifest(book)
    story["pages"][0]["seed"] = None
    (book / "story.json").write_text(json.dumps(story))
    assert main(["redraw", str(book), "--page", "2", "--seed", "1", "--model", str(tiny_model_dir)]) != 0
    assert "page 1 has no recorded voken features or seed" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1.5", "nan"])
def test_a_ratio_outside_0_to_1_is_refused_before_loading(value, capsys, tmp_path):
    assert main(["make", "--model", str(tmp_path / "none"), "--consistency", value, "--out", str(tmp_path / "o")]) != 0
    assert "consistency ratio must be a number from 0 (off) to 1" in capsys.readouterr().err
