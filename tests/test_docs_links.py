"""The manual stays navigable: every link of the README, docs/ and the node help pages (web/docs/) resolves,
and the README stays a front page."""

from __future__ import annotations

import pytest

from doc_links import REPO_ROOT, REPOSITORY, anchors, link_problem, links

HELP_PAGES = REPO_ROOT / "web" / "docs"  # shown inside ComfyUI's node library, where only full addresses work
PAGES = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"), *HELP_PAGES.glob("*.md")])
README_MAX_LINES = 220


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_of_the_page_resolves(page):
    written_in = None if page.parent == HELP_PAGES else page
    problems = [f"{url}: {why}" for url in links(page.read_text(encoding="utf-8"))
                if (why := link_problem(url, written_in))]
    assert problems == []


def test_every_page_of_the_manual_is_reachable_from_the_readme():
    seen, todo = set(), [(REPO_ROOT / "README.md").resolve()]
    while todo:
        page = todo.pop()
        if page in seen or page.suffix != ".md" or not page.is_file():
            continue
        seen.add(page)
        todo += [(page.parent / url.partition("#")[0]).resolve()
                 for url in links(page.read_text(encoding="utf-8")) if ":" not in url and not url.startswith("#")]
    assert sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md") if p.resolve() not in seen) == []


def test_the_readme_is_a_front_page_not_the_manual():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES


MODELS_PAGE = REPO_ROOT / "docs" / "models.md"


def test_the_checker_finds_headings_as_github_names_them():
    assert {"memory-tiers", "stable-diffusion-21-base-from-one-file"} <= anchors(MODELS_PAGE.read_text(encoding="utf-8"))
    assert link_problem("models.md#memory-tiers", MODELS_PAGE) is None
    assert link_problem(f"{REPOSITORY}/blob/main/docs/models.md#memory-tiers") is None


def test_the_checker_catches_a_missing_heading_a_missing_file_and_a_relative_help_link():
    assert link_problem("models.md#no-such-heading", MODELS_PAGE) == "docs/models.md has no heading #no-such-heading"
    assert link_problem("no-such-page.md", MODELS_PAGE) == "no such file in the repository"
    assert link_problem("../docs/models.md") == "not a full address"
