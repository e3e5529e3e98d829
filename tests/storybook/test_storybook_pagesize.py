"""Page sizes, bleed, and which story pages land on which printed page for each layout."""

import pytest

from storybook import StorybookError
from storybook.layouts import plan_sheets
from storybook.pagesize import PageGeometry, parse_bleed, parse_size


def points(mm):
    return mm * 72 / 25.4


@pytest.mark.parametrize("text, points_wh", [
    ("a4", (595.3, 841.9)),
    ("A5", (419.5, 595.3)),
    ("letter", (612.0, 792.0)),
    ("8x8in", (576.0, 576.0)),
    ("8.5x8.5in", (612.0, 612.0)),
    ("6x9in", (432.0, 648.0)),
    ("150x150mm", (425.2, 425.2)),
    ("15cmx20cm", (425.2, 566.9)),
])
def test_page_size_in_points(text, points_wh):
    width, height = parse_size(text)
    assert (round(points(width), 1), round(points(height), 1)) == points_wh


@pytest.mark.parametrize("text", ["a3", "6x9", "6 by 9in", "x9in", "0x9in", "100x100in"])
def test_unknown_or_impossible_size_lists_the_accepted_forms(text):
    with pytest.raises(StorybookError, match=r"page size"):
        parse_size(text)


@pytest.mark.parametrize("text, mm", [("3mm", 3.0), ("0.125in", 3.175), ("0", 0.0), ("9pt", 3.175)])
def test_bleed_lengths(text, mm):
    assert parse_bleed(text) == pytest.approx(mm)


@pytest.mark.parametrize("text", ["3", "3 furlongs", "-3mm", "40mm"])
def test_bad_bleed_is_rejected(text):
    with pytest.raises(StorybookError, match=r"bleed"):
        parse_bleed(text)


def test_crop_marks_need_a_bleed_to_be_drawn_in():
    with pytest.raises(StorybookError, match=r"crop marks.*--bleed"):
        PageGeometry.parse("a5", "0", crop_marks=True)


def test_image_above_text_has_one_sheet_per_page_after_the_cover():
    sheets = plan_sheets(3, "image-above-text")
    assert [(s.kind, s.pages, s.number) for s in sheets] == [
        ("cover", (0,), 1), ("image-above-text", (0,), 2), ("image-above-text", (1,), 3), ("image-above-text", (2,), 4)]


def test_spread_puts_each_picture_on_a_left_hand_even_page():
    for cover in (True, False):
        sheets = plan_sheets(3, "spread", cover=cover)
        assert all(s.number % 2 == 0 for s in sheets if s.kind == "spread-image")
        assert all(s.number % 2 == 1 for s in sheets if s.kind == "spread-text")


def test_photo_story_puts_three_photos_on_a_page():
    sheets = plan_sheets(5, "photo-story", cover=False)
    assert [s.pages for s in sheets] == [(0, 1, 2), (3, 4)]


def test_cover_and_blank_pages_carry_no_page_number():
    sheets = plan_sheets(1, "spread", cover=False)
    assert [(s.kind, s.numbered) for s in sheets] == [("blank", False), ("spread-image", True), ("spread-text", True)]
    assert not any(s.numbered for s in plan_sheets(2, "full-bleed", page_numbers=False))


def test_unknown_layout_lists_the_layouts():
    with pytest.raises(StorybookError, match=r"unknown layout 'comic'.*image-above-text"):
        plan_sheets(2, "comic")
