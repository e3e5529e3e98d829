"""How the node pack reaches its own libraries when ComfyUI loads it from custom_nodes/ (nodes/_pack.py).

Users clone the repository and install only requirements.txt: `minigpt5_core` and `storybook` are then not
installed. Each test runs a fresh interpreter with `-S` and the environment's site-packages added as a plain
path: the third-party packages are there, but not this project's editable install (a .pth hook), exactly as
on a user's machine. The pack is loaded as ComfyUI loads it: by path, under a mangled module name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from comfy_setup import REPO_ROOT

LOAD_THE_PACK = """
import importlib.util, json, sys
sys.path.append({site_packages!r})
sys.path.extend({extra_paths!r})

def load_pack(name):
    spec = importlib.util.spec_from_file_location(name, {root!r} + "/__init__.py",
                                                  submodule_search_locations=[{root!r}])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[name] = pack
    spec.loader.exec_module(pack)
    return pack
"""


def run_without_the_project_installed(body: str, cwd: Path, extra_paths: tuple[str, ...] = ()) -> dict:
    """Runs `body` (which prints one JSON object) after LOAD_THE_PACK; returns that object."""
    setup = LOAD_THE_PACK.format(site_packages=sysconfig.get_paths()["purelib"], extra_paths=list(extra_paths),
                                 root=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-S", "-c", setup + textwrap.dedent(body)], cwd=cwd, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def loaded_twice(tmp_path_factory) -> dict:
    return run_without_the_project_installed("""
        try:
            import minigpt5_core
            before = minigpt5_core.__file__
        except ModuleNotFoundError:
            before = None
        first, second = load_pack("custom_nodes.first_name"), load_pack("custom_nodes.second_name")
        import minigpt5_core, storybook
        from minigpt5_core.errors import MiniGPT5Error
        print(json.dumps({
            "before": before,
            "minigpt5_core": minigpt5_core.__file__,
            "storybook": storybook.__file__,
            "one_error_type": first.nodes.loader.MiniGPT5Error is second.nodes.loader.MiniGPT5Error is MiniGPT5Error,
            "other_copies": sorted(m for m in sys.modules if m.endswith((".minigpt5_core", ".storybook"))),
            "finders": sum(type(f).__name__ == "ShippedLibraries" for f in sys.meta_path),
            "rest_of_the_pack": [m for m in ("nodes", "bench", "tests", "web", "workflows")
                                 if importlib.util.find_spec(m) is not None],
        }))
    """, tmp_path_factory.mktemp("cwd"))


def test_the_libraries_are_not_importable_before_the_pack_is_loaded(loaded_twice):
    assert loaded_twice["before"] is None  # else this file would test an installed copy, not the pack's


def test_loading_the_pack_makes_its_libraries_importable_under_their_real_names(loaded_twice):
    assert loaded_twice["minigpt5_core"] == str(REPO_ROOT / "minigpt5_core" / "__init__.py")
    assert loaded_twice["storybook"] == str(REPO_ROOT / "storybook" / "__init__.py")


def test_each_library_is_loaded_once_whatever_name_the_pack_gets(loaded_twice):
    assert loaded_twice["other_copies"] == []
    assert loaded_twice["one_error_type"] is True
    assert loaded_twice["finders"] == 1


def test_nothing_else_of_the_pack_folder_becomes_importable(loaded_twice):
    assert loaded_twice["rest_of_the_pack"] == []


def test_an_installed_copy_of_the_libraries_is_reused(tmp_path):
    installed = tmp_path / "site"
    installed.mkdir()
    for name in ("minigpt5_core", "storybook"):
        (installed / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    found = run_without_the_project_installed("""
        load_pack("custom_nodes.pack")
        import minigpt5_core, storybook
        print(json.dumps([minigpt5_core.__file__, storybook.__file__]))
    """, tmp_path, extra_paths=(str(installed),))
    assert found == [str(installed / "minigpt5_core" / "__init__.py"), str(installed / "storybook" / "__init__.py")]
