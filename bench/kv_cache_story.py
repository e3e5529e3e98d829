"""Benchmark: stories of 5, 10 and 20 pages on the tiny preset, KV cache carried across pages vs recomputing
the whole context at every step (what a cache-less loop, or restarting generation per page, costs).

Both runs sample the same tokens (checked); the figures printed are speed-up ratios of CPU time (one torch
thread), measured in one process so machine noise affects both sides alike. The gain grows with the story: a carried cache costs
each new token the same, recomputing costs it the whole history. The tiny preset's context is raised to
4096 positions here so a 20-page story fits.

    .venv/bin/python bench/kv_cache_story.py [--pages 5 10 20] [--repeats 3] [--tokens-per-page 48]
"""

from __future__ import annotations

import argparse
import functools
import time

import torch

from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.modeling.generation import DecodingSession
from minigpt5_core.modeling.story import write_story


class RecomputingSession(DecodingSession):
    """Baseline: no KV cache; every step re-runs the LLM over the entire sequence so far."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fed: list[torch.Tensor] = []  # the whole sequence, which a cache-less step must re-read

    @torch.no_grad()
    def feed_embeds(self, embeds: torch.Tensor) -> torch.Tensor:
        self.fed.append(embeds)
        self.device = embeds.device
        full = torch.cat(self.fed, dim=1)
        out = self.llm(inputs_embeds=full, use_cache=False, output_hidden_states=True)
        self.length = full.shape[1]
        states = out.hidden_states[-1]
        self.last_logits = out.logits[:, -1].float()
        self.last_hidden = states[:, -1]
        return states[:, -embeds.shape[1]:]


def run(model: MiniGPT5, pages: int, session_cls, tokens_per_page: int = 48) -> tuple[float, list[list[int]]]:
    """One story written through the library's story loop with `session_cls` as the decoding session."""
    settings = model.sampling_settings(max_new_tokens=tokens_per_page, force_image=True)
    start_session = functools.partial(model.start_session, session_class=session_cls)
    start = time.process_time()
    story = write_story(start_session, "A little fox finds a lantern.", pages=pages, settings=settings, seed=0)
    return time.process_time() - start, [p.token_ids for p in story]


def speed_up(model: MiniGPT5, pages: int, repeats: int, tokens_per_page: int) -> tuple[int, float, float]:
    """(generated tokens, best cached seconds, best recomputing seconds) for one story length."""
    cached, recomputed = [], []
    for _ in range(repeats):
        t_cache, tokens_cache = run(model, pages, DecodingSession, tokens_per_page)
        t_full, tokens_full = run(model, pages, RecomputingSession, tokens_per_page)
        if tokens_cache != tokens_full:
            raise SystemExit("cached and recomputed runs sampled different tokens: the cache is wrong")
        cached.append(t_cache)
        recomputed.append(t_full)
    return sum(len(t) for t in tokens_cache), min(cached), min(recomputed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens-per-page", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)  # CPU time of one thread: on a shared machine wall time measures the neighbours too
    config = MiniGPT5Config.preset("tiny")
    config.llm.max_position_embeddings = 4096
    model = MiniGPT5.from_config(config)
    run(model, 1, DecodingSession)  # warm-up
    print(f"tiny preset, {args.tokens_per_page} tokens per page at most, best of {args.repeats}")
    print(f"{'pages':>5s} {'tokens':>7s} {'cached CPU s':>13s} {'recompute CPU s':>16s} {'speed-up':>9s}")
    for pages in args.pages:
        tokens, best_cache, best_full = speed_up(model, pages, args.repeats, args.tokens_per_page)
        print(f"{pages:5d} {tokens:7d} {best_cache:13.3f} {best_full:16.3f} {best_full / best_cache:8.2f}x")


if __name__ == "__main__":
    main()
