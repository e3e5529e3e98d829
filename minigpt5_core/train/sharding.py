"""FSDP launches (`accelerate launch --use_fsdp --fsdp_version 2 ...`): what the trainer does differently.

Under accelerate's FSDP plugin every parameter, frozen or trainable, becomes a DTensor holding 1/N of its rows on
each of the N processes, and AdamW keeps states for the local shard only (docs/scaling.md has the memory table).
Three things follow for the trainer, and live here:

- only FSDP2 is accepted: it shards each parameter on its own, so the frozen LLM and its trainable LoRA rows can
  share a unit; FSDP1's flat parameters cannot mix them without `use_orig_params` and were never run here;
- a model folder (`final/`, a checkpoint's `model/`) is written from the gathered full state dict, which every
  process must take part in gathering (a collective), and the main process writes;
- a checkpoint's resume state is accelerate's own sharded copy (`pytorch_model_fsdp_0/`, `optimizer_0/`), read
  back by each process for its own shard; the `model/` folder beside it is for people, not for resuming.

The LLM's decoder layers and the vision tower's encoder layers are FSDP units (TRANSFORMER_BASED_WRAP finds them
through `no_split_modules`), so a forward pass holds one gathered layer at a time; the embeddings, lm_head, the
Q-Former and the mapper form the root unit. The frozen image generator (SD's UNet and VAE) is left out of the
sharding and held whole by every process, as under DDP: it never changes, and `final/sd` is written from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import MiniGPT5Error


def is_sharded(accelerator) -> bool:
    """True when accelerate shards the model (an FSDP launch)."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def check_sharding(accelerator, quantize: str) -> None:
    """Refuse, in one line each, the FSDP launches the trainer does not support."""
    if not is_sharded(accelerator):
        return
    if not getattr(accelerator, "is_fsdp2", False):  # accelerate before 1.6 has FSDP1 only
        raise MiniGPT5Error("this trainer runs under FSDP2 only (it shards frozen and trainable parameters alike): "
                            "launch with --fsdp_version 2 (accelerate 1.6 or newer), or without --use_fsdp for DDP")
    if quantize != "none":
        raise MiniGPT5Error(f"quantize: {quantize} and FSDP do not go together here (bitsandbytes' 4-bit weights "
                            "cannot be sharded as stored); train nf4 on one card, or shard a bf16 model with FSDP")


def no_split_modules(*parts: nn.Module) -> list[str]:
    """The block classes the transformers models among `parts` declare (`_no_split_modules`: the LLM's decoder
    layers, the vision tower's encoder layers): the units accelerate's TRANSFORMER_BASED_WRAP shards one by one."""
    names = []
    for part in parts:
        for module in part.modules():
            for name in sorted(getattr(module, "_no_split_modules", None) or ()):
                if name not in names:
                    names.append(name)
    return names


def keep_whole(accelerator, wrapper: nn.Module, module: nn.Module | None) -> None:
    """Leave `module` (inside `wrapper`) out of the sharding, beside any modules the launch already leaves out;
    call before `accelerator.prepare`."""
    if module is None or not is_sharded(accelerator):
        return
    plugin = accelerator.state.fsdp_plugin
    ignored = plugin.ignored_modules
    if isinstance(ignored, str):  # accelerate's regex form, matched against the wrapper's module names
        ignored = [m for name, m in wrapper.named_modules() if re.fullmatch(ignored, name)]
    plugin.ignored_modules = [*(ignored or ()), module]


def full_state(accelerator, module: nn.Module, prefix: str = "") -> Mapping[str, torch.Tensor] | None:
    """The gathered full state dict of a sharded `module` on the main process (None on the others), keys without
    `prefix`; None everywhere when nothing is sharded (the module's own tensors are then complete). Every
    process must call it: the gathering is a collective."""
    if not is_sharded(accelerator):
        return None
    state = accelerator.get_state_dict(module, unwrap=False)
    if not accelerator.is_main_process:
        return None
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def parameters_held(module: nn.Module) -> int:
    """How many parameter values this process stores: all of them under DDP, about 1/N of the sharded ones under
    FSDP (a DTensor's local shard)."""
    from torch.distributed.tensor import DTensor

    return sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in module.parameters())


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a parameter that may be an FSDP shard (a collective for a DTensor)."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
