"""The decoding benches run and compare like with like (their timings are printed, never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import decode_cost  # noqa: E402
import kv_cache_story  # noqa: E402


def test_our_turn_reports_the_tokens_it_timed_within_its_budget(tiny_model):
    seconds, generated = decode_cost.ours(tiny_model, 12, seed=0)
    assert seconds > 0 and 1 <= generated <= 12  # the bare loop then times exactly `generated` steps


def test_the_decode_bench_gives_per_token_costs_and_a_pair_ratio(tiny_model):
    mine, bare, paired = decode_cost.measure(tiny_model, tokens=4, repeats=1)
    assert mine > 0 and bare > 0 and paired > 0


def test_the_story_bench_checks_that_cached_and_recomputed_stories_agree(tiny_model):
    tokens, cached, recomputed = kv_cache_story.speed_up(tiny_model, pages=2, repeats=1, tokens_per_page=8)
    assert tokens > 0 and cached > 0 and recomputed > 0
