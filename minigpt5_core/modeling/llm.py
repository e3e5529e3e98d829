"""The language model: LLaMA (Vicuna v0) built from our config, and the peft adapters the training stages add.

The adapters live here, beside the LLM, because a saved model records which stage's adapter wraps it and
loading must rebuild that wrapper before the weights go in; the training stages only choose what to train.

| adapter stage | wraps the LLM with                                                              |
|---------------|---------------------------------------------------------------------------------|
| 1             | trainable-token rows for the 9 new tokens in embed_tokens / lm_head (LoRA too   |
|               | when `TrainingConfig.stage1_lora`)                                              |
| 2             | LoRA on `lora_target_modules` (q_proj, v_proj) + the same trainable-token rows  |

peft's trainable-token adapters keep every other row bit-identical even under AdamW weight decay (the
official gradient mask lets decay move "frozen" rows). Going from stage 1 to 2 merges stage 1 first.

Quantized tiers (`QUANTIZE_TIERS`) put the decoder's linear layers in bitsandbytes int8 (LLM.int8()) or
4-bit NF4 at load time, while the weights stream in from the bf16/fp16 folder: transformers' own
`replace_with_bnb_linear` swaps the modules on the meta device from a `BitsAndBytesConfig`, and each
weight becomes a bitsandbytes parameter as it arrives (as transformers' bnb quantizer does). The
embeddings, `lm_head` and the norms stay in the load dtype, so the voken hidden states (after the final
norm) and everything the mapper sees keep full precision; only the matmul weights are coarser.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch
from peft import LoraConfig, TrainableTokensConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from ..config import LLMConfig
from ..errors import MiniGPT5Error
from ..layout import QUANTIZE_TIERS
from .bnb import import_bitsandbytes

if TYPE_CHECKING:
    from .model import MiniGPT5

EMBEDDING_MODULES = ["embed_tokens", "lm_head"]


def llama_config(llm_cfg: LLMConfig, **extra) -> LlamaConfig:
    """The transformers config of our LLM (embeddings not tied); `extra` e.g. attn_implementation."""
    return LlamaConfig(
        vocab_size=llm_cfg.vocab_size, hidden_size=llm_cfg.hidden_size,
        intermediate_size=llm_cfg.intermediate_size, num_hidden_layers=llm_cfg.num_layers,
        num_attention_heads=llm_cfg.num_heads, num_key_value_heads=llm_cfg.num_heads,
        max_position_embeddings=llm_cfg.max_position_embeddings, rms_norm_eps=llm_cfg.rms_norm_eps,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0, **extra,
    )


def build_llm(llm_cfg: LLMConfig) -> LlamaForCausalLM:
    """A LLaMA decoder of the configured size (weights random until loaded)."""
    return LlamaForCausalLM(llama_config(llm_cfg))


def wrap_adapter(model: "MiniGPT5", stage: int) -> None:
    """Put the stage's peft adapter around `model.llm` (merging an earlier stage's adapter first)."""
    if model.adapter_stage == stage:
        return
    if model.adapter_stage is not None and model.adapter_stage > stage:
        raise MiniGPT5Error(f"the model already carries stage-{model.adapter_stage} adapters; stage {stage} comes before it")
    if model.adapter_stage is not None:
        merge_adapters(model)
    rows = model.special_ids.new_rows if model.special_ids else list(
        range(model.config.llm.vocab_size - model.config.num_vokens - 1, model.config.llm.vocab_size)
    )
    llm_cfg = model.config.llm
    if stage == 1 and not model.config.training.stage1_lora:
        peft_config = TrainableTokensConfig(target_modules=EMBEDDING_MODULES, token_indices=rows)
    else:
        peft_config = LoraConfig(
            r=llm_cfg.lora_r, lora_alpha=llm_cfg.lora_alpha, lora_dropout=llm_cfg.lora_dropout,
            target_modules=list(llm_cfg.lora_target_modules),
            trainable_token_indices={name: rows for name in EMBEDDING_MODULES},
        )
    model.llm = get_peft_model(model.llm, peft_config)
    model.llm.train(model.training)  # new adapter modules (LoRA dropout) start in train mode
    model.adapter_stage = stage


def merge_adapters(model: "MiniGPT5") -> None:
    """Fold any peft adapter into plain LLM weights (for inference or export)."""
    if model.adapter_stage is not None:
        model.llm = model.llm.merge_and_unload()
        model.llm.train(model.training)
        model.adapter_stage = None


# ---- quantized tiers -------------------------------------------------------------------------------------

KEEP_FULL_PRECISION = ["lm_head"]  # the voken logits decide when a picture starts: not worth 4 bits


def check_quantize(tier: str) -> str:
    """`tier` if it is one of `QUANTIZE_TIERS`, else a MiniGPT5Error naming the choices."""
    if tier not in QUANTIZE_TIERS:
        raise MiniGPT5Error(f"quantize must be one of {', '.join(QUANTIZE_TIERS)}, got {tier!r}")
    return tier


def bnb_config(tier: str, compute_dtype: torch.dtype):
    """The transformers `BitsAndBytesConfig` of a tier (None for "none")."""
    from transformers import BitsAndBytesConfig

    if check_quantize(tier) == "none":
        return None
    if tier == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=KEEP_FULL_PRECISION)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
                              llm_int8_skip_modules=KEEP_FULL_PRECISION)


class _ExpectedInt8Cast(logging.Filter):
    """bitsandbytes logs "inputs will be cast ... to float16" on EVERY int8 matmul whose input is not fp16: on
    a float32 or bfloat16 model that is one line per layer per token. The cast is how LLM.int8() computes, so
    the line says nothing to a user; every other bitsandbytes message still gets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "inputs will be cast from" not in record.getMessage()


_INT8_LOG = logging.getLogger("bitsandbytes.autograd._functions")


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
        self.work_device = work_device or (torch.device("cuda") if torch.cuda.is_available() else None)
        self.bnb = import_bitsandbytes() if tier != "none" else None
        if tier == "int8" and not any(isinstance(f, _ExpectedInt8Cast) for f in _INT8_LOG.filters):
            _INT8_LOG.addFilter(_ExpectedInt8Cast())

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
