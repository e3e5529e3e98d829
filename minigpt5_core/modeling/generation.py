"""Interleaved decoding with a KV cache and voken capture.

The LLM writes text until it samples `[IMG0]`; then `[IMG1]..[IMG7]` are FED in one step (the model
never has to sample them), and decoding continues after `[IMG7]`. The image's voken features are
the last-layer hidden states at the 8 positions that PREDICT `[IMG0]..[IMG7]`: the state that
produced `[IMG0]` plus the states at `[IMG0]..[IMG6]`. A `DecodingSession` keeps the cache between
turns, so a story continued page after page never recomputes its history.

The fast path (`GenerationConfig.static_cache` / `compile_decode`) is what transformers offers for
CUDA decoding: a `StaticCache` preallocated for the LLM's whole context (fixed shapes, no per-token
allocation) and the one-token decode step through `torch.compile` (CUDA graphs on a GPU), which removes
the per-layer Python and kernel-launch overhead that keeps eager decoding of a 7B model far below the
memory-bandwidth bound. Prompts and voken groups (several positions at once) stay eager.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache, PreTrainedTokenizerBase, StaticCache
from transformers.generation.logits_process import (
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from ..config import is_finite_number, is_whole_number
from ..errors import MiniGPT5Error
from ..tokens import SpecialIds
from .hf_compat import cache_kwargs, output_cache

TokenCallback = Callable[[int], None]
SEED_RANGE = (0, 2**64 - 1)  # what torch.Generator.manual_seed accepts (and what prints as a plain number)
VOKEN_FORCING = ("turn-end", "official")


def check_seeds(seed: int, count: int = 1, what: str = "seed") -> None:
    """Raise MiniGPT5Error unless `seed`, `seed + 1`, ..., `seed + count - 1` are all usable seeds.

    Page i of a story is drawn with seed + i, so a story of `count` pages is checked as a whole, before any
    text is generated: an overflow on the last page after minutes of work helps nobody."""
    if not is_whole_number(seed):
        raise MiniGPT5Error(f"{what} must be a whole number, got {seed!r}")
    low, high = SEED_RANGE
    if seed < low or seed + max(count, 1) - 1 > high:
        span = f" (and the {count - 1} that follow it, one per page)" if count > 1 else ""
        raise MiniGPT5Error(f"{what} {seed}{span} must lie in {low}..{high - max(count, 1) + 1}; choose a smaller seed")


def _printable(text: str) -> str:
    """Drop control characters (an undertrained byte-level model can emit them; no page can print them)."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


@dataclass
class TextSegment:
    text: str


@dataclass
class VokenSegment:
    """One image to draw: the (num_vokens, H) voken features, float32 on CPU."""

    hidden: torch.Tensor


@dataclass
class InterleavedResult:
    """What one generation produced, in order: text and images (as voken features)."""

    segments: list[TextSegment | VokenSegment] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if isinstance(s, TextSegment) and s.text).strip()

    @property
    def num_images(self) -> int:
        return sum(isinstance(s, VokenSegment) for s in self.segments)

    @property
    def vokens(self) -> torch.Tensor:
        """(N, num_vokens, H) features of every image, in order; N may be 0."""
        groups = [s.hidden for s in self.segments if isinstance(s, VokenSegment)]
        if not groups:
            return torch.zeros(0, 0, 0)
        return torch.stack(groups)


@dataclass
class SamplingSettings:
    max_new_tokens: int
    temperature: float
    top_p: float
    repetition_penalty: float
    force_image: bool = False
    stop_text: str = "###"
    voken_forcing: str = "turn-end"  # or "official" (GenerationConfig.voken_forcing)

    def validate(self) -> None:
        """Raise MiniGPT5Error for a value sampling cannot use (NaN passes every comparison, so it is
        rejected explicitly: a NaN temperature would silently sample garbage)."""
        if not is_whole_number(self.max_new_tokens) or self.max_new_tokens < 1:
            raise MiniGPT5Error(f"max_new_tokens must be a whole number of at least 1, got {self.max_new_tokens!r}")
        for name in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(self, name)
            if not is_finite_number(value):
                raise MiniGPT5Error(f"{name} must be a finite number, got {value!r}")
        if self.temperature < 0:
            raise MiniGPT5Error(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise MiniGPT5Error(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise MiniGPT5Error(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if self.voken_forcing not in VOKEN_FORCING:
            raise MiniGPT5Error(f"voken_forcing must be one of {', '.join(VOKEN_FORCING)}, not {self.voken_forcing!r}")


class VokenMask(LogitsProcessor):
    """Tokens a turn never samples: [IMG1]..[IMG7] and <ImageHere> (turn-end forcing feeds the group after
    [IMG0]); and [IMG0] again once a forced turn has its one picture. The official forcing masks nothing."""

    def __init__(self, settings: SamplingSettings, ids: SpecialIds, result: InterleavedResult, device: torch.device):
        official = settings.voken_forcing == "official"
        # built once: indexing with a list converts it on every token
        self.never_sampled = torch.tensor([] if official else [*ids.vokens[1:], ids.image_placeholder],
                                          dtype=torch.long, device=device)
        self.one_picture = settings.force_image and not official
        self.first_voken = ids.first_voken
        self.result = result

    def __call__(self, input_ids: torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        scores[:, self.never_sampled] = float("-inf")
        if self.one_picture and self.result.num_images:
            scores[:, self.first_voken] = float("-inf")
        return scores


class OfficialVokenForcing(LogitsProcessor):
    """The official sampler's forcing (generation_helper.py, force_generation): until the turn has a picture,
    [IMG0] scores ten times the best score, after the other processors."""

    def __init__(self, first_voken: int, result: InterleavedResult):
        self.first_voken = first_voken
        self.result = result

    def __call__(self, input_ids: torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
        if not self.result.num_images:
            scores[:, self.first_voken] = 10 * scores.max()
        return scores


def turn_processors(settings: SamplingSettings, ids: SpecialIds, result: InterleavedResult,
                    device: torch.device) -> LogitsProcessorList:
    """The logits processors of one turn, in transformers' form and order: the voken rules, the repetition
    penalty, temperature and top-p; the official forcing last. `result` is the turn being written."""
    processors = LogitsProcessorList([VokenMask(settings, ids, result, device)])
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        processors.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(settings.top_p))
    if settings.force_image and settings.voken_forcing == "official":
        processors.append(OfficialVokenForcing(ids.first_voken, result))
    return processors


def compiled_decode_step(llm: torch.nn.Module) -> Callable:
    """`torch.compile` of the LLM's forward for one-token steps, kept on the LLM so that every session of a
    model reuses it (compiling takes seconds to minutes). "reduce-overhead" replays CUDA graphs on a GPU."""
    step = getattr(llm, "_minigpt5_decode_step", None)
    if step is None:
        step = torch.compile(llm.forward, mode="reduce-overhead", dynamic=False)
        llm._minigpt5_decode_step = step
    return step


class DecodingSession:
    """A growing sequence with its KV cache: feed embeddings or tokens, then sample a turn.

    `llm` is a causal LM (optionally peft-wrapped) returning logits and hidden states; `embed` maps
    token ids to input embeddings.
    """

    def __init__(self, llm: torch.nn.Module, embed: Callable[[torch.Tensor], torch.Tensor],
                 tokenizer: PreTrainedTokenizerBase, ids: SpecialIds, max_positions: int, *,
                 static_cache: bool = False, compile_decode: bool = False):
        if compile_decode and not static_cache:
            raise MiniGPT5Error("compile_decode needs static_cache=True (a compiled step wants fixed cache shapes)")
        self.llm = llm
        self.embed = embed
        self.tokenizer = tokenizer
        self.ids = ids
        self.max_positions = max_positions
        self.cache = StaticCache(config=llm.config, max_cache_len=max_positions) if static_cache else DynamicCache()
        self.decode_step = compiled_decode_step(llm) if compile_decode else llm
        self.length = 0
        self.device: torch.device | None = None  # where the embeddings fed so far live
        self.last_logits: torch.Tensor | None = None
        self.last_hidden: torch.Tensor | None = None

    @torch.no_grad()
    def feed_embeds(self, embeds: torch.Tensor) -> torch.Tensor:
        """Run (1, L, H) embeddings through the LLM with the cache; returns their last-layer states."""
        if self.length + embeds.shape[1] > self.max_positions:
            raise MiniGPT5Error(
                f"the sequence would grow to {self.length + embeds.shape[1]} positions but the LLM has "
                f"{self.max_positions}; shorten the prompt or the history, or lower max_new_tokens"
            )
        positions = torch.arange(self.length, self.length + embeds.shape[1], device=embeds.device).unsqueeze(0)
        forward = self.decode_step if embeds.shape[1] == 1 else self.llm
        out = forward(
            inputs_embeds=embeds, **cache_kwargs(self.cache), use_cache=True, output_hidden_states=True,
            position_ids=positions,
        )
        self.cache = output_cache(out)
        self.length += embeds.shape[1]
        self.device = embeds.device
        states = out.hidden_states[-1]
        self.last_logits = out.logits[:, -1].float()
        self.last_hidden = states[:, -1]
        return states

    def feed_tokens(self, token_ids: list[int]) -> torch.Tensor:
        tensor = torch.tensor([token_ids], device=self.device)
        return self.feed_embeds(self.embed(tensor))

    def sample_turn(
        self, settings: SamplingSettings, generator: torch.Generator, on_token: TokenCallback | None = None
    ) -> InterleavedResult:
        """Sample until the stop text, end-of-sequence, or the token budget; capture voken groups."""
        settings.validate()
        if self.last_logits is None:
            raise MiniGPT5Error("nothing was fed before sampling; give a prompt")
        result = InterleavedResult()
        processors = turn_processors(settings, self.ids, result, self.last_logits.device)
        text_ids: list[int] = []
        while len(result.token_ids) < settings.max_new_tokens:
            token = self.next_token(processors, result.token_ids, settings, generator)
            ends_turn = token == self.ids.eos or self._completes_stop(text_ids, token, settings.stop_text)
            token, ends_turn = self._force_picture(token, ends_turn, settings, result)
            if token == self.ids.first_voken and len(result.token_ids) + len(self.ids.vokens) > settings.max_new_tokens:
                break  # no room for a whole voken group: stop instead of leaving half an image
            if ends_turn:
                result.token_ids.append(token)
                if token != self.ids.eos:
                    self.feed_tokens([token])
            elif token == self.ids.first_voken:
                self._close_text(text_ids, result, settings.stop_text)
                self._feed_voken_group(result)
            else:
                text_ids.append(token)
                result.token_ids.append(token)
                self.feed_tokens([token])
            if on_token:
                on_token(len(result.token_ids))
            if ends_turn:
                break
        self._close_text(text_ids, result, settings.stop_text)
        return result

    def next_token(self, processors: LogitsProcessorList, generated: list[int], settings: SamplingSettings,
                   generator: torch.Generator) -> int:
        """The next token from the last logits, through the turn's processors (`turn_processors`)."""
        penalized = settings.repetition_penalty != 1.0  # only the repetition penalty reads the history
        history = torch.tensor([generated], dtype=torch.long, device=self.last_logits.device) if penalized else None
        return self._pick(processors(history, self.last_logits), settings.temperature, generator)

    def _force_picture(self, token: int, ends_turn: bool, settings: SamplingSettings,
                       result: InterleavedResult) -> tuple[int, bool]:
        """Turn-end forcing: a forced turn that would end, or run out of room, without a picture starts one."""
        if not settings.force_image or settings.voken_forcing == "official" or result.num_images:
            return token, ends_turn
        out_of_budget = settings.max_new_tokens - len(result.token_ids) <= len(self.ids.vokens)
        if ends_turn or out_of_budget:
            return self.ids.first_voken, False
        return token, ends_turn

    def _feed_voken_group(self, result: InterleavedResult) -> None:
        """Feed [IMG0]..[IMG7] in one step and keep the picture's features: the state that produced [IMG0]
        plus the states at [IMG0]..[IMG6] (the positions that predict the group)."""
        producer_state = self.last_hidden
        group = list(self.ids.vokens)
        states = self.feed_tokens(group)
        hidden = torch.cat([producer_state, states[0, : len(group) - 1]], dim=0)
        result.segments.append(VokenSegment(hidden.float().cpu()))
        result.token_ids.extend(group)

    def _close_text(self, text_ids: list[int], result: InterleavedResult, stop_text: str) -> None:
        """The text sampled since the last picture becomes a segment (without the stop text)."""
        text = _printable(self.tokenizer.decode(text_ids, skip_special_tokens=True))
        text = text.replace(stop_text, " ").strip().rstrip("#").strip()
        if text:
            result.segments.append(TextSegment(text))
        text_ids.clear()

    @staticmethod
    def _pick(scores: torch.Tensor, temperature: float, generator: torch.Generator) -> int:
        if temperature == 0:
            return int(scores.argmax(dim=-1))
        probs = torch.softmax(scores.float().cpu(), dim=-1)
        return int(torch.multinomial(probs, 1, generator=generator))

    def _completes_stop(self, text_ids: list[int], token: int, stop_text: str) -> bool:
        tail = self.tokenizer.decode(text_ids[-4:] + [token], skip_special_tokens=True)
        return tail.rstrip().endswith(stop_text)
