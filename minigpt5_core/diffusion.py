"""The image-generator side: Stable Diffusion parts, the LDM and caption losses, and sampling.

MiniGPT-5 keeps SD frozen and feeds the mapper output directly as `encoder_hidden_states` /
`prompt_embeds`. This module wraps the diffusers parts (UNet, VAE, scheduler) plus, for the stage-1
caption loss only, SD's own text encoder. Sampling goes through diffusers' StableDiffusionPipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.schedulers import SchedulerMixin
from PIL import Image
from torch import nn
from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerBase

from .config import DiffusionConfig
from .errors import MiniGPT5Error
from .vision import to_rgb


class ImageGenerator(nn.Module):
    """Frozen SD-style generator: UNet + VAE + scheduler, and optionally its text encoder."""

    def __init__(
        self,
        unet: UNet2DConditionModel,
        vae: AutoencoderKL,
        scheduler: SchedulerMixin,
        text_encoder: CLIPTextModel | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ):
        super().__init__()
        self.unet = unet
        self.vae = vae
        self.text_encoder = text_encoder
        self.scheduler = scheduler
        self.tokenizer = tokenizer
        self.requires_grad_(False)

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def tiny_random(cls, cfg: DiffusionConfig) -> "ImageGenerator":
        """Tiny random parts with the same diffusers/transformers classes as SD 2.1 (tests)."""
        from .tiny_tokenizer import build_tiny_tokenizer

        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1, norm_num_groups=8, sample_size=cfg.resolution,
        )
        unet = UNet2DConditionModel(
            sample_size=cfg.resolution // 2, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=cfg.cross_attention_dim,
            attention_head_dim=8, norm_num_groups=8,
        )
        scheduler = DDIMScheduler(
            num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
            clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon",
        )
        tokenizer = build_tiny_tokenizer()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer), hidden_size=cfg.cross_attention_dim, intermediate_size=256,
                num_hidden_layers=1, num_attention_heads=8, max_position_embeddings=cfg.caption_max_length,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
        return cls(unet, vae, scheduler, text_encoder, tokenizer)

    @classmethod
    def from_folder(cls, folder: str | Path, *, with_text_encoder: bool = True) -> "ImageGenerator":
        """Load a local diffusers-layout folder (unet/, vae/, scheduler/, [text_encoder/, tokenizer/])."""
        folder = Path(folder)
        for part in ("unet", "vae", "scheduler"):
            if not (folder / part).is_dir():
                raise MiniGPT5Error(
                    f"image generator folder {folder} has no {part}/ subfolder; expected a diffusers "
                    "Stable Diffusion folder with unet/, vae/ and scheduler/"
                )
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True)
        vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True)
        scheduler = DDIMScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
        text_encoder = tokenizer = None
        if with_text_encoder and (folder / "text_encoder").is_dir():
            text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        return cls(unet, vae, scheduler, text_encoder, tokenizer)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.unet.save_pretrained(folder / "unet")
        self.vae.save_pretrained(folder / "vae")
        self.scheduler.save_pretrained(folder / "scheduler")
        if self.text_encoder is not None:
            self.text_encoder.save_pretrained(folder / "text_encoder")
            self.tokenizer.save_pretrained(folder / "tokenizer")

    # ---- training signals -----------------------------------------------------------------------

    def caption_features(self, captions: list[str], max_length: int = 77) -> torch.Tensor:
        """SD text-encoder `last_hidden_state` of captions, padded to 77: the L_CAP target."""
        if self.text_encoder is None:
            raise MiniGPT5Error("the caption loss needs the image generator's text encoder, which is not loaded")
        batch = self.tokenizer(
            captions, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        ).to(self.text_encoder.device)
        return self.text_encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state

    def image_latents(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> scaled VAE latents."""
        dist = self.vae.encode(images.to(self.vae.device, self.vae.dtype)).latent_dist
        return dist.sample(generator=generator) * self.vae.config.scaling_factor

    def ldm_loss(
        self, images: torch.Tensor, conditioning: torch.Tensor, *, min_snr_gamma: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Noise-prediction MSE through the frozen UNet with min-SNR-gamma weighting.

        The weight depends on what the UNet predicts: epsilon min(SNR,g)/SNR, sample min(SNR,g),
        v min(SNR,g)/(SNR+1) — all the same weighting of the x0 error.
        """
        with torch.no_grad():
            latents = self.image_latents(images, generator)
        noise = torch.randn(latents.shape, generator=generator, dtype=latents.dtype).to(latents.device)
        steps = self.scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (latents.shape[0],), generator=generator).to(latents.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        prediction = self.unet(noisy, timesteps, encoder_hidden_states=conditioning.to(self.unet.dtype)).sample

        alphas = self.scheduler.alphas_cumprod.to(latents.device)[timesteps].float()
        snr = alphas / (1 - alphas)
        clipped = torch.clamp(snr, max=min_snr_gamma)
        kind = self.scheduler.config.prediction_type
        if kind == "epsilon":
            target, weight = noise, clipped / snr
        elif kind == "sample":
            target, weight = latents, clipped
        elif kind == "v_prediction":
            target, weight = self.scheduler.get_velocity(latents, noise, timesteps), clipped / (snr + 1)
        else:
            raise MiniGPT5Error(f"unsupported scheduler prediction_type {kind!r}")
        per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        return (per_sample * weight).mean()

    # ---- sampling -------------------------------------------------------------------------------

    def pipeline(self) -> StableDiffusionPipeline:
        """A diffusers pipeline over our parts; it runs from prompt embeddings only."""
        pipe = StableDiffusionPipeline(
            vae=self.vae, text_encoder=None, tokenizer=None, unet=self.unet, scheduler=self.scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    @torch.no_grad()
    def render(
        self, positive: torch.Tensor, negative: torch.Tensor, *, steps: int, guidance: float, seed: int,
        height: int, width: int,
    ) -> list[Image.Image]:
        """One picture per row of `positive` (N, 77, D); picture i is seeded with seed + i."""
        if height % 8 or width % 8:
            raise MiniGPT5Error(f"height and width must be multiples of 8, got {height}x{width}")
        n = positive.shape[0]
        device = self.unet.device
        generators = [torch.Generator(device="cpu").manual_seed(seed + i) for i in range(n)]
        latent_shape = (1, self.unet.config.in_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = torch.cat([torch.randn(latent_shape, generator=g) for g in generators]).to(device, self.unet.dtype)
        result = self.pipeline()(
            prompt_embeds=positive.to(device, self.unet.dtype),
            negative_prompt_embeds=negative.expand(n, -1, -1).to(device, self.unet.dtype),
            num_inference_steps=steps, guidance_scale=guidance, height=height, width=width,
            latents=latents, output_type="pil",
        )
        return list(result.images)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


def images_to_tensor(images: list[Image.Image], size: int) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) in [-1, 1]: the VAE's input for the LDM loss target."""
    arrays = [
        np.asarray(to_rgb(im).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 127.5 - 1.0
        for im in images
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
