"""Comfy Registry readiness: what `comfy node publish` reads (pyproject [project] and [tool.comfy]), what the
published archive holds (tracked files minus .comfyignore) and the calls the registry's scan refuses (eval/exec,
pip run by the pack itself). ComfyUI-Manager installs requirements.txt: it must mirror the project's
dependencies and never pull torch."""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import tomllib

from PIL import Image

from comfy_setup import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
RAW_FILES = "https://raw.githubusercontent.com/minigpt5-storybook/minigpt5-storybook/main/"
PACK_RUNTIME = ("__init__.py", "nodes/", "minigpt5_core/", "storybook/", "web/", "workflows/", "requirements.txt",
                "pyproject.toml", "README.md", "LICENSE")


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def _comfyignored(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("/"):
            if path.startswith(pattern) or f"/{pattern}" in f"/{path}":
                return True
        elif fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern):
            return True
    return False


def _published_files() -> list[str]:
    lines = (REPO_ROOT / ".comfyignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [p for p in _tracked_files() if not _comfyignored(p, patterns)]


def test_project_metadata_follows_the_registry_rules():
    project = PYPROJECT["project"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*", project["name"]) and len(project["name"]) < 100
    assert "comfyui" not in project["name"].lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"] and project["description"]
    assert project["urls"]["Repository"].startswith("https://github.com/")


def test_tool_comfy_is_complete_and_the_icon_is_a_square_file_of_the_repository():
    comfy = PYPROJECT["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert re.fullmatch(r">=\d+\.\d+\.\d+", comfy["requires-comfyui"])
    assert isinstance(comfy["includes"], list)
    assert comfy["Icon"].startswith(RAW_FILES)
    icon_path = comfy["Icon"][len(RAW_FILES):]
    assert icon_path in _published_files()
    with Image.open(REPO_ROOT / icon_path) as icon:
        assert icon.width == icon.height <= 400


def test_the_published_archive_holds_the_pack_and_no_tests_or_benches():
    published = _published_files()
    assert not [p for p in published if p.startswith(("tests/", "bench/", ".ci/")) or p == "Makefile"]
    for needed in PACK_RUNTIME:
        assert any(p == needed or p.startswith(needed) for p in published), needed
    assert all(f"web/docs/{node}.md" in published for node in ("LoadMiniGPT5", "MiniGPT5Story", "SaveStorybook"))


def _banned_calls(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            found.append(f"{node.func.id}() on line {node.lineno}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"import {n} on line {node.lineno}" for n in names if n.split(".")[0] == "pip"]
        if isinstance(node, (ast.List, ast.Tuple)):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if "pip" in words and "install" in words:
                found.append(f"a pip install command on line {node.lineno}")
    return found


def test_shipped_code_makes_no_call_the_registry_refuses():
    problems = {path: calls for path in _published_files() if path.endswith(".py")
                if (calls := _banned_calls((REPO_ROOT / path).read_text()))}
    assert problems == {}


def test_the_scan_would_see_a_banned_call():
    assert _banned_calls("eval('1')\nsubprocess.run(['python', '-m', 'pip', 'install', 'x'])\n") == [
        "eval() on line 1", "a pip install command on line 2"]


def _requirement(line: str) -> str:
    return line.split("#", 1)[0].strip().replace(" ", "")


def test_requirements_txt_mirrors_the_project_dependencies_without_torch():
    lines = [_requirement(line) for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    requirements = sorted(line for line in lines if line)
    dependencies = sorted(d.replace(" ", "") for d in PYPROJECT["project"]["dependencies"]
                          if not d.startswith("torch"))
    assert requirements == dependencies
    assert not any(re.match(r"torch(vision|audio)?\b", r) for r in requirements)
