"""Module paths of release 0.1, before the library was layered, kept importable.

Scripts written against 0.1 (and `shared/tools/parity`) import e.g. `minigpt5_core.generation`; those names
resolve to the module's new home. New code imports the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "minigpt5_core.vision": "minigpt5_core.modeling.vision",
    "minigpt5_core.mapper": "minigpt5_core.modeling.mapper",
    "minigpt5_core.diffusion": "minigpt5_core.modeling.diffusion",
    "minigpt5_core.generation": "minigpt5_core.modeling.generation",
    "minigpt5_core.model": "minigpt5_core.modeling.model",
    "minigpt5_core.checkpoint": "minigpt5_core.modeling.pretrained",
    "minigpt5_core.stages": "minigpt5_core.train.stages",
    "minigpt5_core.official": "minigpt5_core.convert.official",
    "minigpt5_core.metrics": "minigpt5_core.evaluate.metrics",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module at its new one (the same module object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # already executed under its new name


def install() -> None:
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
