"""Our model folder: save and load, symmetric like diffusers' `save_pretrained` / `from_pretrained`.

    config.json          MiniGPT5Config + format version + which peft adapter (if any) wraps the LLM
    model.safetensors    encoder.*, llm.*, mapper.* tensors
    tokenizer/           the LLM tokenizer, including the 9 MiniGPT-5 tokens
    sd/                  optional image generator (diffusers layout); ComfyUI brings its own SD instead

Loading checks everything a user can get wrong (missing files, wrong tokenizer, keys or shapes
that do not match the config) and says what to do about it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from . import stages
from .config import MiniGPT5Config
from .diffusion import ImageGenerator
from .errors import MiniGPT5Error

if TYPE_CHECKING:
    from .model import MiniGPT5

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
GENERATOR_DIR = "sd"


def _model_state(model: "MiniGPT5") -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("image_generator.")}


def save_pretrained(model: "MiniGPT5", folder: str | Path) -> None:
    """Write the model folder atomically: a reader never sees a half-written model."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        meta = {"format_version": FORMAT_VERSION, "adapter_stage": model.adapter_stage, "config": model.config.to_dict()}
        (staging / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in _model_state(model).items()}
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": "pt"})
        if model.tokenizer is not None:
            model.tokenizer.save_pretrained(staging / TOKENIZER_DIR)
        if model.image_generator is not None:
            model.image_generator.save(staging / GENERATOR_DIR)
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


def _read_config(folder: Path) -> tuple[MiniGPT5Config, int | None]:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise MiniGPT5Error(f"model folder {folder} does not exist; expected a folder written by MiniGPT5.save_pretrained")
    if not path.is_file():
        raise MiniGPT5Error(
            f"{folder} is not a MiniGPT-5 model folder: {CONFIG_FILE} is missing (expected {CONFIG_FILE}, "
            f"{WEIGHTS_FILE} and {TOKENIZER_DIR}/, as written by MiniGPT5.save_pretrained or the converter)"
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


def check_state(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: str) -> None:
    """Raise a readable error listing missing and unexpected keys and shape mismatches."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = [
        f"{k}: file {tuple(found[k].shape)} vs config {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:5])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:5])})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches ({'; '.join(mismatched[:5])})")
    if problems:
        raise MiniGPT5Error(
            f"the weights in {source} do not match the model's config: {'; '.join(problems)}. "
            "The config.json and the weights must come from the same model."
        )


def load_pretrained(
    cls: type["MiniGPT5"], folder: str | Path, *, device: str | torch.device | None = None,
    dtype: torch.dtype | None = None, with_image_generator: bool = True,
) -> "MiniGPT5":
    """Load a model folder. `with_image_generator=False` skips sd/ (ComfyUI brings its own SD)."""
    folder = Path(folder)
    config, adapter_stage = _read_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise MiniGPT5Error(f"{folder} has no {WEIGHTS_FILE}; the model folder is incomplete (re-save or re-convert it)")
    if not (folder / TOKENIZER_DIR).is_dir():
        raise MiniGPT5Error(f"{folder} has no {TOKENIZER_DIR}/ folder; MiniGPT-5 needs the tokenizer saved with its weights")
    tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
    generator = None
    if with_image_generator and (folder / GENERATOR_DIR).is_dir():
        generator = ImageGenerator.from_folder(folder / GENERATOR_DIR)
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as exc:
        raise MiniGPT5Error(f"{weights} cannot be read as safetensors ({exc}); the file is damaged — re-save or re-download it") from None
    model = cls(config, tokenizer, generator)
    if adapter_stage is not None:
        stages.wrap_llm(model, adapter_stage)
    check_state(_model_state(model), state, str(weights))
    model.load_state_dict(state, strict=False)
    model.eval()
    if dtype is not None:
        model.to(dtype=dtype)
    if device is not None:
        model.to(device)
    return model
