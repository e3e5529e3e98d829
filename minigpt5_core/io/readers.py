"""Reading other people's weight files safely: pickles only with `torch.load(weights_only=True)`, safetensors lazily.

A pickle can run arbitrary code when it is unpickled; `weights_only=True` refuses everything but tensors and
plain containers, so an untrusted checkpoint can at worst fail to load. `LazyTensors` lets a converter look at
shapes and read one tensor at a time, so a 14 GB model is never in memory twice.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..errors import MiniGPT5Error


def read_pickle(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A torch zip-pickle of tensors, read with weights_only=True (memory-mapped when possible)."""
    path = Path(path)
    if not path.is_file():
        raise MiniGPT5Error(f"{what} file {path} does not exist")
    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            data = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MiniGPT5Error(
            f"{path} ({what}) holds more than tensors ({first_line}). For safety it is only read with "
            "torch.load(weights_only=True), which refuses arbitrary Python objects. Use the original file "
            "from the official release, or re-save only its tensors (a dict of torch tensors) and try again."
        ) from None
    except (RuntimeError, OSError, EOFError) as exc:
        raise MiniGPT5Error(f"{path} ({what}) cannot be read as a PyTorch file ({exc}); it may be truncated — re-download it") from None
    return _tensor_dict(data, path, what)


def _tensor_dict(data, path: Path, what: str) -> dict[str, torch.Tensor]:
    # Lightning checkpoints nest under "state_dict", LAVIS / MiniGPT-4 ones under "model".
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data:
        raise MiniGPT5Error(f"{path} ({what}) holds no tensors; is it the right file?")
    bad = [k for k, v in data.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise MiniGPT5Error(f"{path} ({what}) holds non-tensor entries ({', '.join(map(str, bad[:5]))}); is it the right file?")
    return data


class LazyTensors(Mapping):
    """Read-on-demand view of safetensors and/or torch files (a sharded HF folder)."""

    def __init__(self, where: dict[str, Callable[[], torch.Tensor]], shapes: dict[str, tuple[int, ...]]):
        self._where = where
        self._shapes = shapes

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._where[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __contains__(self, key) -> bool:  # Mapping's default would read the tensor
        return key in self._where

    def __len__(self) -> int:
        return len(self._where)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]


def open_safetensors(files: list[Path]) -> LazyTensors:
    where, shapes = {}, {}
    for file in files:
        try:
            handle = safe_open(str(file), framework="pt", device="cpu")
        except (SafetensorError, OSError) as exc:
            raise MiniGPT5Error(f"{file} cannot be read as safetensors ({exc}); the file is damaged — re-download it") from None
        for key in handle.keys():
            where[key] = (lambda h, k: lambda: h.get_tensor(k))(handle, key)
            shapes[key] = tuple(handle.get_slice(key).get_shape())
    return LazyTensors(where, shapes)


def open_torch_files(files: list[Path], what: str) -> LazyTensors:
    where, shapes = {}, {}
    for file in files:
        state = read_pickle(file, what)
        for key, tensor in state.items():
            where[key] = (lambda t: lambda: t)(tensor)
            shapes[key] = tuple(tensor.shape)
    return LazyTensors(where, shapes)
