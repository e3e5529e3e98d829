"""bitsandbytes, the optional package of the quantized tiers, and what a broken install of it breaks.

diffusers imports bitsandbytes whenever it is installed, so a bitsandbytes that fails to import (a build for
another CUDA, a missing native library) breaks loading every model, quantized or not, with an internal error
from deep inside diffusers. Such failures are turned into one line here that names bitsandbytes and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from ..errors import MiniGPT5Error

INSTALL = "pip install 'minigpt5-storybook[quantize]' (or pip install bitsandbytes)"


def _broken(exc: BaseException) -> MiniGPT5Error:
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return MiniGPT5Error(f"the installed bitsandbytes fails to import ({type(exc).__name__}: {detail}), and diffusers "
                         "loads it whenever it is installed; repair it (pip install -U bitsandbytes) or remove it "
                         "(pip uninstall bitsandbytes): only quantized loading needs it")


def import_bitsandbytes() -> ModuleType:
    """The bitsandbytes module, or a MiniGPT5Error saying how to install or repair it."""
    try:
        import bitsandbytes
    except ImportError as e:
        raise MiniGPT5Error(f"quantized loading needs the bitsandbytes library ({e}); install it with {INSTALL}, "
                            "or load with quantize='none'") from None
    except Exception as e:  # noqa: BLE001 - a broken native build raises RuntimeError, OSError, ...
        raise _broken(e) from None
    return bitsandbytes


@contextmanager
def blaming_bitsandbytes() -> Iterator[None]:
    """Around an import of diffusers: a failure that a broken bitsandbytes causes becomes one MiniGPT5Error."""
    try:
        yield
    except Exception:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise  # not installed, so not the cause: the original error stands
        except Exception as cause:  # noqa: BLE001
            raise _broken(cause) from None
        raise
