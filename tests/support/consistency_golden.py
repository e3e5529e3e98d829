"""The golden file of consistent self-attention: the authors' processor's output on small fixed tensors.

tests/golden/consistent_attention.json holds an attention layer's weights, a batch of hidden states (uncond and
cond halves of 3 pages), the tokens each page lends, and what StoryDiffusion's own `SpatialAttnProcessor2_0`
(HVision-NKU/StoryDiffusion, gradio_app_sdxl_specific_id_low_vram.py, the version with per-page token indices)
returned for them. tests/core/test_consistency_golden.py runs ours on the same inputs on every run.

Re-record (needs only this venv: the authors' processor needs torch and diffusers' Attention; their app file
is never imported, because it loads an SDXL pipeline at import: the class is cut out of it with `ast`):

    git clone https://github.com/HVision-NKU/StoryDiffusion /tmp/StoryDiffusion   # or any checkout / bare git dir
    .venv/bin/python tests/support/consistency_golden.py /tmp/StoryDiffusion
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "consistent_attention.json"
APP = "gradio_app_sdxl_specific_id_low_vram.py"
PAGES, SIDE, CHANNELS, HEADS, LENT = 3, 4, 8, 2, 5  # 3 pages of a 4x4 token grid; each lends 5 tokens


def build_attention(state: dict[str, torch.Tensor] | None = None):
    """A diffusers self-attention layer of the recorded size (random, or with the recorded weights)."""
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(query_dim=CHANNELS, heads=HEADS, dim_head=CHANNELS // HEADS, out_bias=True)
    if state is not None:
        attn.load_state_dict(state)
    return attn.eval()


def load() -> dict:
    """The golden record as tensors: attention state, hidden (2 x pages, T, C), indices (pages, k), output."""
    data = json.loads(GOLDEN.read_text())
    return {
        "state": {k: torch.tensor(v) for k, v in data["state"].items()},
        "hidden": torch.tensor(data["hidden"]),
        "indices": torch.tensor(data["indices"]),
        "output": torch.tensor(data["output"]),
        "pages": data["pages"],
    }


def _app_source(repo: Path) -> tuple[str, str]:
    """(source of the authors' app file, commit) from a checkout or a bare git directory."""
    if (repo / APP).is_file():
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        return (repo / APP).read_text(), commit.strip() or "unknown"
    git = ["git", f"--git-dir={repo}"]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run([*git, "show", f"HEAD:{APP}"], capture_output=True, text=True, check=True).stdout, commit


def _authors_processor_module(source: str) -> ModuleType:
    """A module holding only their SpatialAttnProcessor2_0 (their globals set by the caller)."""
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SpatialAttnProcessor2_0")
    prelude = "import random\nimport torch\nimport torch.nn.functional as F\ndevice = 'cpu'\n\n"
    path = Path(tempfile.mkdtemp()) / "storydiffusion_processor.py"
    path.write_text(prelude + ast.get_source_segment(source, node) + "\n")
    spec = importlib.util.spec_from_file_location("storydiffusion_processor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(repo: Path) -> None:
    source, commit = _app_source(repo)
    theirs = _authors_processor_module(source)
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(2 * PAGES, SIDE * SIDE, CHANNELS, generator=generator)
    indices = torch.stack([torch.randperm(SIDE * SIDE, generator=generator)[:LENT].sort().values
                           for _ in range(PAGES)])
    # Their globals: batch drawn together ("write"), past step 0, the coin always "apply", this grid is
    # their 1/32 resolution (height // 32 x width // 32 tokens) and its indices never redrawn.
    theirs.write, theirs.cur_step, theirs.attn_count, theirs.total_count = True, 1, 0, 10**9
    theirs.height = theirs.width = SIDE * 32
    theirs.indices1024, theirs.indices4096 = list(indices), list(indices)
    theirs.cur_character = ["hero"]
    theirs.random = SimpleNamespace(random=lambda: 1.0)
    attn = build_attention()
    with torch.no_grad():
        output = theirs.SpatialAttnProcessor2_0(id_length=PAGES - 1, device="cpu")(attn, hidden.clone())
    GOLDEN.write_text(json.dumps({
        "source": f"HVision-NKU/StoryDiffusion@{commit} {APP} SpatialAttnProcessor2_0",
        "pages": PAGES,
        "state": {k: v.tolist() for k, v in attn.state_dict().items()},
        "hidden": hidden.tolist(), "indices": indices.tolist(), "output": output.tolist(),
    }) + "\n")
    print(f"wrote {GOLDEN} from {commit}")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
