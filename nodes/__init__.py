"""ComfyUI adapters for minigpt5_core and storybook.

Thin on purpose: convert ComfyUI types <-> minigpt5_core / storybook types, report progress, honour
interrupts, register the model folder. The node logic lives in plain functions beside each class so that
a V3-schema wrapper can be added later without touching it.

How the node modules reach the libraries: ``make_libraries_importable()`` below runs once, before any node
module is imported, so they use ordinary ``from minigpt5_core.layout import ...`` / ``from storybook import
...`` statements (see _pack.py). Importing this package stays cheap: torch-free library modules
(``minigpt5_core.config/errors/layout``, ``storybook``) are imported at module level; torch, ComfyUI and
the model itself (``minigpt5_core.modeling``, ``.convert``) inside the functions that need them.
"""

if __name__ == "nodes":
    # ComfyUI has its own top-level `nodes` module; this package must only ever be loaded relatively,
    # from the pack's root __init__.py (ComfyUI loads the pack folder by path).
    raise ImportError("the MiniGPT-5 pack's nodes/ was imported as top-level `nodes`; import the pack folder "
                      "instead (ComfyUI does this when the repository is in custom_nodes/)")

from ._pack import make_libraries_importable

make_libraries_importable()

from .conditioning import VokenToConditioning  # noqa: E402  (the node modules import the libraries)
from .consistency import ConsistentStoryPages  # noqa: E402
from .generate import InterleavedGenerate, MiniGPT5Story  # noqa: E402
from .loader import LoadMiniGPT5  # noqa: E402
from .save_storybook import SaveStorybook  # noqa: E402

NODE_CLASS_MAPPINGS = {
    "LoadMiniGPT5": LoadMiniGPT5,
    "InterleavedGenerate": InterleavedGenerate,
    "VokenToConditioning": VokenToConditioning,
    "MiniGPT5Story": MiniGPT5Story,
    "SaveStorybook": SaveStorybook,
    "ConsistentStoryPages": ConsistentStoryPages,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadMiniGPT5": "Load MiniGPT-5",
    "InterleavedGenerate": "MiniGPT-5 Interleaved Generate",
    "VokenToConditioning": "MiniGPT-5 Vokens to Conditioning",
    "MiniGPT5Story": "MiniGPT-5 Story (N pages)",
    "SaveStorybook": "Save Storybook (HTML + PDF)",
    "ConsistentStoryPages": "Consistent Story Pages (StoryDiffusion)",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
