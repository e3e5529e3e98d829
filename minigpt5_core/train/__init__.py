"""Training at the library's edge: what each stage trains, the losses, and the trainer.

    stages    the trainable set of stage 1 and stage 2, and the optimiser's parameter groups
    losses    L = 0.01 L_text + 1.0 L_LDM + 0.1 L_CAP with classifier-free-guidance dropout
    trainer   `python -m minigpt5_core.train` on accelerate (one process or DDP), resumable
    quantized QLoRA: a frozen LLM in 4 bits under the trained adapters, saved back in full precision
"""

from .losses import LossOutput, compute_losses
from .stages import configure, parameter_groups, trainable_parameters
from .trainer import TrainConfig, main, train

__all__ = ["LossOutput", "TrainConfig", "compute_losses", "configure", "main", "parameter_groups", "train",
           "trainable_parameters"]
