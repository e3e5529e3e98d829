"""The shipped workflows: UI files that load by drag-and-drop, API twins that agree with them and run.

Runs inside a real ComfyUI 0.3.75 (see comfy_harness.py) with random-weight stand-ins for the models the
workflows name (see comfy_fixtures.py).
"""

from __future__ import annotations

import json

import pytest

from comfy_fixtures import API_TWINS, INPUT_PICTURE, WORKFLOWS, load_api_twin, shrink_for_cpu
from comfy_workflows import check_ui_structure, ui_to_api, widget_specs
from doc_links import link_problem, links

NAMES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))
MODEL_FOLDERS = {"CheckpointLoaderSimple": "checkpoints", "UpscaleModelLoader": "upscale_models"}
OUR_NODES = {"LoadMiniGPT5", "InterleavedGenerate", "VokenToConditioning", "MiniGPT5Story", "SaveStorybook"}


def _ui(name):
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def test_the_three_use_cases_are_shipped_each_with_a_twin():
    assert len(NAMES) >= 3
    assert sorted(p.stem for p in API_TWINS.glob("*.json")) == NAMES
    kinds = {name: {n["type"] for n in _ui(name)["nodes"]} for name in NAMES}
    story = [n for n, k in kinds.items() if {"MiniGPT5Story", "CheckpointLoaderSimple", "KSampler", "VAEDecode",
                                              "SaveStorybook", "LoadMiniGPT5"} <= k]
    turn = [n for n, k in kinds.items() if {"InterleavedGenerate", "VokenToConditioning", "KSampler"} <= k
            and "LoadImage" not in k]
    history = [n for n, k in kinds.items() if {"LoadImage", "LoadMiniGPT5"} <= k]
    assert story and turn and history
    # ComfyUI serves only one of workflows/ and example_workflows/ (see COMFYUI.md): ship one folder.
    assert not (WORKFLOWS.parent / "example_workflows").exists()


@pytest.mark.parametrize("name", NAMES)
def test_ui_file_is_well_formed_and_names_its_models(name):
    ui = _ui(name)
    assert check_ui_structure(ui) == []
    kinds = {n["type"] for n in ui["nodes"]}
    assert {"LoadMiniGPT5", "CheckpointLoaderSimple"} <= kinds
    # properties.models is what the frontend's missing-models dialog offers to download: only files that
    # their URL really serves. The MiniGPT-5 folder is explained in the note instead.
    with_models = [n for n in ui["nodes"] if n["properties"].get("models")]
    assert [n["type"] for n in with_models] in (["CheckpointLoaderSimple"],
                                                ["CheckpointLoaderSimple", "UpscaleModelLoader"])
    for node in with_models:
        [model] = node["properties"]["models"]
        assert set(model) == {"name", "url", "directory"}
        # the frontend offers a download only for a model whose name is a widget value, from huggingface/civitai
        assert model["name"] == node["widgets_values"][0]
        assert model["directory"] == MODEL_FOLDERS[node["type"]]
        assert model["url"].startswith("https://huggingface.co/")
        assert model["url"].endswith("/resolve/main/" + model["name"])
    [note] = [n for n in ui["nodes"] if n["type"] == "MarkdownNote"]
    assert "ComfyUI/models/minigpt5/minigpt5-vist/" in note["widgets_values"][0]


@pytest.mark.parametrize("name", NAMES)
def test_load_image_names_the_picture_every_comfyui_ships(name):
    for node in _ui(name)["nodes"]:
        if node["type"] == "LoadImage":
            assert node["widgets_values"][0] == INPUT_PICTURE


def test_the_story_page_count_drives_the_latent_batch():
    """Pages are set once, on the story node: its page_count output is Empty Latent Image's batch_size."""
    for name in NAMES:
        twin = load_api_twin(name)
        stories = [k for k, v in twin.items() if v["class_type"] == "MiniGPT5Story"]
        for node in twin.values():
            if stories and node["class_type"] == "EmptyLatentImage":
                assert node["inputs"]["batch_size"] == [stories[0], 4], name
    ui = _ui("minigpt5_story_to_storybook")
    story = next(n for n in ui["nodes"] if n["type"] == "MiniGPT5Story")
    assert [o["name"] for o in story["outputs"]][-1] == "page_count"
    assert "set in one place" in next(n for n in ui["nodes"] if n["type"] == "MarkdownNote")["widgets_values"][0]


def test_every_link_in_the_workflow_notes_resolves():
    notes = {f"{name}.json node {node['id']}": node["widgets_values"][0]
             for name in NAMES for node in _ui(name)["nodes"] if node["type"] in ("MarkdownNote", "Note")}
    found = [(note, url) for note, text in notes.items() for url in links(text)]
    assert {note for note, _ in found} == set(notes)  # every note links somewhere (its models)
    problems = [f"{note}: {url}: {why}" for note, url in found if (why := link_problem(url))]  # read in ComfyUI
    assert problems == []


@pytest.mark.parametrize("name", NAMES)
def test_api_twin_is_what_the_frontend_would_queue(comfy, comfy_models, name):
    ui, twin = _ui(name), load_api_twin(name)
    converted = ui_to_api(ui, comfy.node_classes)
    assert {k: v["class_type"] for k, v in converted.items()} == {k: v["class_type"] for k, v in twin.items()}
    for node_id, node in converted.items():
        assert node["inputs"] == twin[node_id]["inputs"], f"node {node_id} ({node['class_type']}) differs"


@pytest.mark.parametrize("name", NAMES)
def test_widget_values_fit_the_current_node_definitions(comfy, comfy_models, name):
    """A value outside a combo's options or a number's range is altered or flagged when the file is loaded."""
    for node in ui_to_api(_ui(name), comfy.node_classes).values():
        spec = comfy.node_classes[node["class_type"]].INPUT_TYPES()
        entries = {**spec.get("required", {}), **(spec.get("optional") or {})}
        for input_name, _ in widget_specs(comfy.node_classes[node["class_type"]]):
            value = node["inputs"][input_name]
            if isinstance(value, list):  # linked
                continue
            kind, opts = entries[input_name][0], (entries[input_name][1] if len(entries[input_name]) > 1 else {})
            if isinstance(kind, (list, tuple)):
                assert value in kind, f"{node['class_type']}.{input_name}: {value!r} not in {list(kind)[:8]}"
            elif kind in ("INT", "FLOAT"):
                assert opts.get("min", value) <= value <= opts.get("max", value), (node["class_type"], input_name)
            elif kind == "BOOLEAN":
                assert isinstance(value, bool)
            elif kind == "STRING":
                assert isinstance(value, str)


@pytest.mark.parametrize("name", NAMES)
def test_api_twin_executes_and_writes_its_outputs(comfy, comfy_models, name):
    prompt = shrink_for_cpu(load_api_twin(name))
    run = comfy.run(prompt)
    output_dir = comfy_models.base / "output"
    for node_id, node in prompt.items():
        kind = node["class_type"]
        if kind == "SaveImage":
            images = run.outputs[node_id]["images"]
            assert images
            for image in images:
                assert (output_dir / image["subfolder"] / image["filename"]).is_file()
        elif kind == "SaveStorybook":
            ui = run.outputs[node_id]
            assert ui["images"], "no page previews"
            assert ui["text"][0].endswith("storybook.pdf")
            assert any("dpi" in line.lower() for line in ui["text"][1:])  # 64 px pages: preflight warns
            folder = output_dir / ui["images"][0]["subfolder"]
            for file in ("story.json", "index.html", "storybook.pdf"):
                assert (folder / file).is_file(), file
            story = json.loads((folder / "story.json").read_text())
            wanted = next(n for n in prompt.values() if n["class_type"] == "MiniGPT5Story")["inputs"]["pages"]
            assert len(story["pages"]) == wanted  # the latent batch followed the story's page count
            for page in story["pages"]:
                assert (folder / page["image"]).is_file()
            assert node["inputs"]["title"] == story["title"]
            # the story's INTERLEAVED is wired in: each page keeps its picture plan, for storybook redraw
            assert (folder / "features.safetensors").is_file() == isinstance(node["inputs"].get("interleaved"), list)
        elif kind == "PreviewAny":
            assert run.outputs[node_id]["text"][0].strip()
