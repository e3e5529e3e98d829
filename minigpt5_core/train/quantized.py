"""QLoRA: training over a frozen LLM held in 4 bits (`TrainConfig.quantize = "nf4"`), for one 24 GB card.

The 7B LLM's decoder layers are 6.5 B of its 6.7 B parameters; stored in NF4 they take 3.5 GB instead of 13
(`bench/train_memory.py` prints the whole table). Stage 2 never changes them: it trains the LoRA adapters beside
them, the 9 new token rows and the mapper's transformer. So the base is loaded through the same quantized tiers as
inference (`from_pretrained(quantize=...)`, bitsandbytes), the trainable parameters are kept in float32 (the
optimiser's master copy; the frozen parts keep their stored dtype), and the 4-bit matmuls compute in the
mixed-precision dtype.

What is saved is never 4-bit: a model folder (final/, and checkpoints' model/) holds the base LLM's ORIGINAL
weights, read back from the folder the run started from, so the result loads in any tier, bf16 included, and a
resumed run quantizes the same weights again. Saving therefore holds the LLM's linear weights in host memory
for a moment (13 GB for 7B in fp16).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..config import MiniGPT5Config
from ..io.weights import SafetensorsReader
from ..layout import weight_files
from ..modeling.quantize import check_quantize
from ..modeling.model import MiniGPT5

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _plain_key(key: str) -> str:
    """A weight's name without peft's wrappers, the same for a plain, a stage-1 and a stage-2 model folder."""
    return key.replace("base_model.model.", "").replace(".base_layer.", ".")


class QuantizedBase:
    """A model whose LLM linear layers are bitsandbytes modules, and the folder of their original weights."""

    def __init__(self, model: MiniGPT5, source: Path, keep_alive: tempfile.TemporaryDirectory | None = None):
        self.model, self.source = model, source
        self._keep_alive = keep_alive  # a preset's weights, written for this run only

    @classmethod
    def load(cls, model: str, tier: str, *, seed: int, mixed_precision: str) -> "QuantizedBase":
        """Load a model folder (or a preset, written to a temporary folder first) with its LLM in `tier`."""
        check_quantize(tier)
        keep_alive = None
        if model in MiniGPT5Config.PRESETS:
            keep_alive = tempfile.TemporaryDirectory(prefix="minigpt5-base-")
            MiniGPT5.from_config(MiniGPT5Config.preset(model), seed=seed).save_pretrained(Path(keep_alive.name) / "m")
            model = str(Path(keep_alive.name) / "m")
        loaded = MiniGPT5.from_pretrained(model, quantize=tier)
        compute = _AUTOCAST_DTYPES.get(mixed_precision)
        for _, module in cls.quantized_layers(loaded):
            if compute is not None and hasattr(module, "compute_dtype"):
                module.compute_dtype = compute  # Linear4bit: dequantize to the autocast dtype, not to float32
        return cls(loaded, Path(model), keep_alive)

    @staticmethod
    def quantized_layers(model: MiniGPT5) -> list[tuple[str, nn.Module]]:
        """(name under the LLM, module) of every bitsandbytes linear layer."""
        import bitsandbytes as bnb

        kinds = (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
        return [(name, m) for name, m in model.llm.named_modules() if isinstance(m, kinds)]

    def trainable_in_float32(self) -> None:
        """The optimiser's parameters in float32 (a 16-bit folder would otherwise train in 16 bits)."""
        for p in self.model.parameters():
            if p.requires_grad and p.dtype != torch.float32:
                p.data = p.data.float()

    def owns(self, key: str) -> bool:
        """True for a model-state key (``llm.…``) that belongs to a quantized layer: never loaded from a checkpoint,
        which holds the original weights the layer was quantized from."""
        module = key[len("llm."):].rsplit(".", 1)[0] if key.startswith("llm.") else ""
        return any(module == name or module.startswith(name + ".") for name, _ in self.quantized_layers(self.model))

    def frozen_digest(self) -> str:
        """sha256 of the quantized layers' stored bytes (4-bit codes and scales): equal before and after training."""
        digest = hashlib.sha256()
        for _, module in self.quantized_layers(self.model):  # not the names: peft's wrapping changes them
            for tensor in module.state_dict().values():
                if isinstance(tensor, torch.Tensor):
                    digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def _originals(self) -> dict[str, torch.Tensor]:
        """The quantized layers' weights as the source folder holds them, by their name under the LLM."""
        wanted = {_plain_key(f"llm.{name}.weight"): name for name, _ in self.quantized_layers(self.model)}
        found = {}
        for file in weight_files(self.source):
            for key, tensor in SafetensorsReader(file).tensors():
                if _plain_key(key) in wanted:
                    found[wanted[_plain_key(key)]] = tensor
        return found

    @contextmanager
    def full_precision(self) -> Iterator[None]:
        """While the block runs, the quantized layers are plain `nn.Linear`s holding the source's weights, so
        that `save_pretrained` writes an ordinary model folder; then the 4-bit layers come back untouched."""
        originals = self._originals()
        swapped = []
        for name, module in self.quantized_layers(self.model):
            parent_name, _, child = name.rpartition(".")
            parent = self.model.llm.get_submodule(parent_name)
            plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, device="meta")
            plain.weight = nn.Parameter(originals[name], requires_grad=False)
            if module.bias is not None:
                plain.bias = module.bias
            setattr(parent, child, plain)
            swapped.append((parent, child, module))
        try:
            yield
        finally:
            for parent, child, module in swapped:
                setattr(parent, child, module)
