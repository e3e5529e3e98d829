"""Library notices that are not the user's business, dropped by exact wording where they are logged.

Importing diffusers (which every model run does), and running a quantized LLM, make two libraries log at WARNING level about things the
user neither chose nor can act on:

- transformers 5 says, once per class, that `CLIPImageProcessor` / `SiglipImageProcessor` "requires
  torchvision (not installed); falling back to" the PIL implementation. diffusers imports those classes for
  pipelines we never use, and the PIL fallback is what we would choose anyway (torchvision does not load with
  the CPU torch this project runs on).
- bitsandbytes logs "inputs will be cast ... to float16" on EVERY int8 matmul whose input is not fp16: on a
  float32 or bfloat16 model that is one line per layer per token of an `int8` model. The cast is how LLM.int8()
  computes.
- bitsandbytes, when installed, tries at import time to fetch an optional CPU 4-bit kernel from the Hugging
  Face Hub and, offline, logs that it failed; the built-in kernel it then uses is correct, only slower.

Each filter sits on the one logger that emits its notice and matches the notice's own words, so every other
warning of those libraries (and of these loggers) still reaches the user. Installed once, when
`minigpt5_core` is imported, so it is in place before any module imports diffusers or transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# logger name -> words that only the unwanted notice of that logger contains
NOT_THE_USERS_BUSINESS: dict[str, tuple[str, ...]] = {
    "transformers.utils.import_utils": ("requires torchvision (not installed); falling back to",),
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward from kernels-community",),
    "bitsandbytes.autograd._functions": ("inputs will be cast from",),
    # our commands run the Hub offline (minigpt5_core.cli), so kernels says it skips a check nobody asked for
    "kernels._internals.hf_hub": ("Skipping publisher trust check for",),
}


class DropNotices(logging.Filter):
    """Drops the records of one logger whose message contains one of `phrases`; passes everything else."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        super().__init__()
        self.phrases = phrases

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(phrase in message for phrase in self.phrases)


def drop_library_notices() -> None:
    """Puts a `DropNotices` on each logger of `NOT_THE_USERS_BUSINESS` (once, however often it is called)."""
    for name, phrases in NOT_THE_USERS_BUSINESS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNotices) for f in logger.filters):
            logger.addFilter(DropNotices(phrases))


@contextmanager
def no_loading_bars() -> Iterator[None]:
    """Around a transformers `from_pretrained` of a small part (the SD text encoder): transformers draws a
    "Loading weights" bar for every model it loads, into a log file too, where the user gets our own progress.
    Scoped: the bar's global switch is put back as it was."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
