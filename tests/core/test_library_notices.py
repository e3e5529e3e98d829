"""Quiet runs: the library notices a user cannot act on are dropped, every other warning still gets through."""

from __future__ import annotations

import logging

import pytest
import transformers

import minigpt5_core  # noqa: F401  (importing the package installs the filters)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture()
def transformers_log():
    """What transformers' loggers pass on to its own handler (the one that writes to the terminal)."""
    handler = Records()
    root = logging.getLogger("transformers")
    root.addHandler(handler)
    yield handler.messages
    root.removeHandler(handler)


@pytest.mark.skipif(not hasattr(transformers, "ViTImageProcessorPil"), reason="transformers 4 has no PIL fallback")
@pytest.mark.skipif(transformers.utils.is_torchvision_available(), reason="torchvision present: nothing falls back")
def test_the_torchvision_fallback_notice_of_transformers_does_not_reach_the_user(transformers_log):
    assert transformers.ViTImageProcessor is transformers.ViTImageProcessorPil  # the fallback really ran
    assert not any("torchvision" in m for m in transformers_log)


def test_other_warnings_of_the_same_logger_still_reach_the_user(transformers_log):
    logging.getLogger("transformers.utils.import_utils").warning("a real problem")
    assert transformers_log == ["a real problem"]


def test_a_small_model_loads_without_transformers_bar_and_the_switch_is_put_back():
    from transformers.utils import logging as hf_logging

    from minigpt5_core.notices import no_loading_bars

    assert hf_logging.is_progress_bar_enabled()
    with no_loading_bars():
        assert not hf_logging.is_progress_bar_enabled()
    assert hf_logging.is_progress_bar_enabled()
