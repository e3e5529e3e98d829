"""The training losses (MINIGPT5_SPEC.md §4): L = 0.01 L_text + 1.0 L_LDM + 0.1 L_CAP, with CFG dropout.

`compute_losses` runs one batch of `TrainingSample`s through the model the way both official stages do:
text cross-entropy on the target tokens, the diffusion loss through the frozen UNet conditioned on the
mapper output, and (when every sample carries captions) the caption-feature MSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import MiniGPT5Error
from ..modeling.diffusion import images_to_tensor
from ..modeling.model import IGNORE_INDEX, MiniGPT5
from ..prompts import TrainingSample


@dataclass
class LossOutput:
    """The weighted total and each term (`caption` is None when L_CAP does not apply)."""

    total: torch.Tensor
    text: torch.Tensor
    ldm: torch.Tensor
    caption: torch.Tensor | None


def cfg_keep_mask(n: int, dropout: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Classifier-free-guidance dropout: False (drop -> zero features, "" caption) with probability `dropout`."""
    return torch.rand(n, generator=generator) >= dropout


@dataclass
class CollatedBatch:
    """A batch as padded LLM inputs: embeds (B, L, H), labels (B, L), mask (B, L), and each sample's
    (embeds, labels, [IMG0] positions) from `MiniGPT5.encode_sample`."""

    embeds: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    encoded: list[tuple[torch.Tensor, torch.Tensor, list[int]]]


def collate(model: MiniGPT5, batch: Sequence[TrainingSample]) -> CollatedBatch:
    """Encode every sample (images through the vision encoder) and right-pad to one length."""
    all_inputs = [im for s in batch for im in s.input_images]
    image_embeds = list(model.encode_images(all_inputs)) if all_inputs else []
    encoded = [model.encode_sample(s, image_embeds) for s in batch]
    length = max(e.shape[0] for e, _, _ in encoded)
    device = model.llm_device
    embeds = torch.zeros(len(batch), length, model.config.llm.hidden_size, dtype=model.llm_dtype, device=device)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long, device=device)
    mask = torch.zeros(len(batch), length, dtype=torch.long, device=device)
    for b, (e, lab, _) in enumerate(encoded):
        embeds[b, : e.shape[0]] = e
        labels[b, : lab.shape[0]] = lab
        mask[b, : e.shape[0]] = 1
    return CollatedBatch(embeds, labels, mask, encoded)


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy: position t predicts label t+1; -100 labels are ignored."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE_INDEX)


def text_loss(model: MiniGPT5, batch: Sequence[TrainingSample]) -> torch.Tensor:
    """L_text alone (the toy world's LM phase trains text-only samples with it)."""
    inputs = collate(model, batch)
    return _cross_entropy(model.llm(inputs_embeds=inputs.embeds, attention_mask=inputs.mask).logits, inputs.labels)


def compute_losses(
    model: MiniGPT5, batch: Sequence[TrainingSample], stage: int, generator: torch.Generator | None = None,
) -> LossOutput:
    """L = w_text*L_text + w_ldm*L_LDM + w_cap*L_CAP with CFG dropout (MINIGPT5_SPEC.md §4).

    L_CAP applies, in either stage, when every sample of the batch carries captions (the official rule:
    CC3M samples do, its VIST loader's do not). `generator` seeds CFG dropout and noise.
    """
    model.require_tokenizer()
    if stage not in (1, 2):
        raise MiniGPT5Error(f"stage must be 1 or 2, got {stage}")
    if model.image_generator is None:
        raise MiniGPT5Error("training needs the image generator (UNet + VAE) for the LDM loss")
    train_cfg = model.config.training
    inputs = collate(model, batch)
    out = model.llm(inputs_embeds=inputs.embeds, attention_mask=inputs.mask, output_hidden_states=True)
    text_loss = _cross_entropy(out.logits, inputs.labels)
    encoded = inputs.encoded
    states = out.hidden_states[-1]
    n = model.config.num_vokens
    groups = [states[b, p - 1 : p - 1 + n] for b, (_, _, starts) in enumerate(encoded) for p in starts]
    if not groups:
        raise MiniGPT5Error("the batch has no voken group; every training batch needs at least one output image")
    features = torch.stack(groups).to(model.device)
    keep = cfg_keep_mask(len(groups), train_cfg.cfg_dropout, generator).to(model.device)
    features = features * keep[:, None, None].to(features.dtype)
    conditioning = model.mapper(features)

    target_images = images_to_tensor([im for s in batch for im in s.output_images], model.config.diffusion.resolution)
    ldm_loss = model.image_generator.ldm_loss(
        target_images, conditioning, min_snr_gamma=model.config.diffusion.min_snr_gamma, generator=generator
    )
    caption_loss = None
    if all(s.captions is not None and len(s.captions) == len(s.output_images) for s in batch):
        captions = [c if k else "" for c, k in zip([c for s in batch for c in s.captions], keep.tolist())]
        with torch.no_grad():
            target = model.image_generator.caption_features(captions, model.config.diffusion.caption_max_length)
        caption_loss = F.mse_loss(conditioning.float(), target.float())
    total = train_cfg.text_loss_weight * text_loss + train_cfg.ldm_loss_weight * ldm_loss
    if caption_loss is not None:
        total = total + train_cfg.caption_loss_weight * caption_loss
    return LossOutput(total=total, text=text_loss, ldm=ldm_loss, caption=caption_loss)
