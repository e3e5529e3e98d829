"""Printing from ComfyUI: the shipped print workflow upscales the pictures with ComfyUI's own upscale nodes
before Save Storybook, and Save Storybook writes its PDF through a browser where weasyprint cannot load.

Runs in a real ComfyUI 0.3.75 (comfy_harness.py); its stock upscale nodes load the random-weight Real-ESRGAN-shaped
file of comfy_fixtures.py with spandrel, under the test-only torchvision stub (torchvision_shim.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pypdf
import torch
from PIL import Image

from browser import chromium_path
from comfy_fixtures import UPSCALE_MODEL, load_api_twin, shrink_for_cpu

PRINT = "minigpt5_story_to_print"


def test_the_print_workflow_puts_the_stock_upscaler_between_vae_decode_and_save_storybook():
    twin = load_api_twin(PRINT)
    kinds = {k: v["class_type"] for k, v in twin.items()}
    save = next(v for v in twin.values() if v["class_type"] == "SaveStorybook")
    upscale = twin[save["inputs"]["images"][0]]
    assert upscale["class_type"] == "ImageUpscaleWithModel"
    assert kinds[upscale["inputs"]["image"][0]] == "VAEDecode"
    assert twin[upscale["inputs"]["upscale_model"][0]]["inputs"]["model_name"] == UPSCALE_MODEL


def test_the_print_workflow_writes_pictures_of_four_times_the_decoded_size(comfy, comfy_models):
    prompt = shrink_for_cpu(load_api_twin(PRINT))
    run = comfy.run(prompt)
    [save_id] = [k for k, v in prompt.items() if v["class_type"] == "SaveStorybook"]
    ui = run.outputs[save_id]
    folder = comfy_models.base / "output" / ui["images"][0]["subfolder"]
    decoded = next(v for v in prompt.values() if v["class_type"] == "EmptyLatentImage")["inputs"]["width"]
    story = json.loads((folder / "story.json").read_text())
    assert {Image.open(folder / p["image"]).size for p in story["pages"]} == {(4 * decoded, 4 * decoded)}
    assert (folder / "storybook.pdf").is_file()
    # recorded as `make --upscale` records it, so that `storybook redraw` asks for the same file
    digest = "sha256:" + hashlib.sha256(comfy_models.upscaler.read_bytes()).hexdigest()
    assert story["upscale"] == {"model": UPSCALE_MODEL, "sha256": digest, "scale": 4, "architecture": "ESRGAN"}


def test_save_storybook_without_pango_prints_the_pdf_through_the_browser(comfy, no_pango):
    chromium_path()  # skips where this machine has none
    save = comfy.node_classes["SaveStorybook"]()
    out = save.save(torch.rand(2, 64, 64, 3), "one\ntwo", "Browser", "storybook/browser", "8x8in", "picture-book")
    pdf = Path(out["ui"]["text"][0])
    assert pdf.name == "storybook.pdf" and pdf.parent == Path(out["result"][0])
    sizes = {(round(float(p.mediabox.width) / 72, 2), round(float(p.mediabox.height) / 72, 2))
             for p in pypdf.PdfReader(pdf).pages}
    assert sizes == {(8.0, 8.0)}
    assert any("PDF printed by" in line and "no PDF/X" in line for line in out["ui"]["text"][1:])
