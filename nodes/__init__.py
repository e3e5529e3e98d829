"""ComfyUI adapters for minigpt5_core and storybook.

Thin on purpose: convert ComfyUI types <-> minigpt5_core / storybook types, report progress, honour
interrupts, register the model folder. The node logic lives in plain functions beside each class so that
a V3-schema wrapper can be added later without touching it. Importing this package is cheap: torch,
ComfyUI and the model library are imported inside the functions that need them.
"""

if __name__ == "nodes":
    # ComfyUI has its own top-level `nodes` module; this package must only ever be loaded relatively,
    # from the pack's root __init__.py (ComfyUI loads the pack folder by path).
    raise ImportError("the MiniGPT-5 pack's nodes/ was imported as top-level `nodes`; import the pack folder "
                      "instead (ComfyUI does this when the repository is in custom_nodes/)")

from .conditioning import VokenToConditioning
from .consistency import ConsistentStoryPages
from .generate import InterleavedGenerate, MiniGPT5Story
from .loader import LoadMiniGPT5
from .save_storybook import SaveStorybook

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
