"""pytest fixtures for the node-pack tests: one real ComfyUI per session, with test-time models.

The shipped workflows name real model files; the tests put random-weight stand-ins under the same names:
    models/checkpoints/v2-1_512-ema-pruned.safetensors   SD2-shaped UNet + TAESD-shaped VAE (26 M params)
    models/minigpt5/minigpt5-vist/                       the tiny MiniGPT-5 preset (save_pretrained)
    models/upscale_models/RealESRGAN_x4plus.pth          a Real-ESRGAN-shaped 4x upscaler, 8 features (upscale_models.py)
    input/example.png                                    ComfyUI's own input/example.png (workflow (c) loads it)
Importing this module is cheap; ComfyUI is downloaded/installed/initialised by the first fixture that needs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from comfy_setup import REPO_ROOT

SD_CHECKPOINT = "v2-1_512-ema-pruned.safetensors"
MINIGPT5_MODEL = "minigpt5-vist"
UPSCALE_MODEL = "RealESRGAN_x4plus.pth"
INPUT_PICTURE = "example.png"  # what every ComfyUI ships in input/
WORKFLOWS = REPO_ROOT / "workflows"
API_TWINS = WORKFLOWS / "api"


@pytest.fixture(scope="session")
def comfy_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("comfyui-base")


@pytest.fixture(scope="session")
def comfy(comfy_base):
    """ComfyUI 0.3.75 in library mode with this repository in custom_nodes/ (initialised once)."""
    from comfy_harness import ComfyHarness

    return ComfyHarness.start(comfy_base)


@pytest.fixture(scope="session")
def comfy_models(comfy, comfy_base) -> SimpleNamespace:
    """The models and the input picture the shipped workflows name, as random-weight stand-ins."""
    import shutil

    from comfy_harness import write_tiny_sd2_checkpoint
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    from upscale_models import write_tiny_esrgan

    ckpt = write_tiny_sd2_checkpoint(comfy_base / "models" / "checkpoints" / SD_CHECKPOINT, levels=1)
    upscaler = comfy_base / "models" / "upscale_models" / UPSCALE_MODEL
    if not upscaler.is_file():
        write_tiny_esrgan(upscaler)
    model_dir = comfy_base / "models" / "minigpt5" / MINIGPT5_MODEL
    if not (model_dir / "config.json").is_file():
        MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0).save_pretrained(model_dir)
    # --base-directory gives the test its own input/ folder: put ComfyUI's shipped picture there, as an install has it.
    picture = comfy_base / "input" / INPUT_PICTURE
    picture.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(comfy.comfy_dir / "input" / INPUT_PICTURE, picture)
    return SimpleNamespace(checkpoint=ckpt, minigpt5=model_dir, upscaler=upscaler, picture=picture, base=comfy_base)


def graph_builder():
    """ComfyUI's own GraphBuilder (comfy_execution.graph_utils), numbering nodes "1", "2", ... Importable once the
    `comfy` fixture has put ComfyUI on sys.path (the server tests start it too, for their models)."""
    from comfy_execution.graph_utils import GraphBuilder

    return GraphBuilder(prefix="")


def generate_graph(model: str = MINIGPT5_MODEL, prompt: str = "A fox.", max_new_tokens: int = 24,
                   force_image: bool = True, seed: int = 0) -> dict:
    """Load MiniGPT-5 (node "1") -> one Interleaved Generate turn ("2") -> its text shown by PreviewAny ("3")."""
    g = graph_builder()
    loader = g.node("LoadMiniGPT5", model_name=model, dtype="auto", device="auto")
    turn = g.node("InterleavedGenerate", minigpt5=loader.out(0), prompt=prompt, seed=seed,
                  max_new_tokens=max_new_tokens, temperature=1.0, top_p=0.9, force_image=force_image)
    g.node("PreviewAny", source=turn.out(1))
    return g.finalize()


def load_api_twin(name: str) -> dict:
    return json.loads((API_TWINS / f"{name}.json").read_text())


STORY_TOKENS = 16  # per page at test size: the voken group (8) and a few words of text


def shrink_for_cpu(prompt: dict) -> dict:
    """The same graph at test size: 64 px latents, 2 sampler steps (a 512 px SD step takes seconds on CPU) and
    short pages. A random-weight model writes random bytes, which now and then decode to a script no font of a
    test machine has (Thaana, Syriac, ...), and the book is then rightly refused (storybook.glyphs): a few words
    per page keep the shipped graphs' runs about the graphs.

    Only sizes, step and token counts change; node types, links and every other value stay as shipped.
    """
    prompt = json.loads(json.dumps(prompt))
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs["width"] = inputs["height"] = 64
        elif node["class_type"] in ("KSampler", "KSamplerAdvanced"):
            inputs["steps"] = 2
        elif node["class_type"] in ("MiniGPT5Story", "InterleavedGenerate") and "max_new_tokens" in inputs:
            inputs["max_new_tokens"] = min(inputs["max_new_tokens"], STORY_TOKENS)
    return prompt
