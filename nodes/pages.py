"""The page-texts format shared by MiniGPT5Story and SaveStorybook: a STRING with one page per line.

A plain STRING rather than a custom type, so that a story can also be typed or edited by hand (a multiline
text box, any string node) and viewed with stock text-preview nodes. Line i is the text of page i (the i-th
image of the batch). A page's own line breaks become spaces; an empty line is a page without text; empty
lines at the end are ignored (an editor's trailing newline must not add pages).
"""

from __future__ import annotations


def join_pages(texts: list[str]) -> str:
    return "\n".join(" ".join(t.split()) for t in texts)


def split_pages(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines
