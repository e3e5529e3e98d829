"""The MiniGPT-5 nodes inside a real ComfyUI 0.3.75: registration, types, progress, interrupts, errors.

ComfyUI loads this repository from its custom_nodes/ folder exactly as users get it (see comfy_harness.py).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from comfy_fixtures import MINIGPT5_MODEL, generate_graph, graph_builder
from comfy_setup import REPO_ROOT

OUR_NODES = {
    # id: (required inputs {name: type}, optional inputs, outputs)
    "LoadMiniGPT5": ({"model_name": "COMBO", "dtype": "COMBO", "device": "COMBO"}, {"quantize": "COMBO"},
                     ("MINIGPT5",)),
    "InterleavedGenerate": (
        {"minigpt5": "MINIGPT5", "prompt": "STRING", "seed": "INT", "max_new_tokens": "INT",
         "temperature": "FLOAT", "top_p": "FLOAT", "force_image": "BOOLEAN"},
        {"images": "IMAGE"}, ("INTERLEAVED", "STRING")),
    "VokenToConditioning": ({"minigpt5": "MINIGPT5", "interleaved": "INTERLEAVED", "image": "INT"}, {},
                            ("CONDITIONING", "CONDITIONING")),
    "MiniGPT5Story": (
        {"minigpt5": "MINIGPT5", "opening": "STRING", "pages": "INT", "seed": "INT", "max_new_tokens": "INT",
         "temperature": "FLOAT", "top_p": "FLOAT"},
        {"images": "IMAGE"}, ("STRING", "CONDITIONING", "CONDITIONING", "INTERLEAVED", "INT")),
    "SaveStorybook": (
        {"images": "IMAGE", "pages": "STRING", "title": "STRING", "filename_prefix": "STRING", "size": "COMBO",
         "layout": "COMBO"},
        {"author": "STRING", "interleaved": "INTERLEAVED", "fit": "COMBO", "font": "COMBO"}, ("STRING",)),
    "ConsistentStoryPages": ({"model": "MODEL", "ratio": "FLOAT", "start_step": "INT", "end_step": "INT",
                              "sample_seed": "INT"}, {}, ("MODEL",)),
}


def _type(entry):
    return "COMBO" if isinstance(entry[0], (list, tuple)) else entry[0]


def _pack_module(comfy, name):
    """A module of our nodes/ package as ComfyUI loaded it (under the pack's mangled module name)."""
    package = comfy.node_classes["LoadMiniGPT5"].__module__.rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.{name}")


def _generate_graph(prompt="A fox finds a lantern.", max_new_tokens=24, force_image=True, seed=0, model=None):
    return generate_graph(MINIGPT5_MODEL if model is None else model, prompt, max_new_tokens, force_image, seed)


def _story_graph(pages=3, max_new_tokens=16):
    g = graph_builder()
    loader = g.node("LoadMiniGPT5", model_name=MINIGPT5_MODEL, dtype="auto", device="auto")
    story = g.node("MiniGPT5Story", minigpt5=loader.out(0), opening="Once upon a time", pages=pages, seed=0,
                   max_new_tokens=max_new_tokens, temperature=1.0, top_p=0.9)
    g.node("PreviewAny", source=story.out(0))
    return g.finalize()


@pytest.fixture
def handle(comfy, comfy_models):
    return comfy.node_classes["LoadMiniGPT5"]().load(MINIGPT5_MODEL, "auto", "auto")[0]


# ---- registration and types -----------------------------------------------------------------------------

def test_object_info_lists_our_nodes_with_input_and_output_types(comfy, comfy_models):
    for node_id, (required, optional, outputs) in OUR_NODES.items():
        cls = comfy.node_classes[node_id]
        spec = cls.INPUT_TYPES()
        # what /object_info/<node> serves (server.py node_info) must be JSON
        info = json.loads(json.dumps({"input": spec, "output": cls.RETURN_TYPES, "output_name": cls.RETURN_NAMES,
                                      "output_tooltips": cls.OUTPUT_TOOLTIPS, "description": cls.DESCRIPTION,
                                      "category": cls.CATEGORY}))
        assert {k: _type(v) for k, v in spec["required"].items()} == required, node_id
        assert {k: _type(v) for k, v in (spec.get("optional") or {}).items()} == optional, node_id
        assert tuple(info["output"]) == outputs
        assert len(info["output_name"]) == len(outputs) == len(info["output_tooltips"])
        assert info["category"] == "MiniGPT-5" and len(info["description"]) > 40
        for name, entry in {**spec["required"], **(spec.get("optional") or {})}.items():
            assert entry[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
        assert all(t.strip() for t in info["output_tooltips"])
        assert comfy.nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id]
        # loaded by ComfyUI from custom_nodes/, the way users install it
        assert cls.RELATIVE_PYTHON_MODULE == "custom_nodes.minigpt5-storybook"
    assert MINIGPT5_MODEL in comfy.node_classes["LoadMiniGPT5"].INPUT_TYPES()["required"]["model_name"][0]
    seed_opts = comfy.node_classes["InterleavedGenerate"].INPUT_TYPES()["required"]["seed"][1]
    assert seed_opts["control_after_generate"] is True
    assert comfy.node_classes["SaveStorybook"].OUTPUT_NODE is True


def test_every_node_has_search_aliases_and_a_help_page(comfy):
    """server.py sends SEARCH_ALIASES to the node search; the frontend's node library shows
    WEB_DIRECTORY/docs/<NodeId>.md as the node's help page (served under /extensions/<pack folder>/)."""
    web = comfy.nodes.EXTENSION_WEB_DIRS["minigpt5-storybook"]
    assert os.path.samefile(web, REPO_ROOT / "web")
    for node_id in OUR_NODES:
        aliases = comfy.node_classes[node_id].SEARCH_ALIASES
        assert aliases and all(isinstance(a, str) and a.strip() for a in aliases), node_id
        page = (REPO_ROOT / "web" / "docs" / f"{node_id}.md").read_text()
        assert page.startswith(f"# {comfy.nodes.NODE_DISPLAY_NAME_MAPPINGS[node_id]}\n"), node_id
        spec = comfy.node_classes[node_id].INPUT_TYPES()
        for name in [*spec["required"], *(spec.get("optional") or {}), *comfy.node_classes[node_id].RETURN_NAMES]:
            assert f"**{name}**" in page, f"{node_id}'s help page does not explain {name}"
    assert not list((REPO_ROOT / "web").rglob("*.js"))  # help pages only: nothing runs in the user's frontend


def test_pack_imports_without_comfyui_torch_or_weasyprint(tmp_path):
    """The nodes import the libraries' torch-free modules (minigpt5_core's small ones, storybook) at module
    level, and torch, ComfyUI and the model inside the functions that need them."""
    code = textwrap.dedent(f"""
        import importlib.util, sys
        root = {str(REPO_ROOT)!r}
        spec = importlib.util.spec_from_file_location("some_mangled_name", root + "/__init__.py",
                                                      submodule_search_locations=[root])
        pack = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = pack
        spec.loader.exec_module(pack)
        print(sorted(pack.NODE_CLASS_MAPPINGS))
        heavy = [m for m in ("torch", "transformers", "diffusers", "comfy", "folder_paths", "weasyprint", "nodes",
                             "minigpt5_core.modeling.model", "minigpt5_core.convert") if m in sys.modules]
        assert not heavy, heavy
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.replace("'", '"')) == sorted(OUR_NODES)


def test_our_nodes_folder_is_never_the_top_level_nodes_module():
    out = subprocess.run([sys.executable, "-c", "import nodes"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "top-level `nodes`" in out.stderr


# ---- execution: progress, interrupt ---------------------------------------------------------------------

def test_generate_reports_progress_for_every_token(comfy, comfy_models):
    run = comfy.run(_generate_graph(max_new_tokens=24))
    values = [value for node, value, total in run.progress if node == "2"]
    totals = {total for node, value, total in run.progress if node == "2"}
    assert totals == {24}
    assert values[-1] == 24 and len(values) >= 9  # at least a voken group (8) and the final update
    assert values == sorted(values)
    assert run.outputs["3"]["text"][0] is not None


# seed 2: the tiny model writes 130+ tokens before its stop text (seed 0 stops after 9)
@pytest.mark.parametrize("kind", ["generate", "story"])
def test_interrupt_stops_generation_within_a_few_tokens(comfy, comfy_models, kind):
    graph = (_generate_graph(max_new_tokens=1000, force_image=False, seed=2) if kind == "generate"
             else _story_graph(pages=30, max_new_tokens=64))
    seen = []

    def interrupt_after_three(node, value, total):
        if node == "2":
            seen.append(value)
            if value >= 3:
                comfy.interrupt()

    # Without the server's progress hook the node's own per-token check has to stop it.
    comfy.on_progress, comfy.hook_checks_interrupt = interrupt_after_three, False
    try:
        run = comfy.run(graph, expect_success=False)
    finally:
        comfy.on_progress, comfy.hook_checks_interrupt = None, True
    assert run.interrupted is not None and run.interrupted["node_id"] == "2", run.messages[-1]
    assert 3 <= max(seen) <= 5, seen
    assert not comfy.mm.processing_interrupted()


# ---- errors a user can act on ---------------------------------------------------------------------------

def test_a_workflow_naming_a_missing_model_fails_with_our_message(comfy, comfy_models):
    ok, error, _outputs, node_errors = comfy.validate(_generate_graph(model="minigpt5-does-not-exist"))
    assert not ok
    details = node_errors["1"]["errors"][0]["details"]
    assert "'minigpt5-does-not-exist' not found" in details
    assert str(comfy_models.base / "models" / "minigpt5") in details  # the folder searched
    assert "config.json" in details and "model.safetensors" in details  # the files wanted
    assert "README" in details and "Models" in details  # where to get one
    for bad in ("../checkpoints", "a/b", ""):
        ok, _e, _o, node_errors = comfy.validate(_generate_graph(model=bad))
        assert not ok and node_errors["1"]["errors"]


def test_an_incomplete_model_folder_names_the_missing_file(comfy, comfy_models):
    broken = comfy_models.base / "models" / "minigpt5" / "half-copied"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    try:
        run = comfy.run(_generate_graph(model="half-copied"), expect_success=False)
    finally:
        (broken / "config.json").unlink()
        broken.rmdir()
    assert run.error is not None and run.error["node_id"] == "1"
    message = run.error["exception_message"]
    assert str(broken) in message and "incomplete" in message and "model.safetensors" in message


def test_a_damaged_model_file_is_reported_with_its_folder(comfy, comfy_models):
    import shutil

    damaged = comfy_models.base / "models" / "minigpt5" / "damaged"
    shutil.copytree(comfy_models.minigpt5, damaged)
    (damaged / "model.safetensors").write_bytes(b"not a safetensors file")
    try:
        run = comfy.run(_generate_graph(model="damaged"), expect_success=False)
    finally:
        shutil.rmtree(damaged)
    assert run.error is not None and run.error["node_id"] == "1"
    assert run.error["exception_type"].endswith("MiniGPT5Error")
    assert f"could not load MiniGPT-5 model 'damaged' from {damaged}" in run.error["exception_message"]


def test_extra_model_paths_yaml_entry_is_kept(comfy, comfy_models, tmp_path):
    import utils.extra_config

    folder_paths = comfy.folder_paths
    saved = folder_paths.folder_names_and_paths.pop("minigpt5", None)
    (tmp_path / "my_models" / "my-minigpt5").mkdir(parents=True)
    yaml = tmp_path / "extra_model_paths.yaml"
    yaml.write_text(f"mine:\n    base_path: {tmp_path}\n    minigpt5: my_models\n")
    try:
        utils.extra_config.load_extra_path_config(str(yaml))  # as main.py: before custom nodes load
        names = comfy.node_classes["LoadMiniGPT5"].INPUT_TYPES()["required"]["model_name"][0]
        paths = folder_paths.get_folder_paths("minigpt5")
        assert paths[0] == str(tmp_path / "my_models")
        assert paths[1:] == [os.path.join(folder_paths.models_dir, "minigpt5")]
        assert {"my-minigpt5", MINIGPT5_MODEL} <= set(names)
    finally:
        folder_paths.folder_names_and_paths.pop("minigpt5", None)
        if saved is not None:
            folder_paths.folder_names_and_paths["minigpt5"] = saved


# ---- node logic against the real ComfyUI types ----------------------------------------------------------

def test_conditioning_has_comfyui_format_and_the_model_is_memory_managed(comfy, handle):
    from comfy import model_management as mm
    from comfy.model_patcher import ModelPatcher

    generate = comfy.node_classes["InterleavedGenerate"]()
    result, text = generate.generate(handle, "A fox.", seed=0, max_new_tokens=24, temperature=1.0, top_p=0.9,
                                     force_image=True)
    assert isinstance(text, str) and result.num_images >= 1
    positive, negative = comfy.node_classes["VokenToConditioning"]().convert(handle, result, 0)
    for cond, batch in ((positive, result.num_images), (negative, 1)):
        assert isinstance(cond, list) and len(cond) == 1 and len(cond[0]) == 2
        tensor, extras = cond[0]
        assert tensor.shape == (batch, 77, 1024) and tensor.dtype == torch.float32
        assert tensor.device == mm.intermediate_device()
        assert extras["pooled_output"].shape == (batch, 1024)
    expected, _ = handle.model.conditioning(result)
    torch.testing.assert_close(positive[0][0], expected.cpu())  # the mapper output goes in as is
    first, _ = comfy.node_classes["VokenToConditioning"]().convert(handle, result, 1)
    assert first[0][0].shape == (1, 77, 1024)
    with pytest.raises(Exception, match=r"choose 0 \(all\)"):
        comfy.node_classes["VokenToConditioning"]().convert(handle, result, result.num_images + 1)

    assert isinstance(handle.patcher, ModelPatcher)
    assert any(loaded.model is handle.patcher for loaded in mm.current_loaded_models)
    mm.unload_all_models()  # what "Unload models" does
    assert not any(loaded.model is handle.patcher for loaded in mm.current_loaded_models)
    again, _ = generate.generate(handle, "A fox.", seed=0, max_new_tokens=24, temperature=1.0, top_p=0.9,
                                 force_image=True)
    assert again.token_ids == result.token_ids  # seeded, and the model survived offloading


def test_dtype_and_device_options(comfy, comfy_models):
    handle = comfy.node_classes["LoadMiniGPT5"]().load(MINIGPT5_MODEL, "bfloat16", "cpu")[0]
    assert handle.model.dtype == torch.bfloat16 and handle.patcher.load_device == torch.device("cpu")
    result, _ = comfy.node_classes["InterleavedGenerate"]().generate(
        handle, "A fox.", seed=0, max_new_tokens=12, temperature=1.0, top_p=0.9, force_image=True)
    positive, _ = comfy.node_classes["VokenToConditioning"]().convert(handle, result, 0)
    assert positive[0][0].dtype == torch.float32  # CONDITIONING is float32 whatever the model runs in


def test_story_node_returns_page_texts_and_one_batched_conditioning(comfy, handle):
    pages, positive, negative, whole, page_count = comfy.node_classes["MiniGPT5Story"]().story(
        handle, "Once upon a time", pages=3, seed=0, max_new_tokens=16, temperature=1.0, top_p=0.9)
    assert len(_pack_module(comfy, "pages").split_pages(pages)) == 3
    assert positive[0][0].shape == (3, 77, 1024) and negative[0][0].shape == (1, 77, 1024)
    assert whole.num_images == 3
    assert page_count == 3  # what the shipped story workflow wires into the latent batch size


def test_a_sharded_model_folder_loads_in_the_node(comfy, comfy_models, tiny_model):
    """What `python -m minigpt5_core.convert` writes for a 7B model: model-0000N-of-0000M.safetensors + index."""
    import shutil

    folder = comfy_models.base / "models" / "minigpt5" / "sharded"
    tiny_model.save_pretrained(folder, max_shard_bytes=200_000)
    try:
        shards = sorted(p.name for p in folder.glob("model-*-of-*.safetensors"))
        assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
        assert not (folder / "model.safetensors").exists()
        assert "sharded" in comfy.node_classes["LoadMiniGPT5"].INPUT_TYPES()["required"]["model_name"][0]
        run = comfy.run(_generate_graph(model="sharded", max_new_tokens=12))
        assert run.outputs["3"]["text"][0] is not None
    finally:
        shutil.rmtree(folder)


def test_pictures_as_history(comfy, handle):
    pictures = torch.rand(2, 40, 56, 3)
    result, _text = comfy.node_classes["InterleavedGenerate"]().generate(
        handle, "What happens next? Show me with an image.", seed=1, max_new_tokens=16, temperature=1.0,
        top_p=0.9, force_image=True, images=pictures)
    assert result.num_images >= 1


def test_page_texts_format(comfy):
    pages = _pack_module(comfy, "pages")
    text = pages.join_pages(["First page\nwith a break.", "", "Third  page."])
    assert text == "First page with a break.\n\nThird page."
    assert pages.split_pages(text + "\n\n") == ["First page with a break.", "", "Third page."]


def test_save_storybook_explains_a_page_count_mismatch(comfy, comfy_models):
    save = comfy.node_classes["SaveStorybook"]()
    with pytest.raises(Exception, match="3 page texts but only 2 images"):
        save.save(torch.rand(2, 64, 64, 3), "one\ntwo\nthree", "Title", "storybook/mismatch", "a5",
                  "image-above-text")
    out = save.save(torch.rand(2, 64, 64, 3), "only one text", "Two Pages", "storybook/short", "a5", "spread")
    assert out["result"][0].endswith("short_00001") and len(out["ui"]["images"]) == 2


def test_storybook_choices_match_the_storybook_package(comfy):
    from storybook.layouts import LAYOUTS
    from storybook.pagesize import parse_size

    spec = comfy.node_classes["SaveStorybook"].INPUT_TYPES()["required"]
    assert tuple(spec["layout"][0]) == tuple(LAYOUTS)
    for size in spec["size"][0]:
        parse_size(size)
