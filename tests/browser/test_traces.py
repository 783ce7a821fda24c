"""The per-turn trace drawer in Chromium: a finished turn with a tool call opens its waterfall."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_trace_drawer_shows_model_and_tool_spans(chat: ChatPage, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(
        Reply.of_tool_call("run_terminal_command", {"command": "ls"}), Reply.of_text("Listed the files.")
    )
    await chat.send("list the files")
    await chat.wait_reply("Listed the files.")
    await chat.wait_idle()
    button = chat.page.locator(".trace-btn")
    await button.wait_for()
    assert "1 tool" in (await button.inner_text())
    await button.click()
    drawer = chat.page.locator("aside.trace")
    await drawer.locator(".trace__row").first.wait_for()
    types = await drawer.locator(".trace__row").evaluate_all("rows => rows.map(r => r.dataset.type)")
    assert types[0] == "turn" and types.count("model") == 2 and types.count("tool") == 1
    tool = drawer.locator(".trace__row--tool .trace__meta")
    assert '{"command": "ls"}' in await tool.inner_text()
    assert " in · " in await drawer.locator(".trace__row--model .trace__meta").first.inner_text()
    await chat.page.keyboard.press("Escape")
    assert await chat.page.locator("aside.trace").count() == 0
