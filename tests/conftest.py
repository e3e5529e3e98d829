"""Shared pytest fixtures. Tiny models are built once per test session (building costs ~0.5 s)."""

from __future__ import annotations

import builtins

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache_in_a_temporary_folder(tmp_path_factory):
    """Caches the code keeps in the user's cache folder (storybook's file hashes) go to a temporary one."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny_config():
    from minigpt5_core import MiniGPT5Config

    return MiniGPT5Config.preset("tiny")


@pytest.fixture(scope="session")
def tiny_model():
    """A random tiny MiniGPT-5 (eval mode). Tests must not train or re-wrap it: use `fresh_tiny_model`."""
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    return MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)


@pytest.fixture
def fresh_tiny_model():
    """A new tiny model for tests that change it (training, adapters)."""
    from minigpt5_core import MiniGPT5, MiniGPT5Config

    return MiniGPT5.from_config(MiniGPT5Config.preset("tiny"), seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory):
    """The tiny model saved with `save_pretrained` (config.json, model.safetensors, tokenizer/, sd/)."""
    folder = tmp_path_factory.mktemp("models") / "tiny"
    tiny_model.save_pretrained(folder)
    return folder


# Fixtures of the ComfyUI node-pack tests (a real ComfyUI, built once per session): see comfy_fixtures.py.
from comfy_fixtures import *  # noqa: E402,F401,F403

# LLaMA's real vocabulary (downloaded into .cache/ once): see vocab_fixtures.py.
from vocab_fixtures import *  # noqa: E402,F401,F403


@pytest.fixture
def no_pango(monkeypatch):
    """weasyprint installed but its native libraries missing: the OSError its import raises on such machines."""
    real_import = builtins.__import__

    def import_without_pango(name, *args, **kwargs):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libgobject-2.0-0': error 0x7e.  Additionally, "
                          "ctypes.util.find_library() did not manage to locate a library called 'libgobject-2.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_pango)


@pytest.fixture
def no_browser(monkeypatch):
    """No Chromium-family browser on this machine either (the PDF's other route, storybook.pdf_browser)."""
    import storybook.pdf_browser

    monkeypatch.setattr(storybook.pdf_browser, "find_browser", lambda: None)


# A small book drawn by the tiny model (made once per session): see book_fixtures.py.
from book_fixtures import *  # noqa: E402,F401,F403
