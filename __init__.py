"""ComfyUI entry point of the MiniGPT-5 node pack.

ComfyUI loads this folder by path under a mangled module name, so only relative imports work here.
Nothing heavy happens at import: `nodes/` imports torch-heavy code and ComfyUI modules lazily, inside
the node functions, so this file also imports where ComfyUI is absent (tests, docs, `pip install`).
"""

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    # Loaded as a plain module, not as the pack: pytest does this when the checkout's folder name is not
    # a valid package name (e.g. "my-clone"). ComfyUI always loads the folder as a package.
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

# Served by ComfyUI under /extensions/<pack>/: docs/<NodeId>.md is each node's help page in the frontend's
# node library. No JavaScript ships: the pack changes nothing in the user's frontend.
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
