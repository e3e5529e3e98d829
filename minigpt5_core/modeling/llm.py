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
"""

from __future__ import annotations

import torch
from peft import LoraConfig, TrainableTokensConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from ..config import LLMConfig

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


def add_adapter(llm: torch.nn.Module, stage: int, llm_cfg: LLMConfig, rows: list[int], *,
                stage1_lora: bool = False) -> torch.nn.Module:
    """The plain `llm` wrapped in the stage's peft adapter (`rows`: the new tokens' embedding rows)."""
    if stage == 1 and not stage1_lora:
        peft_config = TrainableTokensConfig(target_modules=EMBEDDING_MODULES, token_indices=rows)
    else:
        peft_config = LoraConfig(
            r=llm_cfg.lora_r, lora_alpha=llm_cfg.lora_alpha, lora_dropout=llm_cfg.lora_dropout,
            target_modules=list(llm_cfg.lora_target_modules),
            trainable_token_indices={name: rows for name in EMBEDDING_MODULES},
        )
    training = llm.training
    wrapped = get_peft_model(llm, peft_config)
    wrapped.train(training)  # new adapter modules (LoRA dropout) start in train mode
    return wrapped


def merge_adapter(llm: torch.nn.Module) -> torch.nn.Module:
    """The peft-wrapped `llm` with its adapter folded into plain weights (for inference or export)."""
    training = llm.training
    merged = llm.merge_and_unload()
    merged.train(training)
    return merged
