"""Checking Markdown links the way GitHub renders them: a link into this repository (relative, or its GitHub
address) must name a file of it, and a heading of that file when it has an #anchor."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/minigpt5-storybook/minigpt5-storybook"  # pyproject [project.urls]
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(markdown: str) -> str:
    """The text GitHub renders as Markdown: code blocks and code spans hold no links or headings."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def links(markdown: str) -> list[str]:
    return MARKDOWN_LINK.findall(prose(markdown))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's id; a repeated heading gets -1, -2, ... as on GitHub."""
    found: set[str] = set()
    for line in FENCE.sub("", markdown).splitlines():
        if re.match(r"#{1,6} ", line):
            slug = base = github_anchor(line.lstrip("#"))
            n = 0
            while slug in found:
                n += 1
                slug = f"{base}-{n}"
            found.add(slug)
    return found


def link_problem(url: str, page: Path | None = None) -> str | None:
    """Why `url`, a link in the Markdown file `page`, would not resolve (None: it does). Links out of the
    repository must be https pages; without a `page` (text shown outside GitHub) only full addresses work."""
    if url.startswith(REPOSITORY):
        rest, _, anchor = url[len(REPOSITORY):].partition("#")
        if rest.strip("/") == "":
            target = REPO_ROOT / "README.md"
        elif rest.startswith("/blob/main/"):
            target = REPO_ROOT / rest[len("/blob/main/"):]
        else:
            return "not a file of the repository's main branch"
    elif re.match(r"[a-z]+:", url):
        return None if url.startswith("https://") else "not https"
    elif page is None:
        return "not a full address"
    else:
        name, _, anchor = url.partition("#")
        target = (page.parent / name).resolve() if name else page
    if REPO_ROOT not in target.parents or not target.is_file():
        return "no such file in the repository"
    if anchor and anchor not in anchors(target.read_text(encoding="utf-8")):
        return f"{target.relative_to(REPO_ROOT)} has no heading #{anchor}"
    return None
