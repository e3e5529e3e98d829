"""Peak host RAM while loading a model folder, as a ratio to the size of the weights loaded.

    python bench/load_memory.py [--folder DIR] [--dtype fp32|bf16] [--hidden 2048 --layers 4]

Without --folder it writes a random MiniGPT-5 with the official vision/mapper shapes and a scaled
LLM (default hidden 2048, 4 layers: about 1.5 GB in fp32) to a temporary folder. Each measurement
runs in a fresh subprocess: the peak resident size (VmHWM, reset after the imports) minus the resident
size after the imports, against the bytes of the tensors loaded (Linux only). The baseline in the same run is the old way of
loading (build a random model, read the whole file, copy it in): `--naive`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import resource, sys, json, torch
import minigpt5_core
from minigpt5_core import MiniGPT5
from minigpt5_core.layout import weight_files
from minigpt5_core.io.folder import read_config as _read_config
from safetensors.torch import load_file
folder, dtype, naive = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "keep": None}[dtype]
def status(field):
    line = [l for l in open("/proc/self/status") if l.startswith(field)][0]
    return int(line.split()[1])
# The imports alone peak near 2 GiB (transformers/diffusers), above what a small load adds: reset the
# high-water mark (Linux: "5" > clear_refs) and measure from the resident size after the imports.
open("/proc/self/clear_refs", "w").write("5")
base = status("VmRSS:")
if naive:
    from transformers import AutoTokenizer
    config, _ = _read_config(__import__("pathlib").Path(folder))
    model = MiniGPT5(config, AutoTokenizer.from_pretrained(folder + "/tokenizer"))
    state = {}
    for f in weight_files(__import__("pathlib").Path(folder)):
        state.update(load_file(f))
    model.load_state_dict(state, strict=False)
    del state
    if dtype is not None:
        model.to(dtype)
else:
    model = MiniGPT5.from_pretrained(folder, dtype=dtype, with_image_generator=False)
peak = status("VmHWM:")
loaded = sum(t.numel() * t.element_size() for t in model.state_dict().values())
print(json.dumps({"rss_kib": peak - base, "loaded_bytes": loaded}))
"""


def write_random_model(folder: Path, hidden: int, layers: int) -> None:
    import torch

    from minigpt5_core import MiniGPT5, MiniGPT5Config
    from minigpt5_core.modeling.tiny_tokenizer import build_tiny_tokenizer

    cfg = MiniGPT5Config.preset("minigpt5-7b")
    cfg.llm.tokenizer, cfg.llm.vocab_size = "external", 0
    cfg.llm.hidden_size, cfg.llm.intermediate_size, cfg.llm.num_layers = hidden, hidden * 11008 // 4096, layers
    cfg.llm.num_heads = hidden // 128
    cfg.vision.num_layers, cfg.vision.qformer_layers = 8, 4
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MiniGPT5(cfg, build_tiny_tokenizer())
    model.save_pretrained(folder)


def measure(folder: Path, dtype: str, naive: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), dtype, "1" if naive else "0"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", help="an existing model folder (default: write a random one)")
    parser.add_argument("--dtype", default="keep", choices=("keep", "fp32", "bf16"))
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp) / "model"
        if not args.folder:
            write_random_model(folder, args.hidden, args.layers)
        file_bytes = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        print(f"folder {folder}: {file_bytes / 2**30:.2f} GiB of safetensors; dtype {args.dtype}")
        for naive in (True, False):
            r = measure(folder, args.dtype, naive)
            ratio = r["rss_kib"] * 1024 / r["loaded_bytes"]
            name = "naive (random init + load_file + copy)" if naive else "streaming from_pretrained"
            print(f"{name:42s} peak RSS growth {r['rss_kib'] / 2**20:6.2f} GiB = {ratio:.2f}x the {r['loaded_bytes'] / 2**30:.2f} GiB loaded")


if __name__ == "__main__":
    main()
