"""Turn control from the page: Stop cancels a stream, queued messages are shown, reminders pop up."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LONG = " ".join(f"word{i}" for i in range(400))


async def test_stop_cancels_a_slow_stream_and_the_next_message_works(
    chat: ChatPage, fake_model: FakeModelServer
) -> None:
    """Stop during a slow stream ends the turn as cancelled (labelled Stopped); the next turn answers."""
    fake_model.enqueue(Reply.of_text(LONG, delay=0.05))
    await chat.send("talk a lot")
    await chat.page.locator(".part--text.is-streaming", has_text="word3").wait_for()
    stop = chat.page.locator("#stop-button")
    assert await stop.is_visible()
    await stop.click()
    await chat.page.locator(".msg--agent.msg--cancelled .tag--cancelled").wait_for()
    await chat.wait_idle()
    assert not await stop.is_visible()
    streamed = await chat.page.locator(".msg--cancelled .part--text").inner_text()
    assert "word399" not in streamed
    assert await chat.page.locator(".part--text.is-streaming").count() == 0
    await chat.send("are you there")
    await chat.wait_reply("echo: are you there")
    assert await chat.message_count() == 4


async def test_escape_stops_and_queued_messages_are_announced(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """A message sent while a turn runs is marked queued; Esc stops the running turn and the queued one runs."""
    fake_model.enqueue(Reply.of_text(LONG, delay=0.05))
    await chat.send("first")
    await chat.page.locator(".part--text.is-streaming", has_text="word2").wait_for()
    await chat.send("second")
    await chat.page.locator("#queue-indicator", has_text="1 message queued").wait_for()
    await chat.page.locator(".msg--user.is-queued", has_text="second").wait_for()
    await chat.page.keyboard.press("Escape")
    await chat.wait_reply("echo: second")
    await chat.wait_idle()
    assert await chat.page.locator("#queue-indicator").is_hidden()
    assert await chat.page.locator(".msg--user.is-queued").count() == 0


async def test_reminder_from_the_panel_pops_a_toast(chat: ChatPage) -> None:
    """A reminder added in the panel is listed, fires as a toast within a few seconds, then leaves the panel."""
    await chat.send("hello")
    await chat.wait_reply("echo: hello")
    await chat.page.fill("#reminder-message", "stretch")
    await chat.page.fill("#reminder-when", "in 2 seconds")
    await chat.page.locator("#reminder-form button[type=submit]").click()
    await chat.page.locator("#reminder-list .reminder", has_text="stretch").wait_for()
    await chat.page.locator(".toast--reminder", has_text="stretch").wait_for(timeout=6_000)
    await chat.page.locator(".notice--reminder", has_text="stretch").wait_for()
    await chat.page.locator("#reminder-list .reminder").first.wait_for(state="detached")
    assert await chat.page.locator("#reminder-empty").is_visible()
