"""Consistent self-attention across the pictures of one batch (StoryDiffusion, Zhou et al. 2024).

Stable Diffusion draws every page of a story on its own, so the fox of page 1 and the fox of page 4 are two
different foxes. StoryDiffusion's training-free fix: while the pages are drawn together in one batch, the
self-attention of the UNet's UP blocks lets each page's queries also see a random sample of the OTHER pages'
tokens, so the pages borrow each other's looks. This module is that method as the authors' code defines it
(`SpatialAttnProcessor2_0` in HVision-NKU/StoryDiffusion), torch only, shared by the diffusers sampling
(`ConsistentAttnProcessor`) and the ComfyUI node (nodes/consistency.py):

- keys/values of page i = [sampled tokens of every other page j, in page order] + [all tokens of page i];
- the sample is drawn afresh every step and shared by all layers of one feature-map resolution and by the
  cond and uncond halves (each half borrows from its own half);
- never at step 0; from `start_step` on each layer applies it with probability 0.7 before step 20 and 0.9 after.

Where we differ, and why: the authors keep each token with probability r (so each page borrows a different
number of tokens); we draw exactly round(r x tokens) per page, the same expected amount, so that every page's
key/value sequence has one length and the whole batch goes through ONE attention call (ComfyUI's attn1 patch
returns one context tensor for the batch). Their randomness is Python's global `random`; ours is a generator
seeded from (seed, step, resolution) and (seed, step, layer), so a drawing repeats exactly and does not
depend on the order layers run in.

SDXL -> SD 2.x: the authors' SDXL app samples at its two up-block resolutions (sa32 for the 1/32 grid, sa64
for 1/16) with the same ratio 0.5 for both; their SD 1.5 code also samples the 1/8 grid (sa16, sa32, sa64 at
16x16, 32x32, 64x64). SD 2.x has SD 1.5's three up-block attention resolutions, so one ratio applies at all of
them, at any picture size (the sample is per resolution, found from the token count).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import is_finite_number, is_whole_number
from ..errors import MiniGPT5Error


@dataclass(frozen=True)
class ConsistencySettings:
    """How strongly the pages of one batch share their looks; ratio 0 is off (today's pictures, byte for byte).

    The defaults other than `ratio` are the authors' (StoryDiffusion's app: not at step 0, probability 0.7
    before step 20 and 0.9 after)."""

    ratio: float = 0.0  # fraction of each other page's tokens a page also attends to
    start_step: int = 1
    end_step: int | None = None  # exclusive; None = to the last step
    early_probability: float = 0.7
    late_probability: float = 0.9
    late_from_step: int = 20
    seed: int = 0

    def validate(self) -> None:
        """Raise MiniGPT5Error naming the first value the sampling cannot use."""
        if not is_finite_number(self.ratio) or not 0 <= self.ratio <= 1:
            raise MiniGPT5Error(f"consistency ratio must be a number from 0 (off) to 1, got {self.ratio!r}")
        for name in ("early_probability", "late_probability"):
            value = getattr(self, name)
            if not is_finite_number(value) or not 0 <= value <= 1:
                raise MiniGPT5Error(f"consistency {name} must be a number from 0 to 1, got {value!r}")
        for name in ("start_step", "late_from_step", "seed"):
            value = getattr(self, name)
            if not is_whole_number(value) or value < 0:
                raise MiniGPT5Error(f"consistency {name} must be a whole number >= 0, got {value!r}")
        if self.end_step is not None and (not is_whole_number(self.end_step) or self.end_step <= self.start_step):
            raise MiniGPT5Error(f"consistency end_step must be None or a whole number above start_step "
                                f"({self.start_step}), got {self.end_step!r}")

    @property
    def enabled(self) -> bool:
        return self.ratio > 0

    def applies(self, step: int, layer: str) -> bool:
        """Whether `layer` borrows at `step`: inside the step range, then a seeded coin with the step's probability."""
        if step < self.start_step or (self.end_step is not None and step >= self.end_step):
            return False
        probability = self.early_probability if step < self.late_from_step else self.late_probability
        coin = torch.rand((), generator=_generator(self.seed, step, "coin", layer)).item()
        return coin < probability


def _generator(*key: object) -> torch.Generator:
    """A CPU generator seeded by `key`: the same draw for the same (seed, step, ...) in any call order."""
    digest = hashlib.sha256("/".join(map(str, key)).encode()).digest()
    return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest[:8], "little"))


def borrowed_count(tokens: int, ratio: float) -> int:
    """How many tokens each page takes from each other page at a resolution of `tokens` tokens."""
    return min(tokens, round(ratio * tokens))


def sample_indices(pages: int, tokens: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(pages, k) sorted token indices: the tokens each page lends to the others at this step."""
    k = borrowed_count(tokens, ratio)
    picks = [torch.randperm(tokens, generator=generator)[:k].sort().values for _ in range(pages)]
    return torch.stack(picks)


def gather_context(hidden: torch.Tensor, pages: int, indices: torch.Tensor) -> torch.Tensor:
    """Key/value context (B, (pages - 1) x k + T, C) for hidden states (B, T, C).

    The batch is groups of `pages` consecutive rows (cond and uncond halves, in any order); row i of a group
    sees the sampled tokens of the other rows of ITS group, in page order, then all of its own tokens."""
    batch, tokens, channels = hidden.shape
    groups = batch // pages
    grid = hidden.reshape(groups, pages, tokens, channels)
    lent = grid[:, torch.arange(pages, device=hidden.device)[:, None], indices.to(hidden.device)]  # (G, P, k, C)
    others = torch.tensor([[j for j in range(pages) if j != i] for i in range(pages)], device=hidden.device)
    borrowed = lent[:, others].reshape(groups, pages, -1, channels)  # (G, P, (P-1) k, C)
    return torch.cat([borrowed, grid], dim=2).reshape(batch, -1, channels)


def consistent_context(
    hidden: torch.Tensor, pages: int, step: int, settings: ConsistencySettings, layer: str,
) -> torch.Tensor | None:
    """The self-attention key/value context of `layer` at `step`, or None where it stays plain self-attention.

    `hidden` (B, T, C) holds B // pages groups of `pages` rows (page i = row i of each group); a single page,
    ratio 0, a step outside the range or a batch that is not whole groups all leave the layer untouched."""
    batch, tokens, _ = hidden.shape
    if pages < 2 or not settings.enabled or batch % pages or borrowed_count(tokens, settings.ratio) == 0:
        return None
    if not settings.applies(step, layer):
        return None
    indices = sample_indices(pages, tokens, settings.ratio, _generator(settings.seed, step, "tokens", tokens))
    return gather_context(hidden, pages, indices)


def key_length_factor(pages: int, ratio: float) -> float:
    """Key/value length with consistency over without it: 1 + r x (pages - 1) (attention cost grows with it)."""
    return 1 + ratio * (pages - 1) if pages > 1 else 1.0


# ---- diffusers -----------------------------------------------------------------------------------------


@dataclass
class StepClock:
    """The denoising step the pipeline is at; the pipeline's step-end callback moves it on."""

    step: int = 0

    def on_step_end(self, pipeline: Any, index: int, timestep: Any, kwargs: dict) -> dict:
        self.step = index + 1
        return kwargs


@dataclass
class ConsistentAttnProcessor:
    """A diffusers attention processor for one up-block self-attention: the layer's own processor, fed the
    consistent context as `encoder_hidden_states` where `consistent_context` gives one."""

    inner: Any
    layer: str
    pages: int
    settings: ConsistencySettings
    clock: StepClock = field(default_factory=StepClock)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if encoder_hidden_states is None and hidden_states.ndim == 3:
            encoder_hidden_states = consistent_context(hidden_states, self.pages, self.clock.step, self.settings,
                                                       self.layer)
        return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)


def is_up_self_attention(name: str) -> bool:
    """diffusers' processor names of the UNet's up-block self-attention layers (where the method applies)."""
    return name.startswith("up_blocks.") and name.endswith("attn1.processor")


@contextmanager
def consistent_attention(unet: Any, pages: int, settings: ConsistencySettings) -> Iterator[StepClock | None]:
    """Within the block, `unet` (a diffusers UNet2DConditionModel) draws a batch of `pages` pictures (times
    the cond/uncond halves) with consistent self-attention; yields the clock for the pipeline's step callback,
    or None where nothing changes (off, or one page). The UNet's own processors are restored afterwards."""
    settings.validate()
    if not settings.enabled or pages < 2:
        yield None
        return
    original: Mapping[str, Any] = unet.attn_processors
    clock = StepClock()
    unet.set_attn_processor({
        name: ConsistentAttnProcessor(proc, name, pages, settings, clock) if is_up_self_attention(name) else proc
        for name, proc in original.items()
    })
    try:
        yield clock
    finally:
        unet.set_attn_processor(dict(original))

