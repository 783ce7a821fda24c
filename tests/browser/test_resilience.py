"""The page survives the server: reconnect and resume after a restart, reload from the URL, phone layout."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, ChatPage, new_chat_page
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SLOW = " ".join(f"token{i}" for i in range(300))


async def test_server_restart_mid_turn_reconnects_and_shows_history_once(
    chat: ChatPage, server: RunningServer, fake_model: FakeModelServer
) -> None:
    """Kill the server mid-stream: the page reconnects alone, the history appears exactly once, the next turn works."""
    await chat.send("first question")
    await chat.wait_reply("echo: first question")
    fake_model.enqueue(Reply.of_text(SLOW, delay=0.05))
    await chat.send("second question")
    await chat.page.locator(".part--text.is-streaming", has_text="token3").wait_for()

    await server.stop()
    await chat.page.locator('#conn-status[data-state="offline"]').wait_for()
    await server.start()
    await chat.wait_online(timeout=20_000)

    # the interrupted turn is closed (stopped by the shutdown or "interrupted" after the restart)
    await chat.page.locator(".msg--agent.msg--cancelled, .msg--agent.msg--error").wait_for()
    await chat.wait_idle()
    assert await chat.message_count() == 4
    assert await chat.page.locator(".msg--user", has_text="first question").count() == 1
    assert await chat.page.locator(".part--final", has_text="echo: first question").count() == 1

    await chat.send("third question")
    await chat.wait_reply("echo: third question")
    assert await chat.message_count() == 6

    # a reload replays the whole session from seq 0 and shows the same thing
    await chat.page.reload()
    await chat.wait_online()
    await chat.wait_reply("echo: third question")
    assert await chat.message_count() == 6
    assert await chat.page.locator(".msg--user", has_text="second question").count() == 1


async def test_reload_and_session_switching_keep_each_history(chat: ChatPage) -> None:
    """The URL hash names the session; New chat starts another; the sidebar switches back without duplicates."""
    await chat.send("alpha message")
    await chat.wait_reply("echo: alpha message")
    first = await chat.session_id()
    assert first
    await chat.page.locator("#session-list .session", has_text="alpha message").wait_for()

    await chat.page.locator("#new-chat").click()
    # wait_for_url, not wait_for_function: a polled string predicate is eval'd in the page (CSP refuses it)
    await chat.page.wait_for_url(lambda url: len(url.partition("#")[2]) > 2 and first not in url)
    assert await chat.message_count() == 0
    assert await chat.page.locator("#welcome").is_visible()
    await chat.send("bravo message")
    await chat.wait_reply("echo: bravo message")
    second = await chat.session_id()
    assert second and second != first

    await chat.page.locator("#session-list .session", has_text="alpha message").locator(".session__select").click()
    await chat.wait_reply("echo: alpha message")
    assert await chat.session_id() == first
    assert await chat.message_count() == 2
    await chat.page.locator("#session-list .session", has_text="bravo message").locator(".session__select").click()
    await chat.wait_reply("echo: bravo message")
    assert await chat.message_count() == 2

    await chat.page.goto(f"{chat.server.http}/#s={first}")
    await chat.page.reload()
    await chat.wait_reply("echo: alpha message")
    assert await chat.message_count() == 2
    assert await chat.page.locator("#session-title").inner_text() == "alpha message"


async def test_phone_layout_hides_the_sidebar_behind_a_toggle(browser: object, server: RunningServer) -> None:
    """At 390x844 the sidebar is a drawer behind the menu button and the message box stays usable."""
    context, chat = await new_chat_page(browser, server, viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        await chat.open()
        page = chat.page
        assert not await page.locator("#sidebar").is_visible()
        assert not await page.locator("#panels").is_visible()
        toggle = page.locator("#sidebar-toggle")
        assert await toggle.is_visible()
        box = await page.locator("#composer-input").bounding_box()
        assert box is not None and box["y"] + box["height"] <= PHONE["height"] and box["width"] > 250
        await chat.send("hi from a phone")
        await chat.wait_reply("echo: hi from a phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
        await toggle.click()
        await page.locator("#sidebar").wait_for(state="visible")
        assert await toggle.get_attribute("aria-expanded") == "true"
        await page.locator("#session-list .session", has_text="hi from a phone").wait_for()
        await page.locator("#scrim").click(position={"x": 370, "y": 400})
        await page.locator("#sidebar").wait_for(state="hidden")
        await page.locator("#panels-toggle").click()
        await page.locator("#panels").wait_for(state="visible")
        await page.keyboard.press("Escape")
        await page.locator("#panels").wait_for(state="hidden")
        assert not chat.errors, chat.errors
    finally:
        await context.close()


async def test_rename_and_delete_from_the_sidebar(chat: ChatPage) -> None:
    """Rename edits the title in place (header too); delete asks first, then empties the view and the URL."""
    await chat.send("original title")
    await chat.wait_reply("echo: original title")
    item = chat.page.locator("#session-list .session", has_text="original title")
    await item.wait_for()
    await item.hover()
    await item.get_by_role("button", name="Rename “original title”").click()
    field = chat.page.locator("#session-list .session__rename")
    await field.fill("Renamed chat")
    await field.press("Enter")
    await chat.page.locator("#session-title", has_text="Renamed chat").wait_for()
    renamed = chat.page.locator("#session-list .session", has_text="Renamed chat")
    await renamed.wait_for()

    dialogs: list[str] = []

    async def accept(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.accept()  # type: ignore[attr-defined]

    chat.page.once("dialog", accept)
    await renamed.get_by_role("button", name="Delete “Renamed chat”").click()
    await renamed.wait_for(state="detached")
    assert dialogs and "Renamed chat" in dialogs[0]
    assert await chat.message_count() == 0
    assert await chat.session_id() == ""
    assert await chat.page.locator("#session-title").inner_text() == "New chat"
