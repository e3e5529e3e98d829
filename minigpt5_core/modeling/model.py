"""`MiniGPT5`: the composed model — image encoder, voken LLM, mapper, and (optionally) the generator.

Read top to bottom: construction, prompt embedding, generation (text + voken features), stories, the
voken -> conditioning path, picture rendering, and how a training sample becomes LLM inputs. Saving and
loading live in `pretrained.py`, the story loop in `story.py`; the losses and the per-stage trainable sets
are at the library's edge (`minigpt5_core.train`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..config import MiniGPT5Config, is_finite_number, is_whole_number
from ..errors import MiniGPT5Error, NoPictureError
from ..prompts import TrainingSample, chat_message
from ..tokens import IMAGE_PLACEHOLDER, SpecialIds, add_new_tokens, check_tokenizer
from .consistency import ConsistencySettings
from .diffusion import ImageGenerator
from .generation import DecodingSession, InterleavedResult, SamplingSettings, TokenCallback, check_seeds
from .llm import add_adapter, build_llm, merge_adapter
from .mapper import VokenMapper
from .pretrained import PretrainedMixin
from .story import StoryResult, write_story
from .vision import ImageEncoder, preprocess_images

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
MAX_PICTURE_SIDE = 2048  # pixels; SD 2.1 draws at 512-768, and 2048x2048 already needs ~20 GB on a GPU
MAX_STEPS = 1000  # diffusion steps; the scheduler's training timesteps


def check_picture_settings(steps: int, guidance: float, height: int, width: int) -> None:
    """Raise MiniGPT5Error unless the values can draw a picture (a side of 2**20 would run until memory ends)."""
    if not is_whole_number(steps) or not 1 <= steps <= MAX_STEPS:
        raise MiniGPT5Error(f"steps must be a whole number in 1..{MAX_STEPS}, got {steps!r}")
    if not is_finite_number(guidance) or guidance < 0:
        raise MiniGPT5Error(f"guidance must be a finite number >= 0 (1 = no guidance), got {guidance!r}")
    for name, side in (("height", height), ("width", width)):
        if not is_whole_number(side) or not 8 <= side <= MAX_PICTURE_SIDE or side % 8:
            raise MiniGPT5Error(f"{name} must be a multiple of 8 in 8..{MAX_PICTURE_SIDE} pixels, got {side!r}")


class MiniGPT5(PretrainedMixin, nn.Module):
    def __init__(
        self, config: MiniGPT5Config, tokenizer: PreTrainedTokenizerBase | None,
        image_generator: ImageGenerator | None = None,
    ):
        super().__init__()
        config.validate()
        self.config = config
        self.tokenizer = tokenizer
        self.special_ids: SpecialIds | None = None
        if tokenizer is not None:
            add_new_tokens(tokenizer, config.num_vokens)
            if config.llm.vocab_size in (0, len(tokenizer)):
                config.llm.vocab_size = len(tokenizer)
            self.special_ids = check_tokenizer(tokenizer, config.num_vokens, config.llm.vocab_size)
        llm_cfg = config.llm
        self.encoder = ImageEncoder(config.vision, llm_cfg.hidden_size)
        self.llm: nn.Module = build_llm(llm_cfg)
        self.mapper = VokenMapper(config.mapper, llm_cfg.hidden_size)
        self.image_generator = image_generator
        self.adapter_stage: int | None = None  # which training stage's peft adapter wraps self.llm
        self.encoder.requires_grad_(False)

    @classmethod
    def from_config(
        cls, config: MiniGPT5Config, *, tokenizer: PreTrainedTokenizerBase | None = None, seed: int = 0,
    ) -> "MiniGPT5":
        """A randomly initialised model (seeded). Tiny presets bring their own tokenizer and generator.

        For shape checks of the official configuration, build it under `torch.device("meta")`.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if tokenizer is None and config.llm.tokenizer == "tiny-bpe":
                from .tiny_tokenizer import build_tiny_tokenizer

                tokenizer = build_tiny_tokenizer()
            generator = ImageGenerator.tiny_random(config.diffusion) if config.diffusion.kind == "tiny-random" else None
            model = cls(config, tokenizer, generator)
        return model.eval()

    # `save_pretrained` / `from_pretrained` come from PretrainedMixin (pretrained.py).

    def wrap_adapter(self, stage: int) -> None:
        """Put the training stage's peft adapter around the LLM, merging an earlier stage's adapter first."""
        if self.adapter_stage == stage:
            return
        if self.adapter_stage is not None and self.adapter_stage > stage:
            raise MiniGPT5Error(f"the model already carries stage-{self.adapter_stage} adapters; stage {stage} comes before it")
        self.merge_adapters()
        rows = self.special_ids.new_rows if self.special_ids else list(
            range(self.config.llm.vocab_size - self.config.num_vokens - 1, self.config.llm.vocab_size))
        self.llm = add_adapter(self.llm, stage, self.config.llm, rows, stage1_lora=self.config.training.stage1_lora)
        self.adapter_stage = stage

    def merge_adapters(self) -> None:
        """Fold the LLM's peft adapter, if any, into plain weights (for inference or export)."""
        if self.adapter_stage is not None:
            self.llm = merge_adapter(self.llm)
            self.adapter_stage = None

    @property
    def device(self) -> torch.device:
        return self.mapper.t2i_decoder_prompt.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mapper.t2i_decoder_prompt.dtype

    @property
    def llm_device(self) -> torch.device:
        """Where the LLM lives; the encoder, LLM and mapper may sit on different devices."""
        return next(self.llm.parameters()).device

    @property
    def llm_dtype(self) -> torch.dtype:
        return next(self.llm.parameters()).dtype

    # ---- inputs ---------------------------------------------------------------------------------

    def require_tokenizer(self) -> SpecialIds:
        if self.tokenizer is None or self.special_ids is None:
            raise MiniGPT5Error("this model has no tokenizer; load it with MiniGPT5.from_pretrained(folder)")
        return self.special_ids

    def embed_tokens(self, token_ids: torch.Tensor) -> torch.Tensor:
        table = self.llm.get_input_embeddings()  # its own device: `llm_device` walks the parameters (per token)
        return table(token_ids.to(table.weight.device))

    def encode_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images (any mode/size) -> (N, num_query_tokens, H) LLM input embeddings."""
        pixels = preprocess_images(images, self.config.vision.image_size).to(self.encoder.proj.weight.device)
        return self.encoder(pixels).to(self.llm_device, self.llm_dtype)

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids if text else []

    def _first_token_id(self) -> int:
        ids = self.require_tokenizer()
        return ids.eos if self.config.llm.first_token == "eos" else ids.bos

    @staticmethod
    def _check_placeholders(text: str, num_images: int, what: str) -> None:
        found = text.count(IMAGE_PLACEHOLDER)
        if found != num_images:
            raise MiniGPT5Error(
                f"{what} has {found} {IMAGE_PLACEHOLDER} placeholders but {num_images} images were given; "
                "give one image per placeholder"
            )

    def _embed_source(self, text: str, image_embeds: Sequence[torch.Tensor]) -> torch.Tensor:
        """First-token embedding + text, the i-th `<ImageHere>` replaced by `image_embeds[i]`: (L, H).

        The whole text is tokenised at once and the pictures put where the placeholder ids are, as the
        official `input_warp` does: the tokenizer alone decides what happens to whitespace around them.
        """
        placeholder = self.require_tokenizer().image_placeholder
        ids = self.text_ids(text)
        chunks = [self.embed_tokens(torch.tensor([self._first_token_id()]))]
        start, images = 0, iter(image_embeds)
        for position in [i for i, t in enumerate(ids) if t == placeholder] + [len(ids)]:
            if position > start:
                chunks.append(self.embed_tokens(torch.tensor(ids[start:position])))
            if position < len(ids):
                chunks.append(next(images))
            start = position + 1
        return torch.cat(chunks)

    def embed_prompt(self, text: str, images: Sequence[Image.Image] = ()) -> torch.Tensor:
        """First-token embedding + text, each `<ImageHere>` replaced by one image's embeddings: (1, L, H)."""
        self.require_tokenizer()
        self._check_placeholders(text, len(images), "the prompt")
        image_embeds = list(self.encode_images(images)) if images else []
        return self._embed_source(text, image_embeds).unsqueeze(0)

    def chat_text(self, prompt: str, num_images: int) -> str:
        """The user's message as one chat turn of the model's prompt style (`prompts.chat_message`)."""
        if not prompt or not prompt.strip():
            raise MiniGPT5Error("the prompt is empty; write what the model should continue or describe")
        return chat_message(prompt, num_images, self.config.system_prompt, self.config.prompt_style)

    def start_session(
        self, prompt: str, images: Sequence[Image.Image] = (), *, template: bool = True, reserve: int = 0,
        session_class: type[DecodingSession] = DecodingSession,
    ) -> DecodingSession:
        """Feed the prompt (chat template unless `template=False`) and return the session to sample from.

        `session_class` is the decoding loop to use: a subclass that records or changes how the LLM is fed (the
        KV-cache bench's cache-less baseline) plugs in here.

        Over-long history: when the images (given without placeholders) and the text would leave fewer
        than `reserve` positions for the answer, the OLDEST images are dropped, with a warning.
        """
        ids = self.require_tokenizer()
        images = self._fit_history(prompt, list(images), reserve) if template else list(images)
        text = self.chat_text(prompt, len(images)) if template else prompt
        gen = self.config.generation
        session = session_class(
            self.llm, self.embed_tokens, self.tokenizer, ids, self.config.llm.max_position_embeddings,
            static_cache=gen.static_cache, compile_decode=gen.compile_decode,
        )
        with torch.no_grad():
            session.feed_embeds(self.embed_prompt(text, images))
        return session

    def _prompt_length(self, text: str, num_images: int) -> int:
        return 1 + len(self.text_ids(text.replace(IMAGE_PLACEHOLDER, ""))) + num_images * self.config.vision.num_query_tokens

    def _fit_history(self, prompt: str, images: list[Image.Image], reserve: int) -> list[Image.Image]:
        if not images or IMAGE_PLACEHOLDER in prompt:
            return images
        limit = self.config.llm.max_position_embeddings - reserve
        kept = list(images)
        while kept and self._prompt_length(self.chat_text(prompt, len(kept)), len(kept)) > limit:
            kept.pop(0)
        if len(kept) < len(images):
            message = (
                f"the history has {len(images)} images but only {len(kept)} fit in the LLM's "
                f"{self.config.llm.max_position_embeddings} positions with {reserve} left for the answer; "
                f"the {len(images) - len(kept)} oldest were dropped"
            )
            warnings.warn(message, stacklevel=3)
            logger.warning(message)
        return kept

    def sampling_settings(
        self, max_new_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
        repetition_penalty: float | None = None, force_image: bool = False,
    ) -> SamplingSettings:
        """The settings of one turn: the given values, the model's `generation` config for those left None."""
        gen = self.config.generation
        return SamplingSettings(
            max_new_tokens=gen.max_new_tokens if max_new_tokens is None else max_new_tokens,
            temperature=gen.temperature if temperature is None else temperature,
            top_p=gen.top_p if top_p is None else top_p,
            repetition_penalty=gen.repetition_penalty if repetition_penalty is None else repetition_penalty,
            force_image=force_image, stop_text=gen.stop_text, voken_forcing=gen.voken_forcing,
        )

    # ---- generation -----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self, prompt: str, images: Sequence[Image.Image] | None = None, *, seed: int = 0,
        max_new_tokens: int | None = None, force_image: bool = False, temperature: float | None = None,
        top_p: float | None = None, repetition_penalty: float | None = None,
        on_token: TokenCallback | None = None, template: bool = True,
    ) -> InterleavedResult:
        """One assistant turn: text and images (voken features), in order. Seeded runs repeat exactly.

        `on_token(n)` is called after every generated token with the count so far; raising from it
        aborts generation (used for progress bars and cancel buttons).
        """
        settings = self.sampling_settings(max_new_tokens, temperature, top_p, repetition_penalty, force_image)
        settings.validate()
        check_seeds(seed)
        session = self.start_session(prompt, list(images or []), template=template, reserve=settings.max_new_tokens)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        return session.sample_turn(settings, generator, on_token)

    @torch.no_grad()
    def story(
        self, opening: str, *, pages: int, seed: int = 0, images: Sequence[Image.Image] | None = None,
        max_new_tokens_per_page: int | None = None, temperature: float | None = None, top_p: float | None = None,
        repetition_penalty: float | None = None, on_token: TokenCallback | None = None,
    ) -> StoryResult:
        """Continue a story for `pages` pages, each with text and exactly one picture (`story.write_story`).

        The settings and `seed` are checked before any text is written; page i's picture is meant to be drawn
        with seed + i, so every one of those seeds must be valid too."""
        settings = self.sampling_settings(max_new_tokens_per_page, temperature, top_p, repetition_penalty, True)
        settings.validate()
        check_seeds(seed, pages)
        return write_story(self.start_session, opening, pages=pages, settings=settings, seed=seed,
                           images=list(images or []), on_token=on_token)

    # ---- vokens -> conditioning -> pictures -----------------------------------------------------

    def conditioning(self, vokens: torch.Tensor | InterleavedResult) -> tuple[torch.Tensor, torch.Tensor]:
        """Voken features (N, 8, H) -> (positive (N, 77, D), negative (1, 77, D)), float32.

        The negative is mapper(zeros): the learned null that CFG dropout trained, not SD's "" prompt.
        """
        if isinstance(vokens, InterleavedResult):
            vokens = vokens.vokens
        if vokens.dim() != 3 or vokens.shape[0] == 0:
            raise NoPictureError(
                "there are no images to condition on: the model produced no voken group. Use force_image=True "
                "or a prompt that asks for a picture"
            )
        expected = (self.config.num_vokens, self.config.llm.hidden_size)
        if tuple(vokens.shape[1:]) != expected:
            raise MiniGPT5Error(f"voken features must have shape (N, {expected[0]}, {expected[1]}), got {tuple(vokens.shape)}")
        with torch.no_grad():
            positive = self.mapper(vokens.to(self.device, self.dtype)).float()
            negative = self.mapper.null_conditioning(self.config.num_vokens).float()
        return positive, negative

    def render_images(
        self, result: InterleavedResult | torch.Tensor, *, steps: int | None = None, guidance: float | None = None,
        seed: int | Sequence[int] = 0, height: int | None = None, width: int | None = None,
        consistency: ConsistencySettings | None = None,
    ) -> list[Image.Image]:
        """Draw every image of `result` through diffusers' StableDiffusionPipeline (prompt embeddings only).

        Image i is seeded with seed + i, or seed[i] given one seed per image. None means the model's default;
        other values are checked (`check_picture_settings`: sides are multiples of 8 up to MAX_PICTURE_SIDE
        pixels). `consistency` (ratio > 0) draws the images as one story whose pictures share their looks
        (`modeling.consistency`): then each image depends on the whole batch."""
        if self.image_generator is None:
            raise MiniGPT5Error(
                "this model was loaded without an image generator; load a folder with an sd/ subfolder, or pass "
                "MiniGPT5.from_pretrained(folder, image_generator=<local SD 2.1-base folder or "
                "v2-1_512-ema-pruned.safetensors>)"
            )
        diffusion = self.config.diffusion
        steps = diffusion.num_inference_steps if steps is None else steps
        guidance = diffusion.guidance_scale if guidance is None else guidance
        height = diffusion.resolution if height is None else height
        width = diffusion.resolution if width is None else width
        check_picture_settings(steps, guidance, height, width)
        positive, negative = self.conditioning(result)
        if isinstance(seed, int):
            check_seeds(seed, positive.shape[0])
        else:
            if len(seed) != positive.shape[0]:
                raise MiniGPT5Error(f"{len(seed)} seeds for {positive.shape[0]} images; give one seed per image")
            for each in seed:
                check_seeds(each)
        return self.image_generator.render(positive, negative, steps=steps, guidance=guidance, seed=seed,
                                           height=height, width=width, consistency=consistency)

    # ---- training inputs --------------------------------------------------------------------------

    def encode_sample(self, sample: TrainingSample, image_embeds: list[torch.Tensor]):
        """-> (embeds (L, H), labels (L,), IMG0 positions) for one sample; `image_embeds` are consumed.

        Labels are -100 on the source, the images and [IMG1]..[IMG6] (MINIGPT5_SPEC.md §4); the training
        losses (`train.losses`) and the toy trainer both build their batches from this.
        """
        ids = self.special_ids
        self._check_placeholders(sample.source, len(sample.input_images), "a training sample")
        own_images = [image_embeds.pop(0) for _ in sample.input_images]
        chunks = [self._embed_source(sample.source, own_images)]
        source_len = chunks[0].shape[0]
        # official: source and target tokenised apart (dataloader.py); v0.1 trained on them joined by a space
        joined = sample.source and self.config.prompt_style == "v0.1"
        target_ids = self.text_ids(" " + sample.target if joined else sample.target)
        chunks.append(self.embed_tokens(torch.tensor(target_ids)))
        labels = torch.full((source_len + len(target_ids),), IGNORE_INDEX, dtype=torch.long)
        labels[source_len:] = torch.tensor(target_ids)
        starts = []
        vokens = list(ids.vokens)
        for j, token in enumerate(target_ids):
            if token == ids.first_voken:
                if target_ids[j : j + len(vokens)] != vokens:
                    raise MiniGPT5Error(f"a target has [IMG0] without the full group {vokens}: {sample.target!r}")
                starts.append(source_len + j)
                labels[source_len + j + 1 : source_len + j + len(vokens) - 1] = IGNORE_INDEX  # [IMG1]..[IMG6]
        if len(starts) != len(sample.output_images):
            raise MiniGPT5Error(
                f"a target has {len(starts)} voken groups but {len(sample.output_images)} output images"
            )
        return torch.cat(chunks), labels, starts

    _encode_sample = encode_sample  # the name shared/tools/parity calls
