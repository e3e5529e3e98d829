"""Our model folder on disk (names in `layout`): atomic writing, and reading its config.

Writing goes to a hidden staging folder next to the target and is moved into place at the end, so a reader
never sees a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..config import MiniGPT5Config
from ..errors import MiniGPT5Error
from ..layout import CONFIG_FILE, MODEL_FOLDER

FORMAT_VERSION = 1


def write_folder(folder: str | Path, fill: Callable[[Path], None]) -> None:
    """Let `fill(staging)` write a folder's content, then move it into place atomically.

    A reader never sees a half-written model; an existing folder is replaced completely.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        fill(staging)
        if folder.exists():
            backup = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(folder, backup)
            os.replace(staging, folder)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_config(folder: Path, config: MiniGPT5Config, adapter_stage: int | None) -> None:
    meta = {"format_version": FORMAT_VERSION, "adapter_stage": adapter_stage, "config": config.to_dict()}
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))


def read_config(folder: Path) -> tuple[MiniGPT5Config, int | None]:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise MiniGPT5Error(f"model folder {folder} does not exist; {MODEL_FOLDER}")
    if not path.is_file():
        raise MiniGPT5Error(
            f"{folder} is not a MiniGPT-5 model folder: {CONFIG_FILE} is missing ({MODEL_FOLDER})"
        )
    try:
        meta = json.loads(path.read_text())
        version = meta["format_version"]
        config = MiniGPT5Config.from_dict(meta["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise MiniGPT5Error(f"{path} is not a valid MiniGPT-5 config ({exc}); re-save or re-convert the model") from None
    if version != FORMAT_VERSION:
        raise MiniGPT5Error(f"{path} has format version {version}; this library reads version {FORMAT_VERSION}")
    return config, meta.get("adapter_stage")


