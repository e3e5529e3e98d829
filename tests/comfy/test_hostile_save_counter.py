"""SaveStorybook's numbered folders: the counter has no digit limit, and two runs never get the same folder."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from storybook import StorybookError

from storybook_helpers import files, story_folder


def book_folder(comfy):
    """The node's folder-picking function, from the pack as ComfyUI loaded it."""
    package = comfy.node_classes["SaveStorybook"].__module__
    return importlib.import_module(package)._book_folder


def test_two_runs_at_once_claim_different_folders(comfy):
    pick = book_folder(comfy)
    first, _ = pick("storybook/claimed")
    second, _ = pick("storybook/claimed")
    assert first != second and first.is_dir() and second.is_dir()


def test_the_counter_goes_on_past_99999_without_touching_earlier_books(comfy):
    output = Path(comfy.folder_paths.get_output_directory()) / "storybook"
    story_folder(output / "many_99999")
    earlier = files(story_folder(output / "many_100000"))
    out = comfy.node_classes["SaveStorybook"]().save(torch.rand(1, 64, 64, 3), "one", "Many", "storybook/many",
                                                     "a5", "image-above-text")
    assert Path(out["result"][0]).name == "many_100001"
    assert files(output / "many_100000") == earlier


def test_a_failed_save_leaves_no_empty_folder(comfy):
    output = Path(comfy.folder_paths.get_output_directory()) / "storybook"
    save = comfy.node_classes["SaveStorybook"]()
    with pytest.raises(StorybookError, match="no-such-size"):
        save.save(torch.rand(1, 64, 64, 3), "one", "Bad", "storybook/failing", "no-such-size", "image-above-text")
    assert not list(output.glob("failing_*"))
