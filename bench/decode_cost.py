"""Per-token cost of our decoding (DecodingSession.sample_turn) against the bare loop, per quantize tier.

    .venv/bin/python bench/decode_cost.py [--tokens 64] [--repeats 9] [--tiers none,int8,nf4]

The bare loop is the least any decoder can do: `llm(input_ids, cache)` for one token, then the same
temperature + top-p sampling (transformers' warpers, torch.multinomial), and nothing else. Ours also masks
the voken tokens, checks the stop text, decodes text and keeps the voken states. Both run on the SAME loaded
model (a quantized tier's bitsandbytes layers included) in one process, alternating, so the printed ratios
(of the best runs, and the median of back-to-back pairs) are what our Python costs per token; the target is
<= 1.15x. Times are CPU time of this process (one torch thread), not wall time: on a machine shared with other
work, wall time measures the neighbours as much as the code. The tiny preset makes the LLM cheap,
so this is the worst case for the ratio: on a 7B model the matmuls dwarf any per-token Python.
The static-cache row is the fast path's cache (GenerationConfig.static_cache) without torch.compile, in both loops.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import DynamicCache, StaticCache
from transformers.generation.logits_process import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from minigpt5_core import MiniGPT5, MiniGPT5Config
from minigpt5_core.modeling.generation import SamplingSettings
from minigpt5_core.modeling.hf_compat import cache_kwargs, output_cache

PROMPT = "A little fox finds a lantern in the snow."
TEMPERATURE, TOP_P = 1.0, 0.9


@torch.no_grad()
def bare_loop(model: MiniGPT5, steps: int, seed: int) -> float:
    """CPU seconds for `steps` one-token forwards + top-p sampling after the prompt (prefill not timed)."""
    llm = model.llm
    static = model.config.generation.static_cache
    cache = StaticCache(config=llm.config, max_cache_len=model.config.llm.max_position_embeddings) if static \
        else DynamicCache()
    out = llm(inputs_embeds=model.embed_prompt(model.chat_text(PROMPT, 0)), use_cache=True, **cache_kwargs(cache))
    cache, logits = output_cache(out), out.logits[:, -1]
    warpers = LogitsProcessorList([TemperatureLogitsWarper(TEMPERATURE), TopPLogitsWarper(TOP_P)])
    generator = torch.Generator().manual_seed(seed)
    start = time.process_time()
    for _ in range(steps):
        scores = warpers(None, logits.float())
        token = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)
        out = llm(input_ids=token.to(model.llm_device), use_cache=True, **cache_kwargs(cache))
        cache, logits = output_cache(out), out.logits[:, -1]
    return time.process_time() - start


@torch.no_grad()
def ours(model: MiniGPT5, tokens: int, seed: int) -> tuple[float, int]:
    """CPU seconds and tokens of one `sample_turn` after the prompt (prefill not timed)."""
    session = model.start_session(PROMPT)
    settings = SamplingSettings(max_new_tokens=tokens, temperature=TEMPERATURE, top_p=TOP_P, repetition_penalty=1.0,
                                stop_text="\x00never\x00")  # run the whole budget: no stop text ends the turn
    start = time.process_time()
    result = session.sample_turn(settings, torch.Generator().manual_seed(seed))
    return time.process_time() - start, len(result.token_ids)


def measure(model: MiniGPT5, tokens: int, repeats: int) -> tuple[float, float, float]:
    """(ours, bare) seconds per token, best of `repeats`, and the median ratio of back-to-back pairs (a pair
    shares the machine's load of that moment, so its ratio is steadier than the ratio of the bests)."""
    ours(model, 8, 0), bare_loop(model, 8, 0)  # warm-up
    mine, bare, ratios = [], [], []
    for seed in range(repeats):
        seconds, generated = ours(model, tokens, seed)
        mine.append(seconds / generated)
        bare.append(bare_loop(model, generated, seed) / generated)
        ratios.append(mine[-1] / bare[-1])
    return min(mine), min(bare), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--tiers", default="none,int8,nf4")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core for both sides: less noise from other processes on a shared machine
    with tempfile.TemporaryDirectory() as tmp:
        MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0).save_pretrained(Path(tmp) / "tiny")
        rows = []
        for tier in args.tiers.split(","):
            model = MiniGPT5.from_pretrained(Path(tmp) / "tiny", quantize=tier, with_image_generator=False)
            rows.append((tier, *measure(model, args.tokens, args.repeats)))
            if tier == "none":
                model.config.generation = dataclasses.replace(model.config.generation, static_cache=True)
                rows.append(("none, static cache", *measure(model, args.tokens, args.repeats)))
    print(f"tiny preset, {args.tokens} tokens per turn, best of {args.repeats}; CPU ms per token")
    print(f"{'tier':20s} {'ours':>8s} {'bare loop':>10s} {'ratio of bests':>15s} {'median pair ratio':>18s}")
    for tier, mine, bare, paired in rows:
        print(f"{tier:20s} {mine * 1e3:8.2f} {bare * 1e3:10.2f} {mine / bare:14.2f}x {paired:17.2f}x")


if __name__ == "__main__":
    main()
