"""The image-generator side: Stable Diffusion parts, the LDM and caption losses, and sampling.

MiniGPT-5 keeps SD frozen and feeds the mapper output directly as `encoder_hidden_states` /
`prompt_embeds`. This module wraps the diffusers parts (UNet, VAE, scheduler) plus, for the stage-1
caption loss only, SD's own text encoder. Sampling goes through diffusers' StableDiffusionPipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerBase

from ..config import DiffusionConfig
from ..errors import MiniGPT5Error
from ..notices import no_loading_bars
from .consistency import ConsistencySettings, consistent_attention
from .quantize import blaming_bitsandbytes
from .vision import to_rgb

with blaming_bitsandbytes():
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.schedulers import SchedulerMixin

SD21_BASE_CONFIG = Path(__file__).resolve().parent.parent / "assets" / "sd21-base"
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


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
            with no_loading_bars():
                text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        return cls(unet, vae, scheduler, text_encoder, tokenizer)

    @classmethod
    def from_local(
        cls, path: str | Path, *, dtype: torch.dtype | None = None, with_text_encoder: bool = False,
    ) -> "ImageGenerator":
        """A local diffusers folder (`from_folder`) or one original-layout checkpoint file (`from_single_file`)."""
        path = Path(path)
        if path.is_dir():
            generator = cls.from_folder(path, with_text_encoder=with_text_encoder)
            return generator.to(dtype) if dtype is not None else generator
        return cls.from_single_file(path, dtype=dtype)

    @classmethod
    def from_single_file(
        cls, path: str | Path, *, config: str | Path | None = None, dtype: torch.dtype | None = None,
    ) -> "ImageGenerator":
        """Load SD 2.1-base from ONE local checkpoint file in the original layout, offline.

        The file is the one ComfyUI's CheckpointLoaderSimple loads (`v2-1_512-ema-pruned.safetensors` or
        `.ckpt`). Only its UNet (`model.diffusion_model.*`) and VAE (`first_stage_model.*`) are read: MiniGPT-5
        conditions SD itself, so the text encoder in the file is skipped. The diffusers configs come from
        `config`, a folder with unet/config.json, vae/config.json and scheduler/scheduler_config.json; by
        default the SD 2.1-base configs shipped in this package. Nothing is fetched from a hub.

        The 768-v file (v2-1_768-ema-pruned, same layout) is recognised as ComfyUI recognises it
        (`prediction_type`) and sampled with v-prediction; MiniGPT-5 was trained with the 512 base model.
        """
        path = Path(path)
        config = Path(config) if config is not None else SD21_BASE_CONFIG
        if path.is_dir():
            raise MiniGPT5Error(f"{path} is a folder; use ImageGenerator.from_folder for a diffusers folder")
        if not path.is_file():
            raise MiniGPT5Error(
                f"Stable Diffusion checkpoint {path} does not exist; expected SD 2.1-base as one file "
                "(v2-1_512-ema-pruned.safetensors or .ckpt, the file ComfyUI keeps in models/checkpoints/)"
            )
        for part, name in (("unet", "config.json"), ("vae", "config.json"), ("scheduler", "scheduler_config.json")):
            if not (config / part / name).is_file():
                raise MiniGPT5Error(f"config folder {config} has no {part}/{name}; expected diffusers-layout configs")
        checkpoint = _read_single_file(path)
        _check_single_file(checkpoint, path, UNet2DConditionModel.load_config(config / "unet"))
        parts = {}
        for name, model_cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
            try:
                model = model_cls.from_single_file(
                    checkpoint, config=str(config), subfolder=name, local_files_only=True, torch_dtype=dtype,
                )
            except (ValueError, KeyError, RuntimeError, OSError) as exc:
                raise MiniGPT5Error(
                    f"the {name.upper()} in {path} does not fit the configuration in {config / name} ({exc}). "
                    "MiniGPT-5 needs Stable Diffusion 2.1-base (v2-1_512-ema-pruned)."
                ) from None
            missing = sorted(n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta)
            if missing:
                raise MiniGPT5Error(
                    f"{path} lacks {len(missing)} {name.upper()} tensors for the configuration in {config / name} "
                    f"(e.g. {', '.join(missing[:5])}); MiniGPT-5 needs Stable Diffusion 2.1-base (v2-1_512-ema-pruned)"
                )
            parts[name] = model
        prediction = prediction_type(checkpoint)
        del checkpoint
        scheduler = DDIMScheduler.from_pretrained(config / "scheduler", local_files_only=True,
                                                  prediction_type=prediction)
        return cls(parts["unet"], parts["vae"], scheduler)

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
        # min_snr_gamma <= 0 turns the weighting off (plain MSE of the prediction): with clean-sample
        # prediction, min(SNR, g) nearly zeroes the noisy steps where the conditioning matters most.
        clipped = torch.clamp(snr, max=min_snr_gamma) if min_snr_gamma > 0 else None
        kind = self.scheduler.config.prediction_type
        if kind == "epsilon":
            target, weight = noise, None if clipped is None else clipped / snr
        elif kind == "sample":
            target, weight = latents, clipped
        elif kind == "v_prediction":
            target, weight = self.scheduler.get_velocity(latents, noise, timesteps), None if clipped is None else clipped / (snr + 1)
        else:
            raise MiniGPT5Error(f"unsupported scheduler prediction_type {kind!r}")
        per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        return per_sample.mean() if weight is None else (per_sample * weight).mean()

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
        self, positive: torch.Tensor, negative: torch.Tensor, *, steps: int, guidance: float,
        seed: int | Sequence[int],
        height: int, width: int, consistency: ConsistencySettings | None = None,
    ) -> list[Image.Image]:
        """One picture per row of `positive` (N, 77, D); picture i is seeded with seed + i (or seed[i]).

        With `consistency` (ratio > 0) the N pictures share their looks (`consistency.consistent_attention`):
        then picture i depends on the whole batch, not only on its own row and seed."""
        if height % 8 or width % 8:
            raise MiniGPT5Error(f"height and width must be multiples of 8, got {height}x{width}")
        n = positive.shape[0]
        device = self.unet.device
        seeds = [seed + i for i in range(n)] if isinstance(seed, int) else list(seed)
        generators = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
        latent_shape = (1, self.unet.config.in_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = torch.cat([torch.randn(latent_shape, generator=g) for g in generators]).to(device, self.unet.dtype)
        with consistent_attention(self.unet, n, consistency or ConsistencySettings()) as clock:
            result = self.pipeline()(
                prompt_embeds=positive.to(device, self.unet.dtype),
                negative_prompt_embeds=negative.expand(n, -1, -1).to(device, self.unet.dtype),
                num_inference_steps=steps, guidance_scale=guidance, height=height, width=width,
                latents=latents, output_type="pil", callback_on_step_end=clock and clock.on_step_end,
            )
        return list(result.images)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


def _read_single_file(path: Path) -> dict[str, torch.Tensor]:
    """The UNet and VAE tensors of an original-layout checkpoint; the text encoder is never read."""
    wanted = (UNET_PREFIX, VAE_PREFIX)
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys() if k.startswith(wanted)}
        except (SafetensorError, OSError) as exc:
            raise MiniGPT5Error(f"{path} cannot be read as safetensors ({exc}); the file may be truncated — re-download it") from None
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise MiniGPT5Error(f"{path} is not a checkpoint file (expected {', '.join(SINGLE_FILE_SUFFIXES)})")
    from ..io.readers import read_pickle

    state = read_pickle(path, "Stable Diffusion checkpoint")  # weights_only=True
    return {k: v for k, v in state.items() if k.startswith(wanted)}


def _check_single_file(checkpoint: dict[str, torch.Tensor], path: Path, unet_config: dict) -> None:
    """Name the usual mistakes (a diffusers file, a UNet-only file, SD 1.x / SDXL) before diffusers does."""
    if not any(k.startswith(UNET_PREFIX) for k in checkpoint):
        raise MiniGPT5Error(
            f"{path} has no {UNET_PREFIX}* tensors: it is not a full Stable Diffusion checkpoint in the original "
            "layout (v2-1_512-ema-pruned.safetensors). For a diffusers folder use ImageGenerator.from_folder."
        )
    if not any(k.startswith(VAE_PREFIX) for k in checkpoint):
        raise MiniGPT5Error(f"{path} has no VAE ({VAE_PREFIX}* tensors); use a full SD 2.1-base checkpoint")
    context = checkpoint.get(UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
    expected = unet_config["cross_attention_dim"]
    if context is not None and context.shape[-1] != expected:
        family = {768: "Stable Diffusion 1.x", 2048: "SDXL"}.get(context.shape[-1], "another model")
        raise MiniGPT5Error(
            f"{path} looks like {family} (cross-attention width {context.shape[-1]}); MiniGPT-5's conditioning is "
            f"{expected} wide: use Stable Diffusion 2.1-base (v2-1_512-ema-pruned)"
        )


# SD 2.x files do not say what their UNet predicts; ComfyUI (comfy/supported_models.py, SD20.model_type)
# reads it from the spread of one LayerNorm bias in the last output block, and so do we: above 0.09 it is
# the 768-v model (v2-1_768-ema-pruned, v-prediction), below it SD 2.1-base (epsilon).
V_PREDICTION_STD = 0.09
_LAST_NORM = re.compile(re.escape(UNET_PREFIX) + r"output_blocks\.(\d+)\.1\.transformer_blocks\.0\.norm1\.bias")


def prediction_type(checkpoint: dict[str, torch.Tensor]) -> str:
    """"v_prediction" for a v-prediction SD 2.x UNet (the 768-v file), else "epsilon"; the file itself
    records neither. Sampling the 768-v UNet as epsilon draws noise, so the scheduler must know."""
    conv_in = checkpoint.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is not None and conv_in.shape[1] != 4:
        return "epsilon"  # SD 2.x inpainting UNets (9 input channels) are epsilon models
    blocks = [(int(m.group(1)), key) for key in checkpoint if (m := _LAST_NORM.fullmatch(key))]
    if not blocks:
        return "epsilon"
    spread = torch.std(checkpoint[max(blocks)[1]].float(), unbiased=False).item()
    return "v_prediction" if spread > V_PREDICTION_STD else "epsilon"


def images_to_tensor(images: list[Image.Image], size: int) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) in [-1, 1]: the VAE's input for the LDM loss target."""
    arrays = [
        np.asarray(to_rgb(im).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 127.5 - 1.0
        for im in images
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
