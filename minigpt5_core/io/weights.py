"""Tensors to and from safetensors files: sharded writing that streams, and reading into aligned memory.

Shards follow the Hugging Face convention (`layout.shard_name`, an index naming each tensor's file), so a
7B model is written as a few files of at most `DEFAULT_SHARD_BYTES` and never held whole in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..errors import MiniGPT5Error
from ..layout import WEIGHTS_FILE, WEIGHTS_INDEX, shard_name

DEFAULT_SHARD_BYTES = 4 * 2**30


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
        final = shard_name(i, len(shards))
        os.replace(folder / f".shard-{i:05d}.safetensors", folder / final)
        names.append(final)
        weight_map.update({key: final for key in shard})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / WEIGHTS_INDEX).write_text(json.dumps(index, indent=2))
    return names


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


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


class SafetensorsReader:
    """Reads a safetensors file tensor by tensor into freshly allocated (aligned) memory.

    Unlike a memory map, nothing stays resident after a tensor is handed over, so loading costs
    about one copy of the weights; and the tensors are ordinary aligned allocations, so a loaded
    model computes bit-identically to the one that was saved. The file is first opened with the
    `safetensors` package, whose header validation is the format's definition (each entry's byte range
    exactly its shape times its dtype's size, ranges in order without gaps or overlaps, the file covered
    to its end); opening maps the file but touches only its header, so the one-copy figure holds.
    """

    def __init__(self, path: Path):
        from safetensors import SafetensorError, safe_open

        self.path = Path(path)
        try:
            with safe_open(self.path, framework="pt"):
                pass
            with open(self.path, "rb") as f:
                header_len = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(header_len))
            header.pop("__metadata__", None)
            self.entries = {
                key: (_SAFETENSORS_DTYPES[e["dtype"]], tuple(e["shape"]), tuple(e["data_offsets"]))
                for key, e in header.items()
            }
        except KeyError as exc:
            raise MiniGPT5Error(f"{self.path} holds a tensor of type {exc}, which MiniGPT-5 weights never use; "
                                "re-save or re-convert the model") from None
        except (SafetensorError, OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise MiniGPT5Error(f"{self.path} cannot be read as safetensors ({exc}); the file is damaged — "
                                "re-save or re-download it") from None
        self.data_start = 8 + header_len

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


def open_shards(files: Iterable[Path]) -> list[SafetensorsReader]:
    """Readers for a model's weight files; a tensor stored in two of them is refused (which copy would win
    depends on the order the files are read in, so the model would be whatever that order makes it)."""
    readers, seen = [], {}
    for file in files:
        reader = SafetensorsReader(file)
        for key in reader.keys():
            if key in seen:
                raise MiniGPT5Error(f"tensor {key!r} is stored twice, in {seen[key].name} and {Path(file).name}; "
                                    "the shards do not belong together — re-save or re-download the model")
            seen[key] = Path(file)
        readers.append(reader)
    return readers
