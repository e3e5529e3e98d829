"""GPU memory per GPU of stage-2 fine-tuning of MiniGPT-5 7B in each training mode, and the GPUs it fits.

    .venv/bin/python bench/train_memory.py [--stage 2]

Modes: bf16 DDP (every GPU holds the whole model: the official four 48 GB cards), FSDP on 2, 4 and 8 GPUs
(accelerate's FSDP2 plugin as the trainer uses it, `train/sharding.py`: parameters, gradients and AdamW states
sharded across the GPUs, one decoder layer gathered at a time and the next prefetched, the root unit (embeddings,
lm_head, Q-Former, mapper) gathered for the whole step, SD's UNet and VAE whole on every GPU), and nf4 (QLoRA,
`quantize: nf4`: the LLM's decoder layers in 4 bits on one GPU).

Computed, not guessed, as bench/memory_tiers.py does: the parameter count of every part from the real modules built
on the meta device, the trainable set from the real stage configuration (`train.stages.trainable_parameters`:
LoRA, the 9 token rows, the mapper's transformer), and nf4's bytes per parameter from one real 7B decoder layer
quantized by bitsandbytes on this CPU. Trainable parameters cost 16 bytes each (float32 weight, float32 gradient,
AdamW's two float32 moments); frozen ones their storage (bf16, or nf4 for the quantized decoder layers).

Allowances, NOT computed (only a GPU can measure them; the constants below): the CUDA context, the activations of
one batch-1 step with gradient checkpointing (the LLM on a VIST story, about 700 positions; the UNet at 512 px, whose
activations are kept because the loss reaches the mapper through it).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from memory_tiers import CUDA_CONTEXT, FP16, GIB, measure_tiers, part_params, sd21_params
from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.train.stages import trainable_parameters

TRAINABLE_BYTES = 16  # fp32 weight + fp32 gradient + AdamW exp_avg + exp_avg_sq
LLM_STEP_ACTIVATIONS = int(1.0 * GIB)  # batch 1, ~700 positions, gradient checkpointing, logits in fp32
UNET_STEP_ACTIVATIONS = int(3.0 * GIB)  # UNet forward + backward at 64x64 latents, batch 1, fp16
CARDS_GIB = (24, 40, 48, 80)
FSDP_GPUS = (2, 4, 8)


def stage_params(config: MiniGPT5Config, stage: int) -> tuple[int, int]:
    """(trained, frozen) parameters of `stage` without SD, counted on the real modules (built on meta, wrapped by
    the stage's peft adapter, so the LoRA matrices are counted too)."""
    with torch.device("meta"):
        model = MiniGPT5(config, tokenizer=None)
        trained = sum(p.numel() for p in trainable_parameters(model, stage).values())
        return trained, sum(p.numel() for p in model.parameters()) - trained


@dataclass
class Counts:
    """Parameter counts of one training stage: the parts (as bench/memory_tiers.py counts them), SD, and the
    stage's trained and frozen sets."""

    parts: dict[str, int]
    sd: dict[str, int]
    trained: int
    frozen: int
    num_layers: int

    @classmethod
    def of(cls, config: MiniGPT5Config, stage: int) -> "Counts":
        trained, frozen = stage_params(config, stage)
        return cls(part_params(config), sd21_params(), trained, frozen, config.llm.num_layers)


def mode_rows(counts: Counts, nf4_bytes_per_param: float) -> list[tuple[str, int, float, float]]:
    """(mode, GPUs, frozen bytes per GPU, total bytes per GPU) for each mode."""
    parts, sd = counts.parts, counts.sd
    frozen_bf16 = FP16 * (counts.frozen + sd["unet"] + sd["vae"])
    fixed = LLM_STEP_ACTIVATIONS + UNET_STEP_ACTIVATIONS + CUDA_CONTEXT
    state = TRAINABLE_BYTES * counts.trained
    layer = FP16 * parts["llm_layers"] / counts.num_layers  # one decoder layer, gathered in bf16
    rows = [("bf16 DDP", 1, frozen_bf16, frozen_bf16 + state + fixed)]
    sd_whole = FP16 * (sd["unet"] + sd["vae"])  # left out of the sharding (`sharding.keep_whole`)
    root = FP16 * (parts["llm_embeddings"] + parts["qformer"] + parts["mapper"])  # the root unit, gathered
    for gpus in FSDP_GPUS:
        frozen = (frozen_bf16 - sd_whole) / gpus + sd_whole
        sharded = frozen + state / gpus
        rows.append((f"FSDP {gpus} GPUs", gpus, frozen, sharded + root + 2 * layer + fixed))  # + prefetched layer
    frozen_nf4 = frozen_bf16 - (FP16 - nf4_bytes_per_param) * parts["llm_layers"]
    rows.append(("nf4 (QLoRA)", 1, frozen_nf4, frozen_nf4 + state + fixed))
    return rows


def table(counts: Counts, stage: int, nf4_bytes_per_param: float) -> list[str]:
    parts, sd, trained = counts.parts, counts.sd, counts.trained
    lines = [
        f"stage {stage}: trains {trained / 1e6:.1f} M parameters ({TRAINABLE_BYTES} B each with gradient and "
        f"AdamW: {TRAINABLE_BYTES * trained / GIB:.2f} GiB); frozen: LLM {(parts['llm_layers'] + parts['llm_embeddings']) / 1e9:.2f} B, "
        f"ViT-g + Q-Former {(parts['vit'] + parts['qformer']) / 1e9:.2f} B, SD UNet + VAE {(sd['unet'] + sd['vae']) / 1e9:.2f} B",
        f"nf4: {nf4_bytes_per_param:.3f} bytes per decoder-layer parameter (measured on one real 7B layer)",
        f"allowances per GPU (measure on a GPU): LLM step {LLM_STEP_ACTIVATIONS / GIB:.1f}, UNet step "
        f"{UNET_STEP_ACTIVATIONS / GIB:.1f}, CUDA context {CUDA_CONTEXT / GIB:.1f} GiB",
        "",
        f"| mode            | GPUs | frozen weights GiB/GPU | total GiB/GPU | fits a {' / '.join(f'{c} GB' for c in CARDS_GIB)} card |",
        "|-----------------|------|------------------------|---------------|" + "-" * 28 + "|",
    ]
    for mode, gpus, frozen, total in mode_rows(counts, nf4_bytes_per_param):
        fits = " / ".join("yes" if total <= c * GIB else "no" for c in CARDS_GIB)
        lines.append(f"| {mode:15s} | {gpus:4d} | {frozen / GIB:22.2f} | {total / GIB:13.2f} | {fits:26s} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, default=2, choices=(1, 2))
    args = parser.parse_args()
    config = MiniGPT5Config.preset("minigpt5-7b")
    nf4 = next(t for t in measure_tiers(config.llm, tiers=("none", "nf4")) if t.tier == "nf4")
    print("\n".join(table(Counts.of(config, args.stage), args.stage, nf4.bytes_per_param)))


if __name__ == "__main__":
    main()
