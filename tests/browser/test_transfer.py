"""Export (JSON / Markdown) and Import from the page, against the real server and the scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def download(chat: ChatPage, item: str) -> str:
    """Open the Export menu, pick ``item``, and return the downloaded file's text."""
    await chat.page.locator("#export-menu > summary").click()
    async with chat.page.expect_download() as info:
        await chat.page.locator(item).click()
    saved = await (await info.value).path()
    return Path(saved).read_text(encoding="utf-8")


async def test_export_menu_downloads_json_and_markdown(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """No Export menu before the chat has a session; then JSON (the versioned document) and Markdown
    (the transcript, Chinese text and the code block intact) download from the menu."""
    assert await chat.page.locator("#export-menu").is_hidden()
    fake_model.enqueue(Reply.of_text("好的。\n\n```python\nprint('```')\n```"))
    await chat.send("请写一段代码")
    await chat.wait_reply("好的")
    sid = await chat.session_id()
    document = json.loads(await download(chat, "#export-json"))
    assert document["format"] == "agentchat-session" and document["session"]["id"] == sid
    assert document["events"][0]["type"] == "user_message"
    markdown = await download(chat, "#export-markdown")
    assert "### User" in markdown and "请写一段代码" in markdown and "print('```')" in markdown
    assert not await chat.page.locator("#export-menu").evaluate("el => el.open")


async def test_import_opens_the_new_session_and_the_team_continues(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """Importing an exported file creates a new session, the page switches to it and shows the history,
    and the next message's upstream request carries what was said in the original."""
    async with httpx.AsyncClient(base_url=chat.server.http) as http:
        sid = (await http.post("/v1/sessions", json={"title": "original"})).json()["session_id"]
        fake_model.enqueue(Reply.of_text("Noted: the code word is MARMALADE."))
        await http.post(f"/v1/sessions/{sid}/messages", json={"content": "The code word is MARMALADE."})
        async with http.stream("GET", f"/v1/sessions/{sid}/events") as stream:
            async for line in stream.aiter_lines():
                if line == "event: done":
                    break
        exported = (await http.get(f"/v1/sessions/{sid}/export")).content
    await chat.page.locator("#import-input").set_input_files(
        files=[{"name": "chat.json", "mimeType": "application/json", "buffer": exported}]
    )
    await chat.page.locator(".toast", has_text="Chat imported").wait_for()
    new_id = await chat.session_id()
    assert new_id and new_id != sid
    await chat.page.locator(".msg--user", has_text="The code word is MARMALADE.").wait_for()
    await chat.wait_reply("Noted: the code word is MARMALADE.")
    assert await chat.page.locator("#session-title").text_content() == "original"
    await chat.page.locator("#session-list li").nth(1).wait_for()  # both sessions are listed
    fake_model.enqueue(Reply.of_text("It is MARMALADE."))
    await chat.send("What was the code word?")
    await chat.wait_reply("It is MARMALADE.")
    assert "The code word is MARMALADE." in fake_model.chat_requests[-1].text


async def test_a_refused_import_is_explained(chat: ChatPage) -> None:
    """A file that is not an export becomes an error toast with the server's reason; the page stays put."""
    before = await chat.session_id()
    await chat.page.locator("#import-input").set_input_files(
        files=[{"name": "notes.json", "mimeType": "application/json", "buffer": b'{"format": "something-else"}'}]
    )
    await chat.page.locator(".toast", has_text="not a session export").wait_for()
    assert await chat.session_id() == before
