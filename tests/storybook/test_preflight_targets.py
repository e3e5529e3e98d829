"""Preflight per print target: each published rule a book breaks is a violation with its pages and the fix,
`--json` reports it and `make` exits 3; pixel art is said once, as intended."""

import json

import pytest
import weasyprint

from print_helpers import make_book, picture_story
from storybook.options import BookOptions
from storybook.preflight import PreflightReport
from storybook.preflight_targets import check_target
from storybook.targets import locale_paper

KDP = BookOptions(size="8.5x8.5in", target="kdp")


def _laid_out(css: str, body: str) -> weasyprint.Document:
    return weasyprint.HTML(string=f"<style>@page {{ size: 8.5in 8.5in; margin: 0; {css} }}</style>{body}").render()


def _violations(document, options=KDP) -> list:
    report = PreflightReport(page_count=len(document.pages))
    check_target(document, options, options.sheets(1), report)
    return report.violations


def test_text_inside_kdps_safe_zone_is_a_violation_naming_the_page_and_edge():
    document = _laid_out("bleed: 0.125in; } @page :right { bleed-left: 0; } @page :left { bleed-right: 0;",
                         '<p style="position: absolute; bottom: 2mm; left: 30mm; margin: 0">Too low</p>')
    [finding] = [f for f in _violations(document) if f.check == "safe-zone"]
    assert finding.pdf_page == 1
    assert "from the bottom trim edge; Amazon KDP's safe zone is 9.5 mm (0.375 in)" in finding.message


def test_text_a_frame_hides_does_not_count_against_the_safe_zone():
    document = _laid_out("bleed: 0.125in; } @page :right { bleed-left: 0; } @page :left { bleed-right: 0;",
                         '<div style="position: absolute; top: 30mm; left: 30mm; height: 10mm; overflow: hidden">'
                         '<p style="margin: 0; padding-top: 200mm">Cut off</p></div>')
    assert [f for f in _violations(document) if f.check == "safe-zone"] == []


def test_bleed_at_the_binding_edge_is_a_kdp_violation():
    document = _laid_out("bleed: 0.125in;", "<p>Hello</p>")
    [finding] = [f for f in _violations(document) if f.check == "bleed"]
    assert finding.pdf_page == 1 and finding.message.startswith("bleed on the left edge is 3.17 mm")


def test_fewer_pages_than_the_service_allows_is_a_violation():
    document = _laid_out("bleed: 0.125in; } @page :right { bleed-left: 0; } @page :left { bleed-right: 0;",
                         "<p>One page</p>")
    assert [f.message for f in _violations(document) if f.check == "page-count"] == [
        "1 pages: Amazon KDP needs at least 24 and an even count (add story pages; make pads with notes pages "
        "unless a layout option changed the count)"]


def test_photos_under_300_dpi_break_kdps_rule_once_with_pages_and_fix(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=2, pixels=512)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "kdp", "--size", "8.5x8.5in",
                     "--json") == 3
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] is False and report["target"] == "kdp"
    [finding] = [f for f in report["findings"] if f["check"] == "image-dpi"]
    assert finding["level"] == "violation"
    assert "on PDF pages 2, 3:" in finding["message"] and "--upscale MODEL_FILE" in finding["message"]
    assert "breaks 1 of Amazon KDP's rules" in err
    assert (tmp_path / "book" / "storybook.pdf").exists(), "the book is written, to be looked at"


def test_pixel_art_is_reported_once_as_intended_not_per_page(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=3, pixels=32)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--target", "kdp", "--json") == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["check"] for f in findings if f["check"] in ("image-dpi", "pixel-art")] == ["pixel-art"]


def test_screen_target_keeps_todays_warnings_and_exit_code(tmp_path, capsys):
    story = picture_story(tmp_path / "story", pages=1, pixels=512)
    assert make_book("--manifest", story, "--out", tmp_path / "book", "--json") == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {f["level"] for f in findings if f["check"] == "image-dpi"} == {"warning"}


@pytest.mark.parametrize("territory, paper", [("US", "letter"), ("CA", "letter"), ("DE", "a4"), (None, "a4")])
def test_home_paper_follows_the_locales_country(territory, paper):
    assert locale_paper(territory) == paper
