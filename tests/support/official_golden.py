"""The golden strings and token ids recorded from the official MiniGPT-5 code by shared/tools/parity (facts)."""

import json
from pathlib import Path

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "golden" / "official_minigpt5.json").read_text(encoding="utf-8"))
