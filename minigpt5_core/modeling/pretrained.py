"""`save_pretrained` / `from_pretrained` as a mixin of the composed model: symmetric, like diffusers' `ModelMixin`
(file names in `layout`). The mixin knows the parts by name (encoder, llm, mapper, image_generator), never the
class that composes them, so nothing here imports `model.py`.

Loading checks everything a user can get wrong (missing files, wrong tokenizer, keys or shapes that do not
match the config) and says what to do about it. It streams: the model is built with its parameters on the
meta device, then each file's tensors are read, cast and ASSIGNED (never copied into a second, randomly
initialised model), so peak host RAM stays near the size of the weights being loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import torch
from accelerate import init_empty_weights
from transformers import AutoTokenizer

from ..config import MiniGPT5Config, implied_weight_bytes
from ..errors import MiniGPT5Error
from ..io.folder import read_config, write_config, write_folder
from ..io.weights import DEFAULT_SHARD_BYTES, check_state, open_shards, write_weights
from ..layout import CONFIG_FILE, GENERATOR_DIR, TOKENIZER_DIR, WEIGHTS_INDEX, weight_files
from .diffusion import ImageGenerator
from .quantize import LLMQuantizer

PARTS = ("encoder", "llm", "mapper", "image_generator")

DeviceSpec = str | torch.device | Mapping[str, str | torch.device] | None
Model = TypeVar("Model", bound="PretrainedMixin")


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What a model folder stores: every tensor but the image generator's (it is saved as its own sd/ folder)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("image_generator.")}


def _check_size(config: MiniGPT5Config, files: list[Path], folder: Path) -> None:
    """Refuse a config.json that describes a larger model than the weight files hold, before building it."""
    implied = implied_weight_bytes(config)
    held = sum(file.stat().st_size for file in files)
    if sum(implied.values()) > held:
        part = max(implied, key=implied.get)
        raise MiniGPT5Error(
            f"{folder / CONFIG_FILE} describes a model of at least {sum(implied.values()) / 2**20:,.0f} MiB "
            f"({part}: {implied[part] / 2**20:,.0f} MiB), but its weight files hold {held / 2**20:,.0f} MiB: the "
            f"sizes in its '{part}' section do not belong to these weights; re-save or re-convert the model")


def _part_devices(device: DeviceSpec) -> dict[str, torch.device]:
    """One device per part; a mapping may name some of encoder / llm / mapper / image_generator (rest: cpu)."""
    if device is None or isinstance(device, (str, torch.device)):
        return {part: torch.device(device or "cpu") for part in PARTS}
    unknown = set(device) - set(PARTS)
    if unknown:
        raise MiniGPT5Error(f"device map names unknown parts {sorted(unknown)}; parts are {', '.join(PARTS)}")
    return {part: torch.device(device.get(part, "cpu")) for part in PARTS}


def _restore_unsaved_buffers(model: torch.nn.Module) -> None:
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


class PretrainedMixin:
    """Saving and loading of a model made of the parts in PARTS, with `config`, `tokenizer`, `adapter_stage`
    and `wrap_adapter(stage)`; the class is built as `cls(config, tokenizer, image_generator)`."""

    def save_pretrained(self, folder: str | Path, *, max_shard_bytes: int = DEFAULT_SHARD_BYTES,
                        state: Mapping[str, torch.Tensor] | None = None) -> None:
        """Write config.json, the weights (sharded above `max_shard_bytes`), tokenizer/ and (if present) sd/ into
        `folder`, atomically: a reader never sees a half-written model.

        `state` replaces the model's own tensors (`model_state`) when this process holds only shards of them: a
        model sharded by FSDP is saved from its gathered full state dict."""

        def fill(staging: Path) -> None:
            write_config(staging, self.config, self.adapter_stage)
            tensors = model_state(self) if state is None else {
                k: v for k, v in state.items() if not k.startswith("image_generator.")}
            write_weights(tensors.items(), staging, max_shard_bytes)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(staging / TOKENIZER_DIR)
            if self.image_generator is not None:
                self.image_generator.save(staging / GENERATOR_DIR)

        write_folder(folder, fill)

    @classmethod
    def from_pretrained(cls: type[Model], folder: str | Path, **options) -> Model:
        """Load a folder written by `save_pretrained`; `load_pretrained` documents the options."""
        return load_pretrained(cls, folder, **options)


def load_pretrained(
    cls: type[Model], folder: str | Path, *, device: DeviceSpec = None,
    dtype: torch.dtype | None = None, with_image_generator: bool = True,
    image_generator: ImageGenerator | str | Path | None = None, quantize: str = "none",
) -> Model:
    """Load a model folder. `with_image_generator=False` skips sd/ (ComfyUI brings its own SD).

    `device` is one device, or a mapping such as {"encoder": "cuda:1", "llm": "cuda:0", "mapper": "cuda:0"}
    (parts not named stay on the CPU). Each tensor goes straight to its device in `dtype`.
    `image_generator` replaces the folder's sd/: an `ImageGenerator`, or the path of a local Stable Diffusion
    2.1-base diffusers folder or single checkpoint file (e.g. v2-1_512-ema-pruned.safetensors).
    `quantize` ("none", "int8", "nf4": `quantize.QUANTIZE_TIERS`) stores the LLM's linear layers in bitsandbytes
    8-bit or 4-bit as they stream in (nf4 computes in `dtype`); the vision tower, mapper, embeddings and
    lm_head keep `dtype`. Nothing quantized is ever written to disk: the folder stays the bf16/fp16 one.
    """
    quantizer = LLMQuantizer(quantize, dtype or torch.float32)
    folder = Path(folder)
    config, adapter_stage = read_config(folder)
    files = weight_files(folder)
    _check_size(config, files, folder)
    if not (folder / TOKENIZER_DIR).is_dir():
        raise MiniGPT5Error(f"{folder} has no {TOKENIZER_DIR}/ folder; MiniGPT-5 needs the tokenizer saved with its weights")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_DIR, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged tokenizer.json raises tokenizers' own Exception type
        raise MiniGPT5Error(f"the tokenizer in {folder / TOKENIZER_DIR} cannot be read ({type(exc).__name__}: "
                            f"{str(exc)[:200]}); copy the model folder again or re-save it") from None
    generator = None
    if image_generator is not None:
        generator = image_generator
        if not isinstance(generator, ImageGenerator):
            generator = ImageGenerator.from_local(image_generator, with_text_encoder=False)
        check_generator(generator, config, str(image_generator) if not isinstance(image_generator, ImageGenerator) else "the image generator")
    elif with_image_generator and (folder / GENERATOR_DIR).is_dir():
        generator = ImageGenerator.from_folder(folder / GENERATOR_DIR)
    readers = open_shards(files)
    found = {key: SimpleNamespace(shape=r.shape(key)) for r in readers for key in r.keys()}
    with init_empty_weights(include_buffers=False):
        model = cls(config, tokenizer, generator)
    quantizer.prepare(model.llm)
    if adapter_stage is not None:
        model.wrap_adapter(adapter_stage)
    source = str(files[0] if len(files) == 1 else folder / WEIGHTS_INDEX)
    check_state(model_state(model), found, source)
    devices = _part_devices(device)
    batch: dict[str, torch.Tensor] = {}
    for reader in readers:
        for key, tensor in reader.tensors():
            target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
            part, name = key.split(".", 1)
            if part == "llm" and quantizer.owns(model.llm, name):
                quantizer.assign(model.llm, name, tensor.to(devices[part], target))
                continue
            batch[key] = tensor.to(devices[part], target)
            if len(batch) >= 64:  # assigning in small batches: load_state_dict walks every module per call
                model.load_state_dict(batch, strict=False, assign=True)
                batch = {}
    model.load_state_dict(batch, strict=False, assign=True)
    del batch
    _restore_unsaved_buffers(model)
    model.eval()
    for part in PARTS:
        module = getattr(model, part)
        if module is None:
            continue
        if dtype is not None and not (part == "llm" and quantizer.bnb is not None):
            module.to(dtype=dtype)  # a quantized LLM got its float tensors in `dtype` as they streamed in
        module.to(devices[part])
    return model
