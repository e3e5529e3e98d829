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
    """The features the story's pages name, read from `folder/features.safetensors`; {} if no page names any.

    The file is held to the rule pictures follow (it must not lead out of the book through a link), and only
    the tensors the pages name are read, one at a time, so a file padded with other tensors costs nothing.
    Values must be finite: a NaN would draw an all-black picture without any error."""
    names = {page.features for page in story.pages if page.features}
    if not names:
        return {}
    path = Path(folder) / FEATURES_NAME
    if not path.is_file():
        raise StorybookError(f"{folder / 'story.json'} names voken features, but {path} is missing "
                             "(copy the whole book folder, or remove the pages' \"features\" fields)")
    if not path.resolve().is_relative_to(Path(folder).resolve()):
        raise StorybookError(f"{path} leads outside the book folder {folder} (through a link); put the file itself "
                             "into the book")
    return {name: _finite(_read(path, name), name, path) for name in sorted(names)}


def _read(path: Path, name: str) -> np.ndarray:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as stored:
            if name not in stored.keys():
                raise StorybookError(f"{path} has no features {name!r}, which story.json names")
            return stored.get_tensor(name)
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise StorybookError(f"{path} is not a readable safetensors file ({e}); copy the book's file again") from None


def _finite(values: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.floating) or values.ndim != 2:
        raise StorybookError(f"{path}: features {name!r} are {values.dtype} of shape {values.shape}, not a "
                             "(vokens, hidden) float table; the file was not written by storybook")
    if not np.isfinite(values).all():
        raise StorybookError(f"{path}: features {name!r} hold NaN or infinite values, which would draw a blank "
                             "picture; the file is damaged (copy the book's file again, or make the book anew)")
    return values


def save_features(features: Mapping[str, np.ndarray], folder: Path) -> Path | None:
    """Write `folder/features.safetensors` (float32); nothing if there are no features."""
    if not features:
        return None
    from safetensors.numpy import save_file

    path = Path(folder) / FEATURES_NAME
    save_file({name: np.ascontiguousarray(value, dtype=np.float32) for name, value in features.items()}, str(path))
    path.chmod(0o644)  # a book folder is meant to be shared
    return path
