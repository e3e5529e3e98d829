"""A book saved by ComfyUI's SaveStorybook with the story's INTERLEAVED can be redrawn from the command line."""

import json
from pathlib import Path

import torch
from comfy_fixtures import MINIGPT5_MODEL, graph_builder
from safetensors.numpy import load_file

from storybook.cli import main
from storybook.filehash import folder_sha256


def story_graph():
    """The graph ComfyUI hands SaveStorybook as its hidden PROMPT input."""
    g = graph_builder()
    loader = g.node("LoadMiniGPT5", model_name=MINIGPT5_MODEL, dtype="auto", device="auto")
    g.node("MiniGPT5Story", minigpt5=loader.out(0), opening="Once upon a time", pages=3, seed=0,
           max_new_tokens=16, temperature=1.0, top_p=0.9)
    return g.finalize()


def test_a_book_saved_with_the_interleaved_story_redraws_from_the_cli(comfy, comfy_models, capsys):
    handle = comfy.node_classes["LoadMiniGPT5"]().load(MINIGPT5_MODEL, "auto", "auto")[0]
    pages, _positive, _negative, whole, count = comfy.node_classes["MiniGPT5Story"]().story(
        handle, "Once upon a time", pages=3, seed=0, max_new_tokens=16, temperature=1.0, top_p=0.9)
    out = comfy.node_classes["SaveStorybook"]().save(
        torch.rand(count, 32, 32, 3), pages, "Redrawable", "storybook/redrawable", "a5", "picture-book",
        interleaved=whole, prompt=story_graph())
    folder = Path(out["result"][0])
    story = json.loads((folder / "story.json").read_text())
    assert story["model"]["checkpoint_hash"] == folder_sha256(comfy_models.minigpt5)
    features = load_file(folder / "features.safetensors")
    assert [features[p["features"]].shape for p in story["pages"]] == [tuple(whole.vokens.shape[1:])] * 3

    before = {p: (folder / p).read_bytes() for p in ("page-001.png", "page-002.png", "page-003.png")}
    capsys.readouterr()
    assert main(["redraw", str(folder), "--page", "2", "--seed", "9", "--model", str(comfy_models.minigpt5)]) == 0
    assert (folder / "page-002.png").read_bytes() != before["page-002.png"]
    assert all((folder / p).read_bytes() == before[p] for p in ("page-001.png", "page-003.png"))
    assert json.loads((folder / "story.json").read_text())["pages"][1]["seed"] == 9


def test_a_book_saved_without_the_interleaved_story_keeps_no_features(comfy, comfy_models):
    out = comfy.node_classes["SaveStorybook"]().save(torch.rand(2, 32, 32, 3), "one\ntwo", "Plain",
                                                     "storybook/plain", "a5", "picture-book")
    folder = Path(out["result"][0])
    assert not (folder / "features.safetensors").exists()
    assert all("features" not in page for page in json.loads((folder / "story.json").read_text())["pages"])
