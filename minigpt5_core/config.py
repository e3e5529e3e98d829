"""One dataclass for the whole model, with presets.

`minigpt5-7b` has the official shapes (MINIGPT5_SPEC.md §1) and is meant for real weights or for
shape checks on the meta device; `tiny` builds every part small and random in seconds on CPU, for
tests. Behaviour switches are fields here, never environment variables.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import MiniGPT5Error

# How text becomes tokens: "official" is eric-ai-lab/MiniGPT-5's formats (its VIST/CC3M templates, source and
# target tokenised apart); "v0.1" the formats this project's 0.1 release trained with (its bundled toy model
# keeps them). docs/fidelity.md lists the differences.
PROMPT_STYLES = ("official", "v0.1")
LEGACY_PROMPT_STYLE = "v0.1"  # what a config.json written before `prompt_style` existed was made with

VIST_SYSTEM_PROMPT = (
    "Give the following images in <Img>ImageContent</Img> format. You will be able to see the images "
    "once I provide it to you. Please understanding images and generate story."
)


def is_whole_number(value: object) -> bool:
    """An int that is not a bool (JSON's true would otherwise pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """An int or float, not a bool, neither NaN nor infinite (NaN passes every comparison)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_prompt_style(style: str) -> None:
    if style not in PROMPT_STYLES:
        raise MiniGPT5Error(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, not {style!r}")


@dataclass
class VisionConfig:
    """EVA ViT-g (as a transformers BLIP-2 vision model) + Q-Former + projection into the LLM."""

    image_size: int = 224
    patch_size: int = 14
    hidden_size: int = 1408
    intermediate_size: int = 6144
    num_layers: int = 39
    num_heads: int = 16
    num_query_tokens: int = 32
    qformer_hidden_size: int = 768
    qformer_intermediate_size: int = 3072
    qformer_layers: int = 12
    qformer_heads: int = 12
    qformer_cross_attention_frequency: int = 2


@dataclass
class LLMConfig:
    """LLaMA-style decoder (Vicuna v0 7B in the official model) and the adapters trained on it."""

    vocab_size: int = 32009  # includes the 9 new tokens; official files: read from the checkpoint
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_layers: int = 32
    num_heads: int = 32
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    # Which token's embedding starts every sequence. The released checkpoints were trained with
    # `</s>` ("eos"); later official code uses `<s>` ("bos").
    first_token: str = "eos"
    # "tiny-bpe": a byte-level BPE trained in-process (tiny/toy presets); "external": a tokenizer
    # saved in the model folder (real weights).
    tokenizer: str = "external"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = ("q_proj", "v_proj")


@dataclass
class MapperConfig:
    """fc MLP + torch nn.Transformer + learned queries: voken states -> SD text-conditioning space."""

    d_model: int = 1024
    num_heads: int = 8
    num_encoder_layers: int = 4
    num_decoder_layers: int = 4
    ffn_dim: int = 4096
    num_queries: int = 77


@dataclass
class DiffusionConfig:
    """The image generator side: shapes the mapper must match, loss and sampling defaults."""

    # "external": SD 2.1-base comes from elsewhere (a diffusers folder, or ComfyUI's loaders);
    # "tiny-random": a tiny random UNet/VAE/text encoder with the same diffusers classes (tests).
    kind: str = "external"
    cross_attention_dim: int = 1024
    resolution: int = 512
    caption_max_length: int = 77
    min_snr_gamma: float = 5.0
    guidance_scale: float = 7.5
    num_inference_steps: int = 50


@dataclass
class GenerationConfig:
    """Sampling defaults of the official demo."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 0.9
    repetition_penalty: float = 2.0
    stop_text: str = "###"
    # The CUDA fast path (modeling/generation.py): a KV cache preallocated for the whole context, and
    # torch.compile of the one-token step (needs static_cache). Same tokens as the default path; on a
    # CPU it brings nothing but compile time, hence off by default.
    static_cache: bool = False
    compile_decode: bool = False
    # How a requested picture is brought about (modeling/generation.py): "turn-end" (ours) lets the model
    # write, masks [IMG1..7]/<ImageHere> and forces [IMG0] only where the turn would end without a picture;
    # "official" is the official sampler (generation_helper.py): no masks, [IMG0] scored 10x the best score
    # at every step until one is written. Converted official models get "official" (docs/fidelity.md).
    voken_forcing: str = "turn-end"


@dataclass
class OptimizerConfig:
    """AdamW and its linear warm-up/decay schedule (the official runs' values). The one place these settings are
    declared: a model's `training` carries them, and a training run's file overrides them under "optimizer"."""

    learning_rate: float = 2e-5
    mapper_lr_multiplier: float = 10.0
    weight_decay: float = 0.01
    adam_eps: float = 1e-8
    warmup_steps: int = 1000


@dataclass
class TrainingConfig(OptimizerConfig):
    """Loss weights, classifier-free-guidance dropout and (from OptimizerConfig) the optimiser settings of the
    official runs."""

    text_loss_weight: float = 0.01
    ldm_loss_weight: float = 1.0
    caption_loss_weight: float = 0.1
    cfg_dropout: float = 0.1
    cc3m_chat_fraction: float = 0.01
    # Stage 1 also adapts the LLM with LoRA (the `llm.lora_*` settings), merged before stage 2. Off in the
    # official recipe, where a frozen 7B LLM's states already separate captions; see the toy preset.
    stage1_lora: bool = False


@dataclass
class MiniGPT5Config:
    """The whole model. `preset(name)` gives the official or the tiny configuration."""

    name: str = "minigpt5-7b"
    num_vokens: int = 8
    vision: VisionConfig = field(default_factory=VisionConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    mapper: MapperConfig = field(default_factory=MapperConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    system_prompt: str = VIST_SYSTEM_PROMPT
    prompt_style: str = "official"

    PRESETS = ("minigpt5-7b", "tiny", "toy")

    @classmethod
    def preset(cls, name: str) -> "MiniGPT5Config":
        """Return a fresh configuration for `name` (one of `MiniGPT5Config.PRESETS`)."""
        if name == "minigpt5-7b":
            return cls(name=name)
        if name == "tiny":
            return cls(
                name="tiny",
                vision=VisionConfig(
                    image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_layers=2,
                    num_heads=4, num_query_tokens=32, qformer_hidden_size=32, qformer_intermediate_size=64,
                    qformer_layers=2, qformer_heads=4,
                ),
                llm=LLMConfig(
                    vocab_size=0, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
                    max_position_embeddings=1024, rms_norm_eps=1e-6, tokenizer="tiny-bpe",
                ),
                # d_model stays 1024 so the conditioning fits an SD 2.x UNet (ComfyUI detects SD2 by it).
                mapper=MapperConfig(d_model=1024, num_heads=8, num_encoder_layers=1, num_decoder_layers=1,
                                    ffn_dim=1024),
                diffusion=DiffusionConfig(kind="tiny-random", resolution=32, num_inference_steps=4),
                generation=GenerationConfig(max_new_tokens=48),
            )
        if name == "toy":
            # The bundled shapes-world model (minigpt5_core.shapes): a 32 px generator with a 128-wide
            # text encoder (so the mapper's d_model is 128), clean-sample prediction, low guidance.
            return cls(
                name="toy",
                vision=VisionConfig(
                    image_size=32, patch_size=8, hidden_size=64, intermediate_size=128, num_layers=2,
                    num_heads=4, num_query_tokens=8, qformer_hidden_size=64, qformer_intermediate_size=128,
                    qformer_layers=2, qformer_heads=4,
                ),
                llm=LLMConfig(
                    vocab_size=0, hidden_size=256, intermediate_size=512, num_layers=4, num_heads=4,
                    max_position_embeddings=512, rms_norm_eps=1e-6, first_token="bos", tokenizer="external",
                ),
                mapper=MapperConfig(d_model=128, num_heads=4, num_encoder_layers=2, num_decoder_layers=2,
                                    ffn_dim=256, num_queries=32),
                diffusion=DiffusionConfig(kind="external", cross_attention_dim=128, resolution=32,
                                          caption_max_length=32, guidance_scale=2.0, num_inference_steps=20,
                                          min_snr_gamma=0.0),
                generation=GenerationConfig(max_new_tokens=40, temperature=0.7, top_p=0.9, repetition_penalty=1.0),
                # caption_loss_weight 1.0: with clean-sample prediction the LDM loss is small, and at the
                # official 0.1 the caption term could not pull the mapper onto the caption features.
                # stage1_lora stays off: stage 2 undoes what it gains. Measured: docs/shapes-experiments.md.
                training=TrainingConfig(text_loss_weight=0.1, caption_loss_weight=1.0, learning_rate=1e-3,
                                        mapper_lr_multiplier=1.0, warmup_steps=50, cc3m_chat_fraction=0.05),
                prompt_style="v0.1",  # the bundled shapes model was trained with these formats
            )
        raise MiniGPT5Error(f"unknown preset {name!r}; choose one of {', '.join(cls.PRESETS)}")

    def validate(self) -> None:
        """Raise `MiniGPT5Error` when parts cannot fit together, or a count is beyond any model's (checked
        before anything is built: `num_layers: 1000000` would otherwise run until time or memory ends)."""
        _check_bounds(self)
        if self.mapper.d_model != self.diffusion.cross_attention_dim:
            raise MiniGPT5Error(
                f"mapper.d_model ({self.mapper.d_model}) must equal diffusion.cross_attention_dim "
                f"({self.diffusion.cross_attention_dim}): the mapper output is used directly as prompt_embeds"
            )
        if self.num_vokens < 1:
            raise MiniGPT5Error("num_vokens must be at least 1")
        if self.llm.first_token not in ("eos", "bos"):
            raise MiniGPT5Error(f"llm.first_token must be 'eos' or 'bos', not {self.llm.first_token!r}")
        check_prompt_style(self.prompt_style)
        if self.diffusion.kind not in ("external", "tiny-random"):
            raise MiniGPT5Error(f"diffusion.kind must be 'external' or 'tiny-random', not {self.diffusion.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MiniGPT5Config":
        """Inverse of `to_dict`; unknown keys are an error so that typos do not pass silently."""
        sections = {
            "vision": VisionConfig, "llm": LLMConfig, "mapper": MapperConfig, "diffusion": DiffusionConfig,
            "generation": GenerationConfig, "training": TrainingConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MiniGPT5Error(f"config.json has unknown fields {sorted(unknown)}")
        kwargs: dict[str, Any] = {"prompt_style": LEGACY_PROMPT_STYLE}
        for key, value in data.items():
            if key in sections:
                section_cls = sections[key]
                section_known = {f.name for f in dataclasses.fields(section_cls)}
                bad = set(value) - section_known
                if bad:
                    raise MiniGPT5Error(f"config.json section {key!r} has unknown fields {sorted(bad)}")
                if key == "llm" and "lora_target_modules" in value:
                    value = {**value, "lora_target_modules": tuple(value["lora_target_modules"])}
                kwargs[key] = section_cls(**value)
            else:
                kwargs[key] = value
        cfg = cls(**kwargs)
        _check_value_types(cfg, cls(), "")
        cfg.validate()
        return cfg


# The widest range each count may take, far beyond any released model (MiniGPT-5 7B: 8 vokens, LLaMA 4096 wide,
# 32 layers, 32 heads) yet small enough that a typo stops here instead of building for hours.
_BOUNDS: dict[str, tuple[int, int]] = {
    "num_vokens": (1, 64),
    "vision.image_size": (1, 4096), "vision.patch_size": (1, 4096), "vision.hidden_size": (1, 2**16),
    "vision.intermediate_size": (1, 2**18), "vision.num_layers": (1, 1024), "vision.num_heads": (1, 1024),
    "vision.num_query_tokens": (1, 1024), "vision.qformer_hidden_size": (1, 2**16),
    "vision.qformer_intermediate_size": (1, 2**18), "vision.qformer_layers": (1, 1024),
    "vision.qformer_heads": (1, 1024), "vision.qformer_cross_attention_frequency": (1, 1024),
    "llm.vocab_size": (0, 2**22), "llm.hidden_size": (1, 2**16), "llm.intermediate_size": (1, 2**18),
    "llm.num_layers": (1, 1024), "llm.num_heads": (1, 1024), "llm.max_position_embeddings": (1, 2**20),
    "llm.lora_r": (0, 2**12),
    "mapper.d_model": (1, 2**16), "mapper.num_heads": (1, 1024), "mapper.num_encoder_layers": (1, 1024),
    "mapper.num_decoder_layers": (1, 1024), "mapper.ffn_dim": (1, 2**18), "mapper.num_queries": (1, 1024),
    "diffusion.cross_attention_dim": (1, 2**16), "diffusion.resolution": (8, 2**14),
    "diffusion.caption_max_length": (1, 2**12), "generation.max_new_tokens": (0, 2**20),
}
# Widths that attention splits into heads: a width the head count does not divide cannot be built.
_HEADS = (("vision.hidden_size", "vision.num_heads"), ("vision.qformer_hidden_size", "vision.qformer_heads"),
          ("llm.hidden_size", "llm.num_heads"), ("mapper.d_model", "mapper.num_heads"))


def _field(config: MiniGPT5Config, name: str) -> Any:
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _check_bounds(config: MiniGPT5Config) -> None:
    for name, (low, high) in _BOUNDS.items():
        value = _field(config, name)
        if not is_whole_number(value) or not low <= value <= high:
            raise MiniGPT5Error(f"{name} must be a whole number in {low}..{high}, got {value!r}")
    for width, heads in _HEADS:
        if _field(config, width) % _field(config, heads):
            raise MiniGPT5Error(f"{width} ({_field(config, width)}) must be a multiple of {heads} "
                                f"({_field(config, heads)})")


def implied_weight_bytes(config: MiniGPT5Config) -> dict[str, int]:
    """A lower bound on the bytes each part of a model of `config` stores: its large matrices, at one byte a
    number (no model folder stores narrower). A config.json that claims more than its weight files hold is
    refused before the model is built, however large it says the model is."""
    v, llm, m = config.vision, config.llm, config.mapper
    return {
        "vision": v.num_layers * (4 * v.hidden_size ** 2 + 2 * v.hidden_size * v.intermediate_size)
        + v.qformer_layers * (4 * v.qformer_hidden_size ** 2 + 2 * v.qformer_hidden_size * v.qformer_intermediate_size),
        "llm": llm.num_layers * (4 * llm.hidden_size ** 2 + 3 * llm.hidden_size * llm.intermediate_size)
        + llm.vocab_size * llm.hidden_size,
        "mapper": (m.num_encoder_layers + m.num_decoder_layers) * (4 * m.d_model ** 2 + 2 * m.d_model * m.ffn_dim),
    }


def _check_value_types(values: object, reference: object, where: str) -> None:
    """Every field has the kind of value its default has (a count is a whole number >= 0, a number is finite):
    `"hidden_size": "big"` is reported here, not as a TypeError from deep inside torch."""
    for item in dataclasses.fields(values):
        value, default, name = getattr(values, item.name), getattr(reference, item.name), where + item.name
        if dataclasses.is_dataclass(default):
            _check_value_types(value, default, name + ".")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise MiniGPT5Error(f"{name} must be true or false, got {value!r}")
        elif isinstance(default, int):
            if not is_whole_number(value) or value < 0:
                raise MiniGPT5Error(f"{name} must be a whole number >= 0, got {value!r}")
        elif isinstance(default, float):
            if not is_finite_number(value):
                raise MiniGPT5Error(f"{name} must be a finite number, got {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise MiniGPT5Error(f"{name} must be a string, got {value!r}")
        elif isinstance(default, tuple) and not all(isinstance(v, str) for v in value):
            raise MiniGPT5Error(f"{name} must be a list of strings, got {value!r}")
