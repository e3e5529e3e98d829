"""The layering of ARCHITECTURE.md, read off the source: what imports what, and what stays torch-free.

Every import statement counts wherever it stands (module level or inside a function), because a
function-level import is still a dependency, only a hidden one. Imports under `if TYPE_CHECKING:` never run, so
they are left out of what must stay torch-free; they still count for cycles: a part that imports the whole model
only to name its type knows too much.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = ("config", "errors", "prompts", "tokens", "layout", "cli", "notices")  # torch-free, at the bottom
CENTRE = (*SMALL, "io", "modeling")
TORCH_FREE_MODELING = ("minigpt5_core.modeling.quantize",)  # the quantize tiers, offered by CLIs and nodes
EDGES = ("train", "convert", "data", "evaluate", "shapes")
ENTRY = ("__main__",)  # `python -m minigpt5_core`, above everything
OUTSIDE = ("nodes", "storybook", "comfy", "comfy_execution", "comfy_extras", "folder_paths", "server")
HEAVY = ("torch", "transformers", "diffusers", "peft", "accelerate", "safetensors")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """Every import statement of a module, at any depth; with `typing=False`, not those that only run for a type
    checker."""

    def __init__(self, typing: bool) -> None:
        self.typing = typing
        self.found: list[ast.Import | ast.ImportFrom] = []

    def visit_If(self, node: ast.If) -> None:
        skip_body = _is_type_checking(node) and not self.typing
        for child in node.orelse if skip_body else [node.test, *node.body, *node.orelse]:
            self.visit(child)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.found.append(node)

    visit_ImportFrom = visit_Import


def imports_of(path: Path, modules: set[str], typing: bool = False) -> set[str]:
    """The modules `path` imports: `from pkg import sub` names the submodule where `sub` is one; `typing` counts
    the imports under `if TYPE_CHECKING:` too."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    visitor = _Imports(typing)
    visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
    for node in visitor.found:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module
        for alias in node.names:
            full = f"{target}.{alias.name}"
            found.add(full if full in modules else target)
    return found


def library_graph(typing: bool) -> dict[str, set[str]]:
    paths = sorted((REPO / "minigpt5_core").rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules, typing) for p in paths}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """What each library module imports when it runs."""
    return library_graph(typing=False)


@pytest.fixture(scope="module")
def typed_graph() -> dict[str, set[str]]:
    """What each library module imports, counting the imports a type checker alone reads."""
    return library_graph(typing=True)


def part(module: str) -> str | None:
    """Which part of the library a module is in: 'modeling', 'data', 'layout', ... (None for the package)."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "minigpt5_core" and len(pieces) > 1 else None


def offending(graph, importers, forbidden) -> list[str]:
    return sorted(f"{m} imports {t}" for m, targets in graph.items() if part(m) in importers
                  for t in targets if part(t) in forbidden or t.split(".")[0] in OUTSIDE)


def test_every_module_of_the_library_has_a_place_in_the_layers(graph):
    assert sorted({part(m) for m in graph} - {None, *CENTRE, *EDGES, *ENTRY}) == []


def test_the_centre_never_imports_an_edge_or_the_outside(graph):
    assert offending(graph, CENTRE, EDGES) == []


def test_the_small_modules_import_only_each_other_and_io_sits_below_modeling(graph):
    assert offending(graph, SMALL, ("io", "modeling", *EDGES)) == []
    assert offending(graph, ("io",), ("modeling", *EDGES)) == []


def test_no_module_of_the_library_imports_nodes_storybook_or_comfy(graph):
    assert sorted(f"{m} imports {t}" for m, targets in graph.items() for t in targets
                  if t.split(".")[0] in OUTSIDE) == []


def test_the_storybook_never_imports_the_nodes_or_comfy():
    paths = sorted((REPO / "storybook").rglob("*.py"))
    modules = {module_name(p) for p in paths}
    found = sorted(f"{module_name(p)} imports {t}" for p in paths for t in imports_of(p, modules)
                   if t.split(".")[0] in OUTSIDE and t.split(".")[0] != "storybook")
    assert found == []


def test_no_import_cycles_between_library_modules_not_even_through_type_only_imports(typed_graph):
    graph = typed_graph
    inside = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(inside[module]):
            if state.get(target) == "open":
                loop = path + [module]
                cycles.append(" -> ".join(loop[loop.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [module])
        state[module] = "done"

    for module in sorted(inside):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_dataset_formats_layout_and_the_small_modules_import_without_torch():
    modules = ["minigpt5_core.data", "minigpt5_core.data.check", "minigpt5_core.layout", *TORCH_FREE_MODELING,
               *(f"minigpt5_core.{m}" for m in SMALL), "storybook", "storybook.cli"]
    code = (f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == []


BUILTIN_ERRORS = ("ValueError", "RuntimeError", "TypeError", "KeyError", "IndexError", "OSError", "Exception")


def _raises_to_the_caller(tree: ast.AST, inside_try: bool = False):
    """`raise ValueError(...)`-like statements that are not inside a `try` body (where they are caught locally)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Raise) and not inside_try and node.exc is not None:
            call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(call, ast.Name) and call.id in BUILTIN_ERRORS:
                yield node.lineno, call.id
        if isinstance(node, ast.Try):
            for child in node.body:
                yield from _raises_to_the_caller(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from _raises_to_the_caller(child, inside_try)
        else:
            yield from _raises_to_the_caller(node, inside_try)


def test_users_get_the_package_error_never_a_bare_builtin_one():
    found = [f"{path.relative_to(REPO)}:{line} raises {name}"
             for package in ("minigpt5_core", "storybook")
             for path in sorted((REPO / package).rglob("*.py"))
             for line, name in _raises_to_the_caller(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


# ---- the ComfyUI nodes: above both libraries, reaching them by plain imports ------------------------------

NODES = sorted((REPO / "nodes").glob("*.py"))
LIBRARIES = ("minigpt5_core", "storybook")
IMPORT_MACHINERY = ("import_module", "__import__", "spec_from_file_location", "module_from_spec", "exec_module",
                    "core", "core_module", "storybook_module", "pack_module")
LOADS_THE_LIBRARIES = "_pack.py"  # the one module that makes minigpt5_core and storybook importable


def _called_names(tree: ast.AST) -> set[str]:
    calls = (node.func for node in ast.walk(tree) if isinstance(node, ast.Call))
    return {f.id if isinstance(f, ast.Name) else f.attr for f in calls if isinstance(f, (ast.Name, ast.Attribute))}


def test_the_nodes_reach_the_libraries_through_plain_import_statements():
    found = sorted(f"nodes/{path.name} calls {name}()" for path in NODES if path.name != LOADS_THE_LIBRARIES
                   for name in _called_names(ast.parse(path.read_text(encoding="utf-8"))) & set(IMPORT_MACHINERY))
    assert found == []


def test_the_nodes_import_both_libraries_by_their_real_names():
    modules = {module_name(p) for p in NODES}
    imported = {t.split(".")[0] for p in NODES for t in imports_of(p, modules)}
    assert set(LIBRARIES) <= imported


def test_the_nodes_import_torch_and_the_model_only_inside_functions():
    """So that ComfyUI (and a test) can import the pack without torch: at module level the nodes import only
    the libraries' torch-free modules (minigpt5_core's small ones, storybook) and never torch-heavy packages."""
    found = []
    for path in NODES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                pieces = name.split(".")
                heavy = pieces[0] in HEAVY or pieces[0] in OUTSIDE or (
                    pieces[0] == "minigpt5_core" and (len(pieces) < 2 or pieces[1] not in SMALL)
                    and name not in TORCH_FREE_MODELING)
                if heavy and pieces[0] != "storybook":
                    found.append(f"nodes/{path.name} imports {name} at module level")
    assert found == []
