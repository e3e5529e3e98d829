"""What a MiniGPT-5 model folder and a folder of official files are: names only, no torch.

One place for these facts, read by the loader, the converter, the ComfyUI node (which fills a combo box
and must not import torch for it) and the storybook CLI.

A model folder (what `MiniGPT5.save_pretrained` and `python -m minigpt5_core.convert` write):

    config.json                       MiniGPT5Config + format version + which peft adapter wraps the LLM
    model.safetensors                 all tensors, or, for large models, shards (Hugging Face convention):
    model-00001-of-0000N.safetensors  ... + model.safetensors.index.json naming the shard of every tensor
    tokenizer/                        the LLM tokenizer with the 9 MiniGPT-5 tokens
    sd/                               optional: the image generator (diffusers layout)

A folder of official files (converted on first use by `LoadMiniGPT5`):

    stage1_cc3m.ckpt                  required
    stage2_vist.ckpt | stage2_mmdialog.ckpt   optional, at most one stage2_*.ckpt
    vicuna*/                          Vicuna v0 7B, Hugging Face layout (config.json, weights, tokenizer.model)
    eva_vit_g.pth, blip2_pretrained_flant5xxl.pth
    *minigpt4*.pth                    MiniGPT-4 7B aligned checkpoint (e.g. pretrained_minigpt4.pth)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MiniGPT5Error

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_DIR = "tokenizer"
GENERATOR_DIR = "sd"
CONVERSION_FILE = "conversion.json"  # what the converter made the folder from (its cache reads it)
_OWN_FILES = {CONFIG_FILE, WEIGHTS_FILE, WEIGHTS_INDEX, CONVERSION_FILE}
_OWN_DIRS = {TOKENIZER_DIR, GENERATOR_DIR}
_SHARD_NAME = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
MODEL_FOLDER = (f"a model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} (or model-*-of-*.safetensors shards with "
                f"{WEIGHTS_INDEX}) and {TOKENIZER_DIR}/, as written by MiniGPT5.save_pretrained or "
                "python -m minigpt5_core.convert")


STAGE1_FILE = "stage1_cc3m.ckpt"
OFFICIAL_LAYOUT = ("an official-files folder holds stage1_cc3m.ckpt, optionally one stage2_*.ckpt, a vicuna*/ folder "
                   "(Vicuna v0 7B, Hugging Face layout), eva_vit_g.pth, blip2_pretrained_flant5xxl.pth and "
                   "pretrained_minigpt4.pth")


def shard_name(index: int, count: int) -> str:
    """The file name of shard `index` (1-based) of `count`, as transformers and diffusers name them."""
    return f"model-{index:05d}-of-{count:05d}.safetensors"


def weight_files(folder: str | Path) -> list[Path]:
    """The folder's safetensors files: model.safetensors, or the shards its index names (checked to exist)."""
    folder = Path(folder)
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise MiniGPT5Error(f"{index} is damaged ({exc}); re-save or re-convert the model") from None
        bad = [n for n in names if not isinstance(n, str) or Path(n).name != n]
        if bad or not names:
            raise MiniGPT5Error(f"{index} names no shards or shards outside the folder ({bad[:3]}); re-convert the model")
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise MiniGPT5Error(f"{folder} lacks the weight shards {', '.join(missing)} named in {WEIGHTS_INDEX}; "
                                "copy the whole folder again")
        return [folder / n for n in names]
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    raise MiniGPT5Error(f"{folder} has no {WEIGHTS_FILE} (nor {WEIGHTS_INDEX} with shards); the model folder is "
                        "incomplete (re-save or re-convert it)")


def missing_parts(folder: str | Path) -> list[str]:
    """What a model folder lacks (empty when complete); a sharded folder is complete when its index is."""
    folder = Path(folder)
    missing = [] if (folder / CONFIG_FILE).is_file() else [CONFIG_FILE]
    if not (folder / WEIGHTS_FILE).is_file() and not (folder / WEIGHTS_INDEX).is_file():
        missing.append(f"{WEIGHTS_FILE} (or {WEIGHTS_INDEX} with its shards)")
    if not (folder / TOKENIZER_DIR).is_dir():
        missing.append(f"{TOKENIZER_DIR}/")
    return missing


def foreign_entries(folder: str | Path) -> list[str]:
    """Names in `folder` that no model folder holds: what replacing the folder would delete of someone else's."""
    foreign = []
    for entry in sorted(Path(folder).iterdir()):
        own = (entry.name in _OWN_DIRS and entry.is_dir() and not entry.is_symlink()) or (
            (entry.name in _OWN_FILES or _SHARD_NAME.fullmatch(entry.name)) and entry.is_file()
            and not entry.is_symlink())
        if not own:
            foreign.append(entry.name)
    return foreign


def is_model_folder(folder: str | Path) -> bool:
    """A folder with a config.json, weights and a tokenizer (shards are checked when loading)."""
    return Path(folder).is_dir() and not missing_parts(folder)


def check_model_folder(folder: str | Path) -> Path:
    """`folder` if it is a complete model folder, else a MiniGPT5Error naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MiniGPT5Error(f"model folder {folder} does not exist; {MODEL_FOLDER}")
    missing = missing_parts(folder)
    if missing:
        raise MiniGPT5Error(f"MiniGPT-5 model folder {folder} is incomplete: {', '.join(missing)} missing; {MODEL_FOLDER}")
    weight_files(folder)
    return folder


def is_official_folder(folder: str | Path) -> bool:
    """A folder of official files (not yet a converted model folder): it holds stage1_cc3m.ckpt."""
    folder = Path(folder)
    return (folder / STAGE1_FILE).is_file() and not (folder / CONFIG_FILE).is_file()


@dataclass
class OfficialPaths:
    """Where each official part lives. `tokenizer` defaults to the Vicuna folder."""

    stage1: Path
    vicuna: Path
    eva_vit: Path
    blip2: Path
    minigpt4: Path
    stage2: Path | None = None
    tokenizer: Path | None = None

    def __post_init__(self):
        for name in ("stage1", "vicuna", "eva_vit", "blip2", "minigpt4", "stage2", "tokenizer"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))

    @classmethod
    def from_folder(cls, folder: str | Path) -> "OfficialPaths":
        """The official files gathered in one folder (the layout in this module's docstring)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise MiniGPT5Error(f"{folder} is not a folder")

        def one(pattern: str, what: str, required: bool = True, dirs: bool = False) -> Path | None:
            found = sorted(p for p in folder.glob(pattern) if (p.is_dir() if dirs else p.is_file()))
            if len(found) > 1:
                raise MiniGPT5Error(f"{folder} holds several {what} ({', '.join(p.name for p in found)}); keep one")
            if not found and required:
                raise MiniGPT5Error(f"{folder} has no {what} ({pattern}); {OFFICIAL_LAYOUT}")
            return found[0] if found else None

        return cls(stage1=one(STAGE1_FILE, "stage-1 checkpoint"),
                   stage2=one("stage2_*.ckpt", "stage-2 checkpoints", required=False),
                   vicuna=one("vicuna*", "Vicuna folder", dirs=True),
                   eva_vit=one("eva_vit_g.pth", "EVA ViT-g file"),
                   blip2=one("blip2_pretrained_flant5xxl.pth", "BLIP-2 file"),
                   minigpt4=one("*minigpt4*.pth", "MiniGPT-4 checkpoint"))
