"""Makes the pack's own libraries, ``minigpt5_core`` and ``storybook``, importable under their real names.

Users clone this repository into ``ComfyUI/custom_nodes/`` and install only ``requirements.txt``, so the two
packages beside ``nodes/`` are not installed, and ComfyUI imports the pack itself under a mangled module
name: ``import minigpt5_core`` would fail, and a relative import would load a second copy under another
name (breaking ``isinstance`` checks and the libraries' own absolute imports). ``make_libraries_importable``
adds one finder at the END of ``sys.meta_path`` that knows exactly these two names: an installed copy (e.g.
``pip install -e .``) is found first and reused, the shipped folders are the fallback, and nothing else of the
pack (``nodes``, ``tests``, ``bench``) becomes importable. Nothing is imported here: the node modules then
use ordinary ``import minigpt5_core...`` statements.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("minigpt5_core", "storybook")


class ShippedLibraries(importlib.abc.MetaPathFinder):
    """Finds ``minigpt5_core`` and ``storybook`` in the pack folder ``root``; submodules then come from the
    package's ``__path__`` like any package's."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        init = self.root / fullname / "__init__.py"
        if fullname not in LIBRARIES or not init.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(init.parent)])


def make_libraries_importable() -> None:
    """Install the finder once per process (ComfyUI may load the pack more than once, under other names)."""
    if not any(type(f).__name__ == ShippedLibraries.__name__ for f in sys.meta_path):
        sys.meta_path.append(ShippedLibraries(PACK_ROOT))
