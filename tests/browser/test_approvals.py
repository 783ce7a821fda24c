"""Approval cards in Chromium: the exact command, Allow once / Deny by keyboard, locked afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backend.settings import Settings
from tests.browser.conftest import ChatPage, new_chat_page
from tests.conftest import RunningServer, base_env
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def asking_chat(browser: Any, tmp_path: Path, fake_model: FakeModelServer) -> AsyncIterator[ChatPage]:
    """The chat page against a server whose every tool call asks first (APPROVAL_POLICY=always)."""
    env = base_env(tmp_path, fake_model) | {"APPROVAL_POLICY": "always"}
    (tmp_path / "work" / "notes.txt").write_text("alpha\n")
    running = await RunningServer(Settings.from_env(env)).start()
    context, chat = await new_chat_page(browser, running)
    await chat.open()
    try:
        yield chat
    finally:
        await context.close()
        await running.stop()
    assert not chat.errors, chat.errors


async def test_allow_once_by_keyboard_runs_the_command(asking_chat: ChatPage, fake_model: FakeModelServer) -> None:
    chat = asking_chat
    fake_model.enqueue(Reply.of_tool_call("run_terminal_command", {"command": "ls -la"}), Reply.of_text("Listed."))
    await chat.send("list the files")
    card = chat.page.locator(".approval")
    await card.wait_for()
    assert await card.locator(".approval__args").inner_text() == "ls -la"
    assert "run_terminal_command" in await card.locator(".approval__head").inner_text()
    await card.focus()
    await chat.page.keyboard.press("a")
    await chat.wait_reply("Listed.")
    await chat.page.locator('.approval[data-decision="allow"]').wait_for()
    assert (await card.locator(".approval__state").inner_text()).startswith("Allowed once")
    assert await card.locator("button:disabled").count() == 3


async def test_deny_with_a_note(asking_chat: ChatPage, fake_model: FakeModelServer) -> None:
    chat = asking_chat
    fake_model.enqueue(Reply.of_tool_call("run_terminal_command", {"command": "ls"}), Reply.of_text("Not listing."))
    await chat.send("list the files")
    card = chat.page.locator(".approval")
    await card.locator("button:not([disabled])").first.wait_for()
    await card.locator(".approval__note").fill("not today")
    await card.locator('button[data-decision="deny"]').click()
    await chat.wait_reply("Not listing.")
    assert (await card.locator(".approval__state").inner_text()) == "Denied: not today"
    assert "denied by the user: not today" in fake_model.chat_requests[-1].text
