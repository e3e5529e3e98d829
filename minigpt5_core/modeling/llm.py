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

from typing import TYPE_CHECKING

from peft import LoraConfig, TrainableTokensConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from ..config import LLMConfig
from ..errors import MiniGPT5Error

if TYPE_CHECKING:
    from .model import MiniGPT5

EMBEDDING_MODULES = ["embed_tokens", "lm_head"]


def build_llm(llm_cfg: LLMConfig) -> LlamaForCausalLM:
    """A LLaMA decoder of the configured size (weights random until loaded); embeddings are not tied."""
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=llm_cfg.vocab_size, hidden_size=llm_cfg.hidden_size,
            intermediate_size=llm_cfg.intermediate_size, num_hidden_layers=llm_cfg.num_layers,
            num_attention_heads=llm_cfg.num_heads, num_key_value_heads=llm_cfg.num_heads,
            max_position_embeddings=llm_cfg.max_position_embeddings, rms_norm_eps=llm_cfg.rms_norm_eps,
            tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        )
    )


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
