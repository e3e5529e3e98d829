"""Acceptance: a real ComfyUI server (`main.py`) on 127.0.0.1 with the pack, driven over HTTP.

Run with `make test-server` (`pytest -m server`); the default `make test` leaves it out. The server gets its own
base directory; an extra_model_paths.yaml points it at the session's custom_nodes/ (this repository, linked)
and models/, as a user with a shared model folder would configure it.
"""

from __future__ import annotations

import json
import time

import pytest

from browser import HeadlessPage
from comfy_fixtures import WORKFLOWS, load_api_twin, shrink_for_cpu
from comfy_harness import ComfyServer

pytestmark = pytest.mark.server

STORY = "minigpt5_story_to_storybook"


@pytest.fixture(scope="module")
def server(comfy_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("comfyui-server")
    shared = comfy_models.base
    yaml = base / "extra_model_paths.yaml"
    yaml.write_text(f"shared:\n    base_path: {shared}\n    custom_nodes: custom_nodes\n"
                    f"    checkpoints: models/checkpoints\n    minigpt5: models/minigpt5\n")
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
    assert story["output"] == ["STRING", "CONDITIONING", "CONDITIONING", "INTERLEAVED"]
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


def test_interrupt_stops_a_long_story(server):
    import requests

    prompt = {
        "1": {"class_type": "LoadMiniGPT5", "inputs": {"model_name": "minigpt5-vist", "dtype": "auto",
                                                       "device": "auto"}},
        "2": {"class_type": "MiniGPT5Story", "inputs": {"minigpt5": ["1", 0], "opening": "A long tale", "pages": 32,
                                                        "seed": 5, "max_new_tokens": 1024, "temperature": 1.0,
                                                        "top_p": 0.9}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    prompt_id = server.post_prompt(prompt)["prompt_id"]
    deadline = time.monotonic() + 60
    while not server.get("/queue")["queue_running"]:
        assert time.monotonic() < deadline, "the prompt never started"
        time.sleep(0.05)
    time.sleep(0.3)
    requests.post(server.url + "/interrupt", timeout=10)
    entry = server.wait(prompt_id, timeout=60)
    events = [event for event, _data in entry["status"]["messages"]]
    assert "execution_interrupted" in events, events


DROP_WORKFLOW = """(async () => {
    const file = new File([%s], %s, {type: "application/json"});
    await app.handleFile(file);  // what dropping a file on the canvas calls
    const prompt = await app.graphToPrompt();
    return {types: app.graph.nodes.map(n => n.type),
            unknown: app.graph.nodes.map(n => n.type).filter(t => !(t in LiteGraph.registered_node_types)),
            output: prompt.output};
})()"""


def test_every_shipped_workflow_loads_in_the_comfyui_frontend(server, tmp_path):
    """The real frontend (comfyui-frontend-package) in headless Chromium: each workflow file, dropped on the
    page, gives a graph of known node types whose API prompt is the twin we run in the other tests."""
    info = server.get("/object_info")
    page = HeadlessPage(tmp_path / "chromium-profile")
    try:
        page.navigate(server.url)
        page.wait_for("window.app?.graph && 'LoadMiniGPT5' in (window.LiteGraph?.registered_node_types ?? {})",
                      timeout=120)
        for path in sorted(WORKFLOWS.glob("*.json")):
            ui = json.loads(path.read_text())
            loaded = page.evaluate(DROP_WORKFLOW % (json.dumps(path.read_text()), json.dumps(path.name)))
            assert loaded["unknown"] == [], path.name
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
