"""bench/memory_tiers.py: bytes per parameter are measured on a real quantized layer, the table is built from them."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("bitsandbytes")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import memory_tiers  # noqa: E402

from minigpt5_core import MiniGPT5Config  # noqa: E402
from minigpt5_core.config import LLMConfig  # noqa: E402


@pytest.fixture(scope="module")
def small_layer_tiers():
    """The measurement on a small LLaMA layer (hidden 256): the same code path as the 7B run, in a second."""
    return {t.tier: t for t in memory_tiers.measure_tiers(LLMConfig(hidden_size=256, intermediate_size=512,
                                                                    num_layers=1, num_heads=4))}


def test_each_tier_stores_what_its_format_promises(small_layer_tiers):
    assert small_layer_tiers["none"].bytes_per_param == pytest.approx(2.0, abs=0.001)  # bf16
    assert 1.0 <= small_layer_tiers["int8"].bytes_per_param <= 1.05  # int8 + one fp32 scale per row
    assert 0.5 <= small_layer_tiers["nf4"].bytes_per_param <= 0.6  # 4 bits + one fp32 absmax per 64 values


def test_quantized_layers_compute_nearly_what_bf16_computes(small_layer_tiers):
    assert math.isfinite(small_layer_tiers["none"].cosine)  # the reference tier itself: a NaN would hide here
    assert small_layer_tiers["int8"].cosine > 0.999
    assert small_layer_tiers["nf4"].cosine > 0.98


def test_the_7b_part_sizes_are_the_official_model_s():
    parts = memory_tiers.part_params(MiniGPT5Config.preset("minigpt5-7b"))
    assert (parts["llm_layers"] + parts["llm_embeddings"]) / 1e9 == pytest.approx(6.74, abs=0.01)
    assert parts["vit"] / 1e9 == pytest.approx(0.99, abs=0.01)
    sd = memory_tiers.sd21_params()
    assert sd["unet"] / 1e6 == pytest.approx(866, abs=1)


def test_the_table_has_one_row_per_tier_and_smaller_tiers_need_smaller_gpus(small_layer_tiers):
    config = MiniGPT5Config.preset("minigpt5-7b")
    lines = memory_tiers.table(config, list(small_layer_tiers.values()), pages=5, max_new_tokens=256)
    rows = {line.split()[0]: line for line in lines if line.split()[:1] in (["none"], ["int8"], ["nf4"])}
    assert set(rows) == {"none", "int8", "nf4"}
    llm_gib = {tier: float(row.split("|")[1].split()[0]) for tier, row in rows.items()}
    assert llm_gib["nf4"] < llm_gib["int8"] < llm_gib["none"]


def test_smallest_gpu_picks_the_first_size_that_holds_the_bytes():
    assert memory_tiers.smallest_gpu(int(7.9 * memory_tiers.GIB)) == "8 GB"
    assert memory_tiers.smallest_gpu(int(8.1 * memory_tiers.GIB)) == "10 GB"
    assert memory_tiers.smallest_gpu(200 * memory_tiers.GIB) == "> 80 GB"
