"""ComfyUI adapters for minigpt5_core and storybook (filled in by the node-pack issue)."""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
