"""A test-only stand-in for torchvision (never in the pack): ComfyUI and spandrel import it at import time, and
no torchvision build works with the CPU torch 2.13.0 wheel these tests run on (`operator torchvision::nms does
not exist`).

What is stubbed is only what is imported by name: ComfyUI's `import torchvision` (and .transforms, .models), and
spandrel's `from torchvision.transforms.functional import InterpolationMode, rotate, normalize`, which its LaMa
(inpainting) and RestoreFormer (face restoration) architectures use inside their forward passes. The upscalers
the tests load (ESRGAN-family) never call torchvision; calling a stub raises, so a test could not pass through
one by accident. transformers and diffusers must first record "torchvision unavailable", or they would use it.
"""

from __future__ import annotations

import importlib.util
import sys
import types


class _Unavailable:
    """A torchvision name that exists for imports and fails loudly when used."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision.{self.name} is a test stub: the real torchvision is not installed")


def install_torchvision_shim() -> bool:
    """Register the stub modules, only where no torchvision is installed; True if it did."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return False
    import diffusers.utils.import_utils as diffusers_imports
    import transformers.utils.import_utils as transformers_imports

    assert transformers_imports.is_torchvision_available() is False
    assert diffusers_imports.is_torchvision_available() is False
    names = ("torchvision", "torchvision.transforms", "torchvision.models", "torchvision.transforms.functional")
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    sys.modules["torchvision"].models = sys.modules["torchvision.models"]
    functional = sys.modules["torchvision.transforms.functional"]
    sys.modules["torchvision.transforms"].functional = functional
    functional.InterpolationMode = type("InterpolationMode", (), {})
    for name in ("rotate", "normalize"):
        setattr(functional, name, _Unavailable(f"transforms.functional.{name}"))
    return True
