"""Which parameters each training stage trains (MINIGPT5_SPEC.md §4), via peft.

| stage | LLM                                   | mapper fc | transformer | queries |
|-------|---------------------------------------|-----------|-------------|---------|
| 1     | only the 9 new rows of embed/lm_head  | yes       | yes         | yes     |
| 2     | LoRA on q_proj, v_proj + the 9 rows   | no        | yes         | no      |

`TrainingConfig.stage1_lora` (off in the official recipe) gives stage 1 the LoRA of stage 2 as well.

The rows are trained with peft's trainable-token adapters, so every other row stays bit-identical
even under AdamW weight decay (the official gradient mask lets decay move "frozen" rows).
Going from stage 1 to 2 merges the stage-1 rows into the base weights first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peft import LoraConfig, TrainableTokensConfig, get_peft_model

from .errors import MiniGPT5Error

if TYPE_CHECKING:
    from .model import MiniGPT5

EMBEDDING_MODULES = ["embed_tokens", "lm_head"]


def wrap_llm(model: "MiniGPT5", stage: int) -> None:
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


def configure(model: "MiniGPT5", stage: int) -> None:
    """Set `requires_grad` for `stage` on every part of the model."""
    if stage not in (1, 2):
        raise MiniGPT5Error(f"stage must be 1 or 2, got {stage}")
    wrap_llm(model, stage)  # peft freezes the base LLM and marks its adapter trainable
    model.encoder.requires_grad_(False)
    if model.image_generator is not None:
        model.image_generator.requires_grad_(False)
    mapper = model.mapper
    mapper.llm_to_t2i_mapping.requires_grad_(True)
    mapper.fc.requires_grad_(stage == 1)
    mapper.t2i_decoder_prompt.requires_grad_(stage == 1)


def parameter_groups(model: "MiniGPT5", stage: int) -> list[dict]:
    """AdamW groups: the LLM adapter at the base LR, the mapper at `mapper_lr_multiplier` x (10x)."""
    train_cfg = model.config.training
    named = model.trainable_parameters(stage)
    mapper = [p for n, p in named.items() if n.startswith("mapper.")]
    rest = [p for n, p in named.items() if not n.startswith("mapper.")]
    return [
        {"params": rest, "lr": train_cfg.learning_rate},
        {"params": mapper, "lr": train_cfg.learning_rate * train_cfg.mapper_lr_multiplier},
    ]
