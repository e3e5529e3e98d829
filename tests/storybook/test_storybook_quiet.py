"""`make demo` as a user runs it (a fresh process): the terminal shows no library notices about things the
user neither chose nor can act on (see minigpt5_core/notices.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTICES = ("torchvision", "kernels-community", "[transformers]")


@pytest.mark.slow
def test_the_demo_book_prints_no_library_notices(tmp_path):
    run = subprocess.run([sys.executable, "-m", "storybook", "make", "--out", str(tmp_path / "book")], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [line for line in run.stderr.splitlines() if any(n in line for n in NOTICES)] == []
