"""Browser fixtures: Debian's Chromium driven by Playwright against a real server and the scripted model.

Without /usr/bin/chromium or the playwright package the tests skip with a reason, unless
REQUIRE_BROWSER=1 (CI), which turns that into a failure. The page's vendor files are built once
(scripts/build_frontend.sh) when frontend/vendor is missing.

One Chromium serves the whole run (launching it costs seconds), so these tests run on the
session's event loop: every module sets ``pytest.mark.asyncio(loop_scope="session")``, and the
scripted model and the server are re-declared here on that loop (each test still gets its own).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backend.settings import Settings
from tests.conftest import RunningServer, base_env, require
from tests.fakes.model_server import FakeModelServer
from tests.support.chromium import CHROMIUM, LAUNCH_ARGS

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 10_000  # the unit for every browser-side wait
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Console noise that is expected: sockets refused while a test has the server down, and the
# 404 of an <img src=x> that a sanitizer test renders on purpose.
EXPECTED_CONSOLE = re.compile(r"WebSocket connection to|Failed to load resource|ERR_CONNECTION_REFUSED")
# Chromium reports a CSP violation when DOMPurify's inert DOMParser document merely *parses* an
# on* attribute (nothing runs there; the sanitizer then drops the attribute).
SANITIZER_PARSE = re.compile(r"inline event handler violates")


def browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    """Skip (or fail under REQUIRE_BROWSER=1) when Chromium or Playwright is missing."""
    reason = browser_missing()
    if reason:
        require("REQUIRE_BROWSER", reason)


@pytest.fixture(scope="session")
def vendor_files() -> Path:
    """frontend/vendor with marked, DOMPurify and highlight.js: built once if missing."""
    vendor = ROOT / "frontend" / "vendor"
    needed = (
        "marked.esm.js",
        "purify.es.js",
        "highlight.es.min.js",
        "hljs-light.css",
        "hljs-dark.css",
        "mermaid.min.js",
    )
    if not all((vendor / name).is_file() for name in needed):
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build_frontend.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 or not all((vendor / name).is_file() for name in needed):
            pytest.fail(
                "frontend/vendor is missing and scripts/build_frontend.sh failed:\n" + result.stderr[-2000:],
                pytrace=False,
            )
    return vendor


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(vendor_files: Path) -> AsyncIterator[Any]:
    """One headless Chromium for the whole run."""
    if browser_missing():
        require("REQUIRE_BROWSER", str(browser_missing()))
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def fake_model() -> AsyncIterator[FakeModelServer]:
    """The scripted model, on the session loop (same as tests/conftest.py's, otherwise)."""
    model = FakeModelServer()
    await model.start()
    try:
        yield model
    finally:
        await model.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def server(tmp_path: Path, fake_model: FakeModelServer) -> AsyncIterator[RunningServer]:
    """A real server on port 0 (on the session loop) that a test can stop and start again."""
    running = await RunningServer(Settings.from_env(base_env(tmp_path, fake_model))).start()
    try:
        yield running
    finally:
        await running.stop()


class ChatPage:
    """One browser tab on the chat page, with the few actions and waits the tests share."""

    def __init__(self, page: Any, server: RunningServer) -> None:
        self.page = page
        self.server = server
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.set_default_timeout(WAIT_MS)

    def _console(self, message: Any) -> None:
        if message.type not in ("error", "warning") or EXPECTED_CONSOLE.search(message.text):
            return
        source = str((message.location or {}).get("url", ""))
        if SANITIZER_PARSE.search(message.text) and source.endswith("/vendor/purify.es.js"):
            return
        self.errors.append(f"console.{message.type}: {message.text} ({source})")

    async def open(self, fragment: str = "") -> None:
        await self.page.goto(f"{self.server.http}/{fragment}")
        await self.wait_online()

    async def wait_online(self, timeout: float = WAIT_MS) -> None:
        await self.page.wait_for_selector('#conn-status[data-state="online"]', timeout=timeout)

    async def send(self, text: str) -> None:
        box = self.page.locator("#composer-input")
        await box.fill(text)
        await box.press("Enter")

    async def wait_reply(self, text: str, timeout: float = WAIT_MS) -> None:
        """Wait until a final answer (not a draft) containing text is on the page."""
        await self.page.locator(".part--final", has_text=text).first.wait_for(timeout=timeout)

    async def wait_idle(self, timeout: float = WAIT_MS) -> None:
        # a selector, not wait_for_function: a string predicate that has to be polled is eval'd in
        # the page, which the page's CSP (no 'unsafe-eval') refuses
        await self.page.locator('html[data-running="no"]').wait_for(state="attached", timeout=timeout)

    async def message_count(self) -> int:
        return int(await self.page.locator("#conversation .msg").count())

    async def session_id(self) -> str:
        return str(await self.page.evaluate("new URLSearchParams(location.hash.slice(1)).get('s') || ''"))


async def new_chat_page(
    browser: Any, server: RunningServer, *, viewport: dict[str, int] = DESKTOP, **options: Any
) -> tuple[Any, ChatPage]:
    context = await browser.new_context(viewport=viewport, **options)
    page = await context.new_page()
    return context, ChatPage(page, server)


@pytest_asyncio.fixture(loop_scope="session")
async def chat(browser: Any, server: RunningServer) -> AsyncIterator[ChatPage]:
    """The chat page on a desktop viewport, connected; fails the test on any page error."""
    context, chat_page = await new_chat_page(browser, server)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.http)
    await chat_page.open()
    try:
        yield chat_page
    finally:
        await context.close()
    assert not chat_page.errors, chat_page.errors
