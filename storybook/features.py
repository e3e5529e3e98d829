"""The voken features of a book's pages, kept beside story.json so that a picture can be redrawn.

A picture is a function of the page's voken features, the model, the seed and the sampler settings; the
features are what the LLM wrote, so keeping them (a few KB per page) lets `redraw` draw a page again in
seconds without running the LLM. They are stored with safetensors (no pickles) through its NumPy API, so
reading and writing a book stays torch-free; float32 holds the model's float16/bfloat16 features exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from storybook.errors import StorybookError
from storybook.manifest import Story

FEATURES_NAME = "features.safetensors"


def feature_key(page_number: int) -> str:
    """The tensor name of page `page_number`'s (1-based) features, as a new book names them."""
    return f"page-{page_number:03d}"


def load_features(folder: Path, story: Story) -> dict[str, np.ndarray]:
    """The features the story's pages name, read from `folder/features.safetensors`; {} if no page names any."""
    names = {page.features for page in story.pages if page.features}
    if not names:
        return {}
    path = Path(folder) / FEATURES_NAME
    if not path.is_file():
        raise StorybookError(f"{folder / 'story.json'} names voken features, but {path} is missing "
                             "(copy the whole book folder, or remove the pages' \"features\" fields)")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        stored = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise StorybookError(f"{path} is not a readable safetensors file ({e})") from None
    missing = sorted(names - set(stored))
    if missing:
        raise StorybookError(f"{path} has no features {missing[0]!r}, which story.json names")
    return {name: stored[name] for name in sorted(names)}


def save_features(features: Mapping[str, np.ndarray], folder: Path) -> Path | None:
    """Write `folder/features.safetensors` (float32); nothing if there are no features."""
    if not features:
        return None
    from safetensors.numpy import save_file

    path = Path(folder) / FEATURES_NAME
    save_file({name: np.ascontiguousarray(value, dtype=np.float32) for name, value in features.items()}, str(path))
    path.chmod(0o644)  # a book folder is meant to be shared
    return path
