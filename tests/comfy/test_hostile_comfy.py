"""SaveStorybook inside a real ComfyUI: bad page text is one clear message, and a machine without Pango still
gets the book (pictures, story.json, HTML) with the PDF reported as skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from storybook import StorybookError


def test_save_storybook_names_a_page_text_that_is_not_valid_unicode(comfy):
    save = comfy.node_classes["SaveStorybook"]()
    with pytest.raises(StorybookError, match=r"page 2: field 'text': character 5 \('\\udc80'\) is not valid Unicode"):
        save.save(torch.rand(2, 64, 64, 3), "fine\nnot \udc80 fine", "Title", "storybook/surrogate", "a5",
                  "image-above-text")


def test_save_storybook_without_pango_or_a_browser_writes_the_book_and_says_the_pdf_was_skipped(comfy, no_pango,
                                                                                                no_browser):
    save = comfy.node_classes["SaveStorybook"]()
    out = save.save(torch.rand(2, 64, 64, 3), "one\ntwo", "No Pango", "storybook/no-pango", "a5", "image-above-text")
    folder = Path(out["result"][0])
    assert (folder / "story.json").is_file() and (folder / "index.html").is_file()
    assert not (folder / "storybook.pdf").exists()
    assert any("no PDF written" in line and "libgobject-2.0-0" in line for line in out["ui"]["text"])
