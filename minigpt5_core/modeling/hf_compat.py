"""The few places where transformers 4.57 and 5.x differ in what MiniGPT-5 calls.

The package supports both majors (a ComfyUI node pack shares one environment with every other pack, and many
still pin transformers 4.x), so the differences are named once here instead of version checks in the model
code. transformers 5 renamed the KV cache argument and output field ``past_key_values`` -> ``cache`` (5.x
still accepts the old name until 5.40, with a deprecation warning; 4.x knows only the old one).
"""

from __future__ import annotations

import transformers
from packaging.version import Version

TRANSFORMERS_MAJOR = Version(transformers.__version__).major

CACHE_ARGUMENT = "cache" if TRANSFORMERS_MAJOR >= 5 else "past_key_values"


def cache_kwargs(cache) -> dict:
    """``{name: cache}`` for a causal LM's forward, under the name this transformers expects."""
    return {CACHE_ARGUMENT: cache}


def output_cache(output):
    """The KV cache a causal LM's forward returned."""
    return getattr(output, CACHE_ARGUMENT)
