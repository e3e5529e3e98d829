"""bench/gpu_story.py's CPU dry run: the GPU script runs end to end on tiny shapes, every tier and both phases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("bitsandbytes")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import gpu_story  # noqa: E402


def test_the_dry_run_reports_each_tier_s_decoding_and_the_sd_phase(capsys):
    gpu_story.main(["--dry-run", "--tokens", "4", "--unet-steps", "1"])
    out = capsys.readouterr().out
    for tier in ("none", "int8", "nf4"):
        assert any(line.startswith(tier) and "roofline" in line for line in out.splitlines())
    assert out.count("eager decode") == 3 and out.count("static cache") == 3
    assert "FAILED" not in out
    assert "SD phase (tiny UNet" in out and "steps/s" in out


def test_without_a_gpu_the_real_run_says_to_use_the_dry_run(monkeypatch):
    monkeypatch.setattr(gpu_story.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--dry-run"):
        gpu_story.main([])
