"""The story service: N pages, each with text and exactly one picture, as one result.

The nodes, the storybook CLI and `python -m minigpt5_core demo` all write stories through here. The KV
cache is carried from page to page, so each new page only feeds the next instruction; every page is forced
to end with a voken group, and a page that still has none raises `NoPictureError` naming the page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from ..errors import MiniGPT5Error, NoPictureError
from ..prompts import NEXT_SCENE_INSTRUCTION, chat_turn
from .generation import DecodingSession, InterleavedResult, SamplingSettings, TokenCallback

# (prompt, pictures, reserve) -> a session with the prompt fed and `reserve` positions left for the answer:
# `MiniGPT5.start_session`, or a bench's or test's own way to start one.
SessionFactory = Callable[..., DecodingSession]


@dataclass
class StoryResult:
    """The pages of a story in order; each page's first picture is that page's picture."""

    pages: list[InterleavedResult]

    def __len__(self) -> int:
        return len(self.pages)

    def __iter__(self):
        return iter(self.pages)

    def __getitem__(self, index: int) -> InterleavedResult:
        return self.pages[index]

    @property
    def texts(self) -> list[str]:
        return [page.text for page in self.pages]

    @property
    def vokens(self) -> torch.Tensor:
        """(pages, num_vokens, H): the voken features of each page's picture, in page order."""
        return torch.cat([page.vokens[:1] for page in self.pages])

    @property
    def whole(self) -> InterleavedResult:
        """The whole story as one InterleavedResult (all segments and tokens, page after page)."""
        return InterleavedResult(segments=[s for page in self.pages for s in page.segments],
                                 token_ids=[t for page in self.pages for t in page.token_ids])


def write_story(
    start_session: SessionFactory, opening: str, *, pages: int, settings: SamplingSettings, seed: int = 0,
    images: Sequence[Image.Image] = (), on_token: TokenCallback | None = None,
) -> StoryResult:
    """Continue `opening` (and optional pictures) for `pages` pages; seeded runs repeat exactly.

    `start_session(prompt, pictures, reserve=N)` starts the one session the whole story is written in."""
    if pages < 1:
        raise MiniGPT5Error(f"pages must be at least 1, got {pages}")
    settings = dataclasses.replace(settings, force_image=True)  # every page ends with a picture
    stop = settings.stop_text
    first = f"{opening.strip()} {NEXT_SCENE_INSTRUCTION}" if opening and opening.strip() else ""
    session = start_session(first, list(images), reserve=settings.max_new_tokens * pages)
    tokenizer = session.tokenizer
    generator = torch.Generator(device="cpu").manual_seed(seed)
    results: list[InterleavedResult] = []
    done = 0

    def page_progress(n: int) -> None:
        if on_token:
            on_token(done + n)

    for page in range(pages):
        if page:
            turn = chat_turn(NEXT_SCENE_INSTRUCTION)
            ended_with_stop = tokenizer.decode(results[-1].token_ids[-3:]).rstrip().endswith(stop)
            text = turn[len(stop):] if ended_with_stop else " " + turn
            session.feed_tokens(tokenizer(text, add_special_tokens=False).input_ids)
        result = session.sample_turn(settings, generator, page_progress)
        if result.num_images < 1:
            raise NoPictureError(f"page {page + 1} of the story has no picture (the model produced no voken group "
                                 f"within {settings.max_new_tokens} tokens); allow more tokens per page or try another seed")
        done += len(result.token_ids)
        results.append(result)
    return StoryResult(results)
