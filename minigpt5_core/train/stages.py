"""Which parameters each training stage trains (MINIGPT5_SPEC.md §4).

| stage | LLM                                   | mapper fc | transformer | queries |
|-------|---------------------------------------|-----------|-------------|---------|
| 1     | only the 9 new rows of embed/lm_head  | yes       | yes         | yes     |
| 2     | LoRA on q_proj, v_proj + the 9 rows   | no        | yes         | no      |

`TrainingConfig.stage1_lora` (off in the official recipe) gives stage 1 the LoRA of stage 2 as well. The
adapters themselves are built in `modeling.llm` (loading a saved model needs them too).
"""

from __future__ import annotations

from torch import nn

from ..errors import MiniGPT5Error
from ..modeling.model import MiniGPT5


def configure(model: MiniGPT5, stage: int) -> None:
    """Set `requires_grad` for `stage` on every part of the model."""
    if stage not in (1, 2):
        raise MiniGPT5Error(f"stage must be 1 or 2, got {stage}")
    model.wrap_adapter(stage)  # peft freezes the base LLM and marks its adapter trainable
    model.encoder.requires_grad_(False)
    if model.image_generator is not None:
        model.image_generator.requires_grad_(False)
    mapper = model.mapper
    mapper.llm_to_t2i_mapping.requires_grad_(True)
    mapper.fc.requires_grad_(stage == 1)
    mapper.t2i_decoder_prompt.requires_grad_(stage == 1)


def trainable_parameters(model: MiniGPT5, stage: int) -> dict[str, nn.Parameter]:
    """Configure `model` for training stage 1 or 2 and return exactly the parameters it trains."""
    configure(model, stage)
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def parameter_groups(model: MiniGPT5, stage: int) -> list[dict]:
    """AdamW groups: the LLM adapter at the base LR, the mapper at `mapper_lr_multiplier` x (10x)."""
    train_cfg = model.config.training
    named = trainable_parameters(model, stage)
    mapper = [p for n, p in named.items() if n.startswith("mapper.")]
    rest = [p for n, p in named.items() if not n.startswith("mapper.")]
    return [
        {"params": rest, "lr": train_cfg.learning_rate},
        {"params": mapper, "lr": train_cfg.learning_rate * train_cfg.mapper_lr_multiplier},
    ]
