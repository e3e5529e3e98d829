"""`python -m storybook make`: the forms users and checks rely on, exit codes, and what lands in OUT."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from storybook_helpers import files, run_make, story_folder

REPO = Path(__file__).resolve().parents[2]


def pets(tmp_path: Path) -> Path:
    """The two-page story most tests here render."""
    return story_folder(tmp_path / "story", ("A cat sat.", "A dog ran."))


def leftovers(parent: Path):
    return [p.name for p in parent.iterdir() if ".storybook-tmp-" in p.name]


def test_manifest_to_book_writes_everything_and_names_the_pdf_last(tmp_path, capsys):
    code, out, err = run_make(capsys, "--manifest", pets(tmp_path), "--out", tmp_path / "book")
    assert code == 0, err
    assert {p.name for p in (tmp_path / "book").iterdir()} == {"story.json", "p1.png", "p2.png", "index.html",
                                                              "storybook.pdf", "fonts", "backdrops"}
    assert out.splitlines()[-1] == f"PDF: {tmp_path / 'book' / 'storybook.pdf'}"
    assert out.startswith("preflight: ")


def test_json_flag_prints_one_json_object_ending_with_the_pdf(tmp_path, capsys):
    code, out, _ = run_make(capsys, "--manifest", pets(tmp_path), "--out", tmp_path / "book", "--json")
    data = json.loads(out)
    assert code == 0 and list(data)[-1] == "pdf"
    assert Path(data["pdf"]).is_file() and data["findings"]


def test_size_layout_and_bleed_options_reach_the_pdf(tmp_path, capsys):
    code, _, err = run_make(capsys, "--manifest", pets(tmp_path), "--out", tmp_path / "book",
                       "--size", "6x9in", "--bleed", "0.125in", "--layout", "spread", "--no-cover")
    assert code == 0, err
    reader = pypdf.PdfReader(tmp_path / "book" / "storybook.pdf")
    assert len(reader.pages) == 5  # blank page, then picture | text for each of the 2 pages
    media = reader.pages[0].mediabox
    assert (float(media.width), float(media.height)) == pytest.approx((6.25 * 72, 9.25 * 72), abs=0.01)


def test_vist_story_prints_its_pages_in_story_order(tmp_path, capsys):
    steps = [(2, "303", "Third."), (0, "301", "First."), (1, "302", "Second.")]
    annotations = [[{"story_id": "77", "worker_arranged_photo_order": order, "photo_flickr_id": pid,
                     "original_text": text, "text": text.lower(), "album_id": "1", "storylet_id": pid}]
                   for order, pid, text in steps]
    (tmp_path / "photos").mkdir()
    for _, pid, _ in steps:
        Image.new("RGB", (32, 32)).save(tmp_path / "photos" / f"{pid}.jpg")
    (tmp_path / "sis.json").write_text(json.dumps({"annotations": annotations}), encoding="utf-8")
    code, _, err = run_make(capsys, "--vist", tmp_path / "sis.json", "--images", tmp_path / "photos",
                            "--story-id", "77", "--out", tmp_path / "book", "--no-cover")
    assert code == 0, err
    reader = pypdf.PdfReader(tmp_path / "book" / "storybook.pdf")
    assert [page.extract_text().split()[0] for page in reader.pages] == ["First.", "Second.", "Third."]


def break_json(folder):
    (folder / "story.json").write_text('{"schema": 1, "title": ', encoding="utf-8")


def remove_picture(folder):
    (folder / "p2.png").unlink()


def escape_folder(folder):
    data = json.loads((folder / "story.json").read_text())
    data["pages"][0]["image"] = "../../secret.png"
    (folder / "story.json").write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("damage, extra, problem", [
    (break_json, [], r"story.json is not valid JSON: line 1"),
    (remove_picture, [], r"page 2: picture 'p2.png' not found"),
    (escape_folder, [], r"page 1: field 'image': '../../secret.png' leaves the story folder"),
    (None, ["--size", "a3"], r"unknown page size 'a3': use a4, a5, letter"),
    (None, ["--layout", "comic"], r"argument --layout: invalid choice: 'comic'"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, damage, extra, problem):
    folder = pets(tmp_path)
    if damage:
        damage(folder)
    code, out, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book", *extra)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("storybook: error: ")
    assert re.search(problem, err), err
    assert not (tmp_path / "book").exists() and leftovers(tmp_path) == []
    assert out == ""


def test_failed_run_leaves_the_previous_book_untouched(tmp_path, capsys):
    folder = pets(tmp_path)
    assert run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")[0] == 0
    before = files(tmp_path / "book")
    remove_picture(folder)
    assert run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")[0] == 2
    assert files(tmp_path / "book") == before
    assert leftovers(tmp_path) == []


def test_successful_run_replaces_a_previous_book(tmp_path, capsys):
    assert run_make(capsys, "--manifest", story_folder(tmp_path / "one", ["Old."]), "--out", tmp_path / "book")[0] == 0
    assert run_make(capsys, "--manifest", story_folder(tmp_path / "two", ["New.", "Newer."]), "--out",
               tmp_path / "book")[0] == 0
    assert [p["text"] for p in json.loads((tmp_path / "book" / "story.json").read_text())["pages"]] == ["New.",
                                                                                                        "Newer."]
    assert leftovers(tmp_path) == []


def test_a_book_can_be_rendered_again_in_place(tmp_path, capsys):
    folder = story_folder(tmp_path / "book", ("A cat sat.", "A dog ran."))
    code, _, err = run_make(capsys, "--manifest", folder, "--out", folder, "--size", "8x8in")
    assert code == 0, err
    media = pypdf.PdfReader(folder / "storybook.pdf").pages[0].mediabox
    assert (float(media.width), float(media.height)) == pytest.approx((576, 576), abs=0.01)
    assert (folder / "p1.png").is_file() and leftovers(tmp_path) == []


def test_folder_of_other_files_is_never_replaced(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"precious")
    code, _, err = run_make(capsys, "--manifest", pets(tmp_path), "--out", tmp_path / "photos")
    assert code == 2 and "is not a storybook folder" in err
    assert (tmp_path / "photos" / "holiday.jpg").read_bytes() == b"precious"


def test_no_arguments_without_a_bundled_model_explains_what_to_pass(tmp_path, capsys, monkeypatch):
    import storybook.cli

    monkeypatch.setattr(storybook.cli, "default_model_dir", lambda: None)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_make(capsys)
    assert code == 2
    assert "--manifest DIR" in err and "--vist FILE --images DIR" in err and "--model MODEL_DIR" in err


def test_two_inputs_at_once_are_refused(tmp_path, capsys):
    code, _, err = run_make(capsys, "--manifest", tmp_path, "--model", tmp_path)
    assert code == 2 and "give one input" in err


def test_help_lists_every_option(tmp_path):
    done = subprocess.run([sys.executable, "-m", "storybook", "make", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for option in ("--manifest", "--vist", "--images", "--image-map", "--story-id", "--model", "--prompt", "--pages",
                   "--seed", "--out", "--size", "--layout", "--bleed", "--crop-marks", "--no-cover",
                   "--no-page-numbers", "--title", "--author", "--json", "8.5x8.5in", "photo-story"):
        assert option in done.stdout, option


def test_no_arguments_makes_a_book_with_the_bundled_model(tmp_path, capsys, monkeypatch):
    from storybook.generate import DEFAULT_PAGES, default_model_dir

    assert default_model_dir() is not None, "the bundled shapes-world model is missing from minigpt5_core/assets"
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_make(capsys)
    assert code == 0
    book = tmp_path / "storybook-out"
    assert out.strip().splitlines()[-1].endswith("storybook.pdf")
    assert len(list(book.glob("page-*.png"))) == DEFAULT_PAGES
    assert (book / "index.html").is_file() and (book / "storybook.pdf").is_file()


def test_rerendering_a_book_keeps_its_own_options_unless_changed(tmp_path, capsys):
    book = tmp_path / "book"
    assert run_make(capsys, "--manifest", pets(tmp_path), "--out", book, "--layout", "spread",
               "--size", "8x8in")[0] == 0
    assert run_make(capsys, "--manifest", book, "--out", book)[0] == 0
    assert len(pypdf.PdfReader(book / "storybook.pdf").pages) == 5  # cover + 2 spreads, still 8x8in
    assert json.loads((book / "story.json").read_text())["book"]["size"] == "8x8in"
    assert run_make(capsys, "--manifest", book, "--out", book, "--layout", "image-above-text")[0] == 0
    assert json.loads((book / "story.json").read_text())["book"]["layout"] == "image-above-text"


def test_a_books_recorded_options_are_checked_like_command_line_options(tmp_path, capsys):
    folder = pets(tmp_path)
    story = json.loads((folder / "story.json").read_text())
    story["book"] = {"layout": "comic"}
    (folder / "story.json").write_text(json.dumps(story))
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")
    assert code == 2 and "unknown layout 'comic'" in err and len(err.splitlines()) == 1
    story["book"] = {"cover": "yes"}
    (folder / "story.json").write_text(json.dumps(story))
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "book")
    assert code == 2 and "field 'cover' has the wrong type" in err
