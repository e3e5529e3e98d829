"""Pictures that fill their frame: square pixels only for pixel art (decided from the picture), --fit contain
shows all of a picture, --fit cover crops around the focal point and preflight says how much of which page."""

import pytest
from PIL import Image
from storybook_helpers import run_make, story_folder

from storybook import BookOptions, Page, Story, StoryInput, write_book
from storybook.pictures import pixel_art


@pytest.mark.parametrize("pixels, expected", [((32, 32), True), ((64, 48), True), ((256, 256), False),
                                              ((512, 512), False)])
def test_only_tiny_pictures_are_pixel_art(pixels, expected):
    assert pixel_art(pixels) is expected


@pytest.mark.parametrize("layout", ["picture-book", "image-above-text", "full-bleed", "spread", "photo-story"])
def test_a_256_px_photo_is_smoothed_in_every_layout(tmp_path, layout):
    story = Story(title="Photos", pages=[Page(text="A photo.", image="p.png")])
    book = write_book(StoryInput(story, {"p.png": Image.new("RGB", (256, 256), (90, 120, 200))}), tmp_path / "b",
                      BookOptions(layout=layout))
    assert "crisp" not in book.html.read_text().split("<body")[1]  # no picture gets the square-pixel class


def cropped(report):
    return {f.where: f.message for f in report.findings if f.check == "picture-cropped"}


def test_contain_crops_nothing(tmp_path, capsys):
    code, out, _ = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "b")
    assert code == 0 and "cropped" not in out


def test_cover_crops_and_preflight_says_how_much_of_which_page(tmp_path, capsys):
    # 64x48 pictures on an A5 picture-book page (a 148x148 mm frame): a quarter of the width is cut.
    code, out, err = run_make(capsys, "--manifest", story_folder(tmp_path / "s"), "--out", tmp_path / "b",
                              "--fit", "cover")
    assert code == 0, err
    line = next(line for line in out.splitlines() if "page 1 (PDF page 2)" in line and "cropped" in line)
    assert "25% of its width" in line


def test_the_focal_point_anchors_the_crop(tmp_path, capsys):
    folder = story_folder(tmp_path / "s", focus=[0.9, 0.5])
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "b", "--fit", "cover")
    assert code == 0, err
    assert "object-position: 90% 50%" in (tmp_path / "b" / "index.html").read_text()


def test_a_focal_point_outside_the_picture_is_refused_in_one_line(tmp_path, capsys):
    folder = story_folder(tmp_path / "s", focus=[1.5, 0.5])
    code, _, err = run_make(capsys, "--manifest", folder, "--out", tmp_path / "b")
    assert code == 2 and "field 'focus'" in err and len(err.splitlines()) == 1
