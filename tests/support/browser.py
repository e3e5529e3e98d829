"""Headless Chromium driven over the DevTools protocol (aiohttp's websocket client, which ComfyUI already
needs): open a page, evaluate JavaScript in it. Used to load the shipped workflows in the real ComfyUI
frontend, as a user's drag-and-drop does."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from comfy_harness import free_port, stop_child


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no headless Chromium here (Debian: apt-get install chromium; .ci/run installs it)")


class JavaScriptError(AssertionError):
    pass


class HeadlessPage:
    """One Chromium process with one page; `evaluate` runs an expression (awaiting promises) and returns
    its JSON value."""

    def __init__(self, profile: Path):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws_url = self._page_target()
        self._ids = itertools.count(1)

    def _page_target(self, timeout: float = 30.0) -> str:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pages = [t for t in requests.get(f"http://127.0.0.1:{self.port}/json/list", timeout=2).json()
                         if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError("headless Chromium did not open its DevTools port")

    async def _call(self, method: str, params: dict, timeout: float) -> dict:
        import aiohttp

        message_id = next(self._ids)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.ws_url, max_msg_size=0) as ws:
                await ws.send_json({"id": message_id, "method": method, "params": params})
                async with asyncio.timeout(timeout):
                    async for message in ws:
                        data = json.loads(message.data)
                        if data.get("id") == message_id:
                            return data
        raise RuntimeError(f"no answer to {method}")

    def call(self, method: str, params: dict | None = None, timeout: float = 60.0) -> dict:
        answer = asyncio.run(self._call(method, params or {}, timeout))
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str, timeout: float = 60.0):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise JavaScriptError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return
            except JavaScriptError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the page never satisfied {expression!r}")

    def close(self) -> None:
        stop_child(self.proc, timeout=10)
