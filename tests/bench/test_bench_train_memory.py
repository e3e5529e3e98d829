"""bench/train_memory.py: the training memory table per mode, from the real 7B module sizes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import train_memory  # noqa: E402

from minigpt5_core import MiniGPT5Config  # noqa: E402

NF4 = 0.531  # bytes per decoder-layer parameter, as bench/memory_tiers.py measures on a real 7B layer


@pytest.fixture(scope="module")
def counts():
    return train_memory.Counts.of(MiniGPT5Config.preset("minigpt5-7b"), 2)


@pytest.fixture(scope="module")
def rows(counts):
    return {mode: (gpus, frozen, total) for mode, gpus, frozen, total in train_memory.mode_rows(counts, NF4)}


def test_stage_2_trains_lora_the_token_rows_and_the_mapper_transformer(counts):
    trained, frozen = counts.trained, counts.frozen
    lora = 32 * 2 * 8 * (4096 + 4096)  # 32 layers x (q_proj, v_proj) x rank 8 x (A + B)
    assert lora < trained < lora + 130e6  # + 9 rows of embed/lm_head and the mapper's ~118 M transformer
    assert frozen / 1e9 == pytest.approx(6.74 + 1.09 + 0.01, abs=0.05)  # LLM, ViT-g + Q-Former, mapper fc/queries


def test_there_is_one_row_per_mode_and_sharding_divides_the_frozen_weights_but_sd(rows, counts):
    assert list(rows) == ["bf16 DDP", "FSDP 2 GPUs", "FSDP 4 GPUs", "FSDP 8 GPUs", "nf4 (QLoRA)"]
    ddp_frozen = rows["bf16 DDP"][1]
    sd = 2 * (counts.sd["unet"] + counts.sd["vae"])  # bf16, whole on every GPU
    for gpus in (2, 4, 8):
        assert rows[f"FSDP {gpus} GPUs"][1] == pytest.approx((ddp_frozen - sd) / gpus + sd)
    totals = [rows[m][2] for m in ("bf16 DDP", "FSDP 2 GPUs", "FSDP 4 GPUs", "FSDP 8 GPUs")]
    assert totals == sorted(totals, reverse=True)


def test_nf4_saves_what_4_bits_save_on_the_decoder_layers(rows, counts):
    layers = counts.parts["llm_layers"]
    saved = rows["bf16 DDP"][1] - rows["nf4 (QLoRA)"][1]
    assert saved == pytest.approx((2 - NF4) * layers)
    assert rows["nf4 (QLoRA)"][2] < 24 * train_memory.GIB - 8 * train_memory.GIB  # well inside a 24 GB card


def test_the_printed_table_says_which_cards_each_mode_fits(counts):
    lines = train_memory.table(counts, 2, NF4)
    nf4 = next(line for line in lines if line.startswith("| nf4"))
    assert nf4.rstrip(" |").endswith("yes / yes / yes / yes")
    assert any("allowances" in line for line in lines)
