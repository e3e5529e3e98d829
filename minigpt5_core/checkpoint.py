"""Our model folder: save and load, symmetric like diffusers' `save_pretrained` / `from_pretrained`.

    config.json          MiniGPT5Config + format version + which peft adapter (if any) wraps the LLM
    model.safetensors    encoder.*, llm.*, mapper.* tensors; large models are sharded instead into
                         model-00001-of-0000N.safetensors ... + model.safetensors.index.json (HF convention)
    tokenizer/           the LLM tokenizer, including the 9 MiniGPT-5 tokens
    sd/                  optional image generator (diffusers layout); ComfyUI brings its own SD instead

Loading checks everything a user can get wrong (missing files, wrong tokenizer, keys or shapes
that do not match the config) and says what to do about it. It streams: the model is built with
its parameters on the meta device, then each file's tensors are memory-mapped, cast and ASSIGNED
(never copied into a second, randomly initialised model), so peak host RAM stays near the size of
the weights being loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import torch
from accelerate import init_empty_weights
from safetensors.torch import save_file
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
WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_DIR = "tokenizer"
GENERATOR_DIR = "sd"
DEFAULT_SHARD_BYTES = 4 * 2**30
PARTS = ("encoder", "llm", "mapper", "image_generator")

DeviceSpec = str | torch.device | Mapping[str, str | torch.device] | None


def _model_state(model: "MiniGPT5") -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("image_generator.")}


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


def write_weights(
    tensors: Iterable[tuple[str, torch.Tensor]], folder: Path, max_shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> list[str]:
    """Write (name, tensor) pairs as model.safetensors, or as shards + index when over `max_shard_bytes`.

    Tensors are consumed one at a time and each shard is freed once written, so a converter can
    stream a model far larger than memory through here. Returns the file names written.
    """
    shards: list[dict[str, str]] = []
    pending: dict[str, torch.Tensor] = {}
    pending_bytes = total = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        name = f".shard-{len(shards) + 1:05d}.safetensors"
        save_file(pending, folder / name, metadata={"format": "pt"})
        shards.append({key: name for key in pending})
        pending, pending_bytes = {}, 0

    for key, tensor in tensors:
        size = tensor.numel() * tensor.element_size()
        if pending and pending_bytes + size > max_shard_bytes:
            flush()
        pending[key] = tensor.detach().to("cpu").contiguous()
        pending_bytes += size
        total += size
    if pending or not shards:
        flush()
    if len(shards) == 1:
        os.replace(folder / next(iter(shards[0].values()), ".shard-00001.safetensors"), folder / WEIGHTS_FILE)
        return [WEIGHTS_FILE]
    names, weight_map = [], {}
    for i, shard in enumerate(shards, start=1):
        final = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        os.replace(folder / f".shard-{i:05d}.safetensors", folder / final)
        names.append(final)
        weight_map.update({key: final for key in shard})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / WEIGHTS_INDEX).write_text(json.dumps(index, indent=2))
    return names


def save_pretrained(model: "MiniGPT5", folder: str | Path, *, max_shard_bytes: int = DEFAULT_SHARD_BYTES) -> None:
    """Write the model folder atomically: a reader never sees a half-written model."""

    def fill(staging: Path) -> None:
        write_config(staging, model.config, model.adapter_stage)
        write_weights(_model_state(model).items(), staging, max_shard_bytes)
        if model.tokenizer is not None:
            model.tokenizer.save_pretrained(staging / TOKENIZER_DIR)
        if model.image_generator is not None:
            model.image_generator.save(staging / GENERATOR_DIR)

    write_folder(folder, fill)


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


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors files: model.safetensors, or the shards named by the index."""
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise MiniGPT5Error(f"{index} is damaged ({exc}); re-save or re-convert the model") from None
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise MiniGPT5Error(f"{folder} lacks the weight shards {', '.join(missing)} named in {WEIGHTS_INDEX}; copy the whole folder again")
        return [folder / n for n in names]
    if (folder / WEIGHTS_FILE).is_file():
        return [folder / WEIGHTS_FILE]
    raise MiniGPT5Error(
        f"{folder} has no {WEIGHTS_FILE} (nor {WEIGHTS_INDEX} with shards); the model folder is incomplete "
        "(re-save or re-convert it)"
    )


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class SafetensorsReader:
    """Reads a safetensors file tensor by tensor into freshly allocated (aligned) memory.

    Unlike a memory map, nothing stays resident after a tensor is handed over, so loading costs
    about one copy of the weights; and the tensors are ordinary aligned allocations, so a loaded
    model computes bit-identically to the one that was saved.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                header_len = int.from_bytes(f.read(8), "little")
                if not 2 <= header_len <= 100 * 2**20:
                    raise ValueError("bad header length")
                header = json.loads(f.read(header_len))
            header.pop("__metadata__", None)
            self.entries = {
                key: (_SAFETENSORS_DTYPES[e["dtype"]], tuple(e["shape"]), tuple(e["data_offsets"]))
                for key, e in header.items()
            }
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise MiniGPT5Error(f"{self.path} cannot be read as safetensors ({exc}); the file is damaged — re-save or re-download it") from None
        self.data_start = 8 + header_len
        size = self.path.stat().st_size
        if any(self.data_start + end > size for _, _, (_, end) in self.entries.values()):
            raise MiniGPT5Error(f"{self.path} is shorter than its header says; the file is truncated — re-save or re-download it")

    def keys(self) -> list[str]:
        return list(self.entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.entries[key][1]

    def tensors(self):
        """Yield (key, tensor) in file order, reading each straight into its own buffer."""
        with open(self.path, "rb") as f:
            for key, (dtype, shape, (start, end)) in sorted(self.entries.items(), key=lambda item: item[1][2][0]):
                tensor = torch.empty(shape, dtype=dtype)
                f.seek(self.data_start + start)
                if end > start and f.readinto(tensor.view(-1).view(torch.uint8).numpy()) != end - start:
                    raise MiniGPT5Error(f"{self.path} ended early while reading {key}; the file is truncated — re-download it")
                yield key, tensor


def _part_devices(device: DeviceSpec) -> dict[str, torch.device]:
    """One device per part; a mapping may name some of encoder / llm / mapper / image_generator (rest: cpu)."""
    if device is None or isinstance(device, (str, torch.device)):
        return {part: torch.device(device or "cpu") for part in PARTS}
    unknown = set(device) - set(PARTS)
    if unknown:
        raise MiniGPT5Error(f"device map names unknown parts {sorted(unknown)}; parts are {', '.join(PARTS)}")
    return {part: torch.device(device.get(part, "cpu")) for part in PARTS}


def _restore_unsaved_buffers(model: "MiniGPT5") -> None:
    """Re-create the non-persistent buffers that stayed on the meta device during a streaming load.

    Buffers that modules compute in __init__ (LLaMA's rotary `inv_freq`) were built for real, because
    only parameters go to meta; peft's trainable-token adapter keeps a copy of the original rows,
    which is derived from the loaded base matrix here.
    """
    from peft.tuners.trainable_tokens.layer import TrainableTokensLayer

    for module in model.modules():
        if isinstance(module, TrainableTokensLayer) and not module.tied_adapter:
            weight = module.get_base_layer().weight
            for name, rows in module.token_indices.items():
                module.trainable_tokens_original[name] = weight[rows].detach().clone()
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise MiniGPT5Error(f"internal error: {len(left)} tensors were not loaded ({', '.join(left[:5])}); please report this")


def check_generator(generator: ImageGenerator, config: MiniGPT5Config, source: str) -> None:
    """The mapper writes (77, d_model) conditioning: the UNet's cross-attention must be that wide."""
    width = generator.unet.config.cross_attention_dim
    if width != config.mapper.d_model:
        raise MiniGPT5Error(
            f"{source} has a UNet with cross-attention width {width}, but this model's mapper writes "
            f"{config.mapper.d_model}-wide conditioning; use the Stable Diffusion the model was trained with "
            "(SD 2.1-base for the official weights)"
        )


def load_pretrained(
    cls: type["MiniGPT5"], folder: str | Path, *, device: DeviceSpec = None,
    dtype: torch.dtype | None = None, with_image_generator: bool = True,
    image_generator: ImageGenerator | str | Path | None = None,
) -> "MiniGPT5":
    """Load a model folder. `with_image_generator=False` skips sd/ (ComfyUI brings its own SD).

    `device` is one device, or a mapping such as {"encoder": "cuda:1", "llm": "cuda:0", "mapper": "cuda:0"}
    (parts not named stay on the CPU). Each tensor goes straight to its device in `dtype`.
    `image_generator` replaces the folder's sd/: an `ImageGenerator`, or the path of a local Stable Diffusion
    2.1-base diffusers folder or single checkpoint file (e.g. v2-1_512-ema-pruned.safetensors).
    """
    folder = Path(folder)
    config, adapter_stage = _read_config(folder)
    files = weight_files(folder)
    if not (folder / TOKENIZER_DIR).is_dir():
        raise MiniGPT5Error(f"{folder} has no {TOKENIZER_DIR}/ folder; MiniGPT-5 needs the tokenizer saved with its weights")
    tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
    generator = None
    if image_generator is not None:
        generator = image_generator
        if not isinstance(generator, ImageGenerator):
            generator = ImageGenerator.from_local(image_generator, with_text_encoder=False)
        check_generator(generator, config, str(image_generator) if not isinstance(image_generator, ImageGenerator) else "the image generator")
    elif with_image_generator and (folder / GENERATOR_DIR).is_dir():
        generator = ImageGenerator.from_folder(folder / GENERATOR_DIR)
    readers = [SafetensorsReader(file) for file in files]
    found = {key: SimpleNamespace(shape=r.shape(key)) for r in readers for key in r.keys()}
    with init_empty_weights(include_buffers=False):
        model = cls(config, tokenizer, generator)
    if adapter_stage is not None:
        stages.wrap_llm(model, adapter_stage)
    source = str(files[0] if len(files) == 1 else folder / WEIGHTS_INDEX)
    check_state(_model_state(model), found, source)
    devices = _part_devices(device)
    batch: dict[str, torch.Tensor] = {}
    for reader in readers:
        for key, tensor in reader.tensors():
            target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
            batch[key] = tensor.to(devices[key.split(".", 1)[0]], target)
            if len(batch) >= 64:  # assigning in small batches: load_state_dict walks every module per call
                model.load_state_dict(batch, strict=False, assign=True)
                batch = {}
    model.load_state_dict(batch, strict=False, assign=True)
    del batch
    _restore_unsaved_buffers(model)
    model.eval()
    if dtype is not None:
        model.to(dtype=dtype)
    for part in PARTS:
        module = getattr(model, part)
        if module is not None:
            module.to(devices[part])
    return model
