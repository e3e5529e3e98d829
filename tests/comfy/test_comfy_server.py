"""Acceptance: a real ComfyUI server (`main.py`) on 127.0.0.1 with the pack, driven over HTTP.

Run with `make test-server` (`pytest -m server`); the default `make test` leaves it out. The server gets its own
base directory; an extra_model_paths.yaml points it at the session's custom_nodes/ (this repository, linked)
and models/, as a user with a shared model folder would configure it. Its own custom_nodes/ holds a test-only
probe node (``MiniGPT5Census``) that reports which models ComfyUI's memory manager holds and how many MiniGPT5
objects are alive in the server process, to see what "Unload models" frees.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time

import pytest

from browser import HeadlessPage
from comfy_fixtures import INPUT_PICTURE, MINIGPT5_MODEL, WORKFLOWS, graph_builder, load_api_twin, shrink_for_cpu
from comfy_harness import OUR_NODE_IDS, ComfyServer

pytestmark = pytest.mark.server

STORY = "minigpt5_story_to_storybook"

CENSUS_PACK = textwrap.dedent("""\
    import gc
    import json
    import weakref

    SEEN = []  # weak references to every MiniGPT5 model this node was given


    class MiniGPT5Census:
        CATEGORY = "testing"
        FUNCTION = "count"
        OUTPUT_NODE = True
        RETURN_TYPES = ()

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"minigpt5": ("MINIGPT5",), "after": ("STRING", {"forceInput": True})}}

        @classmethod
        def IS_CHANGED(cls, **_inputs):
            return float("nan")  # never cached: every prompt counts anew

        def count(self, minigpt5, after):
            import comfy.model_management as mm

            gc.collect()
            loaded = any(m.model is minigpt5.patcher for m in mm.current_loaded_models)
            serial = next((i for i, ref in enumerate(SEEN) if ref() is minigpt5.model), None)
            if serial is None:  # a model this node has not seen: the next serial number (ids get reused)
                SEEN.append(weakref.ref(minigpt5.model))
                serial = len(SEEN) - 1
            earlier_alive = sum(1 for ref in SEEN[:serial] if ref() is not None)
            report = {"loaded": loaded, "model": serial, "earlier_alive": earlier_alive}
            return {"ui": {"text": [json.dumps(report)]}}


    NODE_CLASS_MAPPINGS = {"MiniGPT5Census": MiniGPT5Census}
""")


@pytest.fixture(scope="module")
def server(comfy_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("comfyui-server")
    shared = comfy_models.base
    yaml = base / "extra_model_paths.yaml"
    yaml.write_text(f"shared:\n    base_path: {shared}\n    custom_nodes: custom_nodes\n"
                    f"    checkpoints: models/checkpoints\n    minigpt5: models/minigpt5\n"
                    f"    upscale_models: models/upscale_models\n")
    (base / "custom_nodes" / "minigpt5_census").mkdir(parents=True)
    (base / "custom_nodes" / "minigpt5_census" / "__init__.py").write_text(CENSUS_PACK)
    (base / "input").mkdir()
    shutil.copyfile(comfy_models.picture, base / "input" / INPUT_PICTURE)  # the server's own input/ folder
    srv = ComfyServer(base, extra_model_paths=yaml)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()  # our child process, by its PID
    assert srv.proc.poll() is not None


def test_object_info_and_workflow_templates_over_http(server):
    info = server.get("/object_info/LoadMiniGPT5")["LoadMiniGPT5"]
    assert info["output"] == ["MINIGPT5"] and info["category"] == "MiniGPT-5"
    assert "minigpt5-vist" in info["input"]["required"]["model_name"][0]  # found through extra_model_paths.yaml
    story = server.get("/object_info/MiniGPT5Story")["MiniGPT5Story"]
    assert story["output"] == ["STRING", "CONDITIONING", "CONDITIONING", "INTERLEAVED", "INT"]
    templates = server.get("/workflow_templates")
    assert STORY in templates["minigpt5-storybook"]
    assert server.get(f"/api/workflow_templates/minigpt5-storybook/{STORY}.json")["nodes"]  # the browser can open it


def test_post_prompt_runs_the_story_workflow(server):
    prompt_id = server.post_prompt(shrink_for_cpu(load_api_twin(STORY)))["prompt_id"]
    entry = server.wait(prompt_id)
    assert entry["status"]["status_str"] == "success", entry["status"]
    [saved] = [out for out in entry["outputs"].values() if "images" in out and out["images"]]
    folder = server.base_dir / "output" / saved["images"][0]["subfolder"]
    for name in ("story.json", "index.html", "storybook.pdf"):
        assert (folder / name).is_file()
    assert len(list(folder.glob("page-*.png"))) == 4


def test_missing_model_is_rejected_with_our_message(server):
    import requests

    prompt = load_api_twin(STORY)
    prompt["1"]["inputs"]["model_name"] = "not-downloaded-yet"
    r = requests.post(server.url + "/prompt", json={"prompt": prompt}, timeout=30)
    assert r.status_code == 400
    details = r.json()["node_errors"]["1"]["errors"][0]["details"]
    assert "'not-downloaded-yet' not found" in details and "model.safetensors" in details


def test_every_node_help_page_is_served_where_the_frontend_looks(server):
    import requests

    for node_id in OUR_NODE_IDS:
        r = requests.get(f"{server.url}/extensions/minigpt5-storybook/docs/{node_id}.md", timeout=10)
        assert r.status_code == 200 and r.text.startswith("# "), node_id


def _census(server) -> dict:
    """Run the model graph again (loader and generation come from ComfyUI's cache unless it was freed) and
    report what the probe sees."""
    g = graph_builder()
    loader = g.node("LoadMiniGPT5", model_name=MINIGPT5_MODEL, dtype="auto", device="auto")
    turn = g.node("InterleavedGenerate", minigpt5=loader.out(0), prompt="A fox.", seed=0, max_new_tokens=12,
                  temperature=1.0, top_p=0.9, force_image=True)
    census = g.node("MiniGPT5Census", minigpt5=loader.out(0), after=turn.out(1))
    entry = server.wait(server.post_prompt(g.finalize())["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    return json.loads(entry["outputs"][census.id]["text"][0])


def _free(server, body: dict, until, timeout: float = 30.0) -> dict:
    """POST /free, then count until the prompt worker has acted on it (it does so between prompts)."""
    import requests

    assert requests.post(server.url + "/free", json=body, timeout=10).status_code == 200
    deadline = time.monotonic() + timeout
    while not until(census := _census(server)):
        assert time.monotonic() < deadline, (body, census)
        time.sleep(0.5)
    return census


def test_unload_models_frees_the_minigpt5_model(server):
    first = _census(server)
    assert first["loaded"], first  # generation put it on ComfyUI's device, under ComfyUI's memory manager
    # The frontend's "Unload Models": off the device and out of ComfyUI's loaded models (the cached node
    # output still holds it, as it holds any checkpoint).
    unloaded = _free(server, {"unload_models": True}, lambda c: not c["loaded"])
    assert unloaded["model"] == first["model"]
    # "Free model and node cache": the cached outputs go too, and with them the model itself.
    freed = _free(server, {"unload_models": True, "free_memory": True}, lambda c: c["model"] != first["model"])
    assert freed["earlier_alive"] == 0, freed


def test_interrupt_stops_a_long_story(server):
    import requests

    g = graph_builder()
    loader = g.node("LoadMiniGPT5", model_name=MINIGPT5_MODEL, dtype="auto", device="auto")
    story = g.node("MiniGPT5Story", minigpt5=loader.out(0), opening="A long tale", pages=32, seed=5,
                   max_new_tokens=1024, temperature=1.0, top_p=0.9)
    g.node("PreviewAny", source=story.out(0))
    prompt_id = server.post_prompt(g.finalize())["prompt_id"]
    deadline = time.monotonic() + 60
    while not server.get("/queue")["queue_running"]:
        assert time.monotonic() < deadline, "the prompt never started"
        time.sleep(0.05)
    time.sleep(0.3)
    requests.post(server.url + "/interrupt", timeout=10)
    entry = server.wait(prompt_id, timeout=60)
    events = [event for event, _data in entry["status"]["messages"]]
    assert "execution_interrupted" in events, events


# Records what the user would see as a problem: console errors, uncaught errors and rejected promises.
WATCH_CONSOLE = """(() => {
    if (window.__problems) return true;
    window.__problems = [];
    const error = console.error.bind(console);
    console.error = (...args) => { window.__problems.push(args.map(a => a?.stack ?? String(a)).join(" ")); error(...args); };
    window.addEventListener("error", e => window.__problems.push("uncaught: " + e.message));
    window.addEventListener("unhandledrejection", e => window.__problems.push("unhandled rejection: " + e.reason));
    return true;
})()"""

DROP_WORKFLOW = """(async () => {
    const file = new File([%s], %s, {type: "application/json"});
    await app.handleFile(file);  // what dropping a file on the canvas calls
    await new Promise(done => setTimeout(done, 2000));  // the missing-models check and its dialog are async
    const prompt = await app.graphToPrompt();
    const dialogs = [...document.querySelectorAll(".p-dialog")].map(d => d.innerText.slice(0, 400));
    return {types: app.graph.nodes.map(n => n.type),
            unknown: app.graph.nodes.map(n => n.type).filter(t => !(t in LiteGraph.registered_node_types)),
            red: app.graph.nodes.filter(n => n.has_errors).map(n => n.type),
            dialogs, problems: window.__problems.splice(0),
            output: prompt.output};
})()"""


def test_every_shipped_workflow_loads_in_the_comfyui_frontend_and_runs(server, tmp_path):
    """The real frontend (comfyui-frontend-package) in headless Chromium: each workflow file, dropped on the
    page, opens with no unknown or red node, no dialog and no console error, and gives the API prompt of its
    twin; that prompt, as the frontend made it (at test size), runs on the server."""
    import requests

    info = server.get("/object_info")
    # A returning user: without this the frontend greets a first start with its template browser (a dialog).
    requests.post(server.url + "/settings/Comfy.TutorialCompleted", json=True, timeout=10).raise_for_status()
    page = HeadlessPage(tmp_path / "chromium-profile")
    made_prompts = {}
    try:
        page.navigate(server.url)
        page.wait_for("window.app?.graph && 'LoadMiniGPT5' in (window.LiteGraph?.registered_node_types ?? {})",
                      timeout=120)
        page.evaluate(WATCH_CONSOLE)
        for path in sorted(WORKFLOWS.glob("*.json")):
            ui = json.loads(path.read_text())
            loaded = page.evaluate(DROP_WORKFLOW % (json.dumps(path.read_text()), json.dumps(path.name)))
            assert loaded["unknown"] == [] and loaded["red"] == [], path.name
            assert loaded["dialogs"] == [], (path.name, loaded["dialogs"])
            assert loaded["problems"] == [], (path.name, loaded["problems"])
            made_prompts[path.name] = loaded["output"]
            assert sorted(loaded["types"]) == sorted(n["type"] for n in ui["nodes"]), path.name
            twin = load_api_twin(path.stem)
            assert set(loaded["output"]) == set(twin), path.name
            for node_id, node in twin.items():
                made = loaded["output"][node_id]
                # The frontend also sends its display-only widgets (PreviewAny's "preview" box), which the
                # server does not declare and ignores; every declared input must match the twin.
                spec = info[node["class_type"]]["input"]
                declared = set(spec.get("required", {})) | set(spec.get("optional", {}))
                inputs = {k: v for k, v in made["inputs"].items() if k in declared}
                assert (made["class_type"], inputs) == (node["class_type"], node["inputs"]), (path.name, node_id)
    finally:
        page.close()
    for name, prompt in made_prompts.items():
        entry = server.wait(server.post_prompt(shrink_for_cpu(prompt))["prompt_id"])
        assert entry["status"]["status_str"] == "success", (name, entry["status"])
