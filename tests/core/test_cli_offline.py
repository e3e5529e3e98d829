"""Every command runs with the Hugging Face Hub offline: nothing a library does on its own reaches the network."""

from __future__ import annotations

import os

from minigpt5_core.cli import run_cli


def _hub_setting_seen_by_a_command() -> str | None:
    seen = []
    run_cli("test", lambda argv: seen.append(os.environ.get("HF_HUB_OFFLINE")), [], stop_signals=False)
    return seen[0]


def test_a_command_runs_with_the_hub_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert _hub_setting_seen_by_a_command() == "1"


def test_the_users_own_hub_setting_wins(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert _hub_setting_seen_by_a_command() == "0"
