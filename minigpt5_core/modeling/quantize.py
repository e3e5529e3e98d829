"""The LLM's quantized tiers: how its linear layers may be stored when a model folder is loaded.

The tiers (`QUANTIZE_TIERS`) put the decoder's linear layers in bitsandbytes int8 (LLM.int8()) or
4-bit NF4 at load time, while the weights stream in from the bf16/fp16 folder: transformers' own
`replace_with_bnb_linear` swaps the modules on the meta device from a `BitsAndBytesConfig`, and each
weight becomes a bitsandbytes parameter as it arrives (as transformers' bnb quantizer does). The
embeddings, `lm_head` and the norms stay in the load dtype, so the voken hidden states (after the final
norm) and everything the mapper sees keep full precision; only the matmul weights are coarser.

diffusers imports bitsandbytes whenever it is installed, so a bitsandbytes that fails to import (a build for
another CUDA, a missing native library) would break loading every model, quantized or not, with an internal error
from deep inside diffusers: `blaming_bitsandbytes` turns that into one line naming bitsandbytes and the fix.

This module imports no torch at import time, so the CLIs and the nodes can offer the tiers without paying for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import MiniGPT5Error

if TYPE_CHECKING:
    import torch

QUANTIZE_TIERS = ("none", "int8", "nf4")
KEEP_FULL_PRECISION = ["lm_head"]  # the voken logits decide when a picture starts: not worth 4 bits


def check_quantize(tier: str) -> str:
    """`tier` if it is one of `QUANTIZE_TIERS`, else a MiniGPT5Error naming the choices."""
    if tier not in QUANTIZE_TIERS:
        raise MiniGPT5Error(f"quantize must be one of {', '.join(QUANTIZE_TIERS)}, got {tier!r}")
    return tier


INSTALL = "pip install 'minigpt5-storybook[quantize]' (or pip install bitsandbytes)"


def _broken(exc: BaseException) -> MiniGPT5Error:
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return MiniGPT5Error(f"the installed bitsandbytes fails to import ({type(exc).__name__}: {detail}), and diffusers "
                         "loads it whenever it is installed; repair it (pip install -U bitsandbytes) or remove it "
                         "(pip uninstall bitsandbytes): only quantized loading needs it")


def import_bitsandbytes() -> ModuleType:
    """The bitsandbytes module, or a MiniGPT5Error saying how to install or repair it."""
    try:
        import bitsandbytes  # noqa: F401 - imported to see whether it breaks
    except ImportError as e:
        raise MiniGPT5Error(f"quantized loading needs the bitsandbytes library ({e}); install it with {INSTALL}, "
                            "or load with quantize='none'") from None
    except Exception as e:  # noqa: BLE001 - a broken native build raises RuntimeError, OSError, ...
        raise _broken(e) from None
    return bitsandbytes


@contextmanager
def blaming_bitsandbytes() -> Iterator[None]:
    """Around an import of diffusers: a failure that a broken bitsandbytes causes becomes one MiniGPT5Error."""
    try:
        yield
    except Exception:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise  # not installed, so not the cause: the original error stands
        except Exception as cause:  # noqa: BLE001
            raise _broken(cause) from None
        raise


def bnb_config(tier: str, compute_dtype: torch.dtype):
    """The transformers `BitsAndBytesConfig` of a tier (None for "none")."""
    from transformers import BitsAndBytesConfig

    if check_quantize(tier) == "none":
        return None
    if tier == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=KEEP_FULL_PRECISION)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                              llm_int8_skip_modules=KEEP_FULL_PRECISION)


class LLMQuantizer:
    """Quantizes the LLM's linear weights one tensor at a time, while a streaming load assigns them.

    `prepare` must run while the LLM's parameters are still on the meta device (nothing is allocated);
    then `owns(name)` tells which weights to hand to `assign` instead of `load_state_dict`. Keys are
    relative to the LLM (``model.layers.0.mlp.up_proj.weight``), peft-wrapped or not.

    Quantizing runs on `work_device` (default: the current CUDA device when there is one), then the result
    moves to the weight's own device: bitsandbytes quantizes a 7B decoder layer in milliseconds on a GPU but
    in 1.5 s (int8) to 4 s (nf4) on two CPU cores (bench/memory_tiers.py; 1-2 minutes for 32 layers), and
    ComfyUI loads models into CPU memory first. Only one weight at a time visits the GPU.
    """

    def __init__(self, tier: str, compute_dtype: torch.dtype, work_device: torch.device | None = None):
        self.tier = check_quantize(tier)
        self.compute_dtype = compute_dtype
        import torch

        self.work_device = work_device or (torch.device("cuda") if torch.cuda.is_available() else None)
        self.bnb = import_bitsandbytes() if tier != "none" else None

    def prepare(self, llm: torch.nn.Module) -> None:
        if self.bnb is None:
            return
        from transformers.integrations import replace_with_bnb_linear

        replace_with_bnb_linear(llm, modules_to_not_convert=KEEP_FULL_PRECISION,
                                quantization_config=bnb_config(self.tier, self.compute_dtype))

    def owns(self, llm: torch.nn.Module, name: str) -> bool:
        if self.bnb is None or not name.endswith(".weight"):
            return False
        module = llm.get_submodule(name.rsplit(".", 1)[0])
        return isinstance(module, (self.bnb.nn.Linear4bit, self.bnb.nn.Linear8bitLt))

    def assign(self, llm: torch.nn.Module, name: str, weight: torch.Tensor) -> None:
        """Quantize `weight` on its device and put it into the module that `name` names."""
        module = llm.get_submodule(name.rsplit(".", 1)[0])
        device = weight.device
        work = self.work_device or device
        if isinstance(module, self.bnb.nn.Linear4bit):
            old = module.weight
            param = self.bnb.nn.Params4bit(
                weight.to(work), requires_grad=False, blocksize=old.blocksize,
                compress_statistics=old.compress_statistics, quant_type=old.quant_type,
                quant_storage=old.quant_storage, module=module,
            ).to(work)
        else:
            param = self.bnb.nn.Int8Params(weight.cpu(), requires_grad=False, has_fp16_weights=False).to(work)
        module.weight = param.to(device) if work != device else param
