"""Files from the page: the paper-clip button and drag-and-drop upload to the session and show in the timeline."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import ChatPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def listed(chat: ChatPage, sid: str) -> list[str]:
    async with httpx.AsyncClient(base_url=chat.server.http) as http:
        response = await http.get(f"/v1/sessions/{sid}/files")
    assert response.status_code == 200, response.text
    return [f["name"] for f in response.json()["files"]]


async def test_paper_clip_uploads_and_the_terminal_reads_the_file(chat: ChatPage) -> None:
    """A file chosen with the paper-clip lands in the session, shows in the timeline, and 查看文件 reads it."""
    await chat.send("hello")
    await chat.wait_reply("echo: hello")
    sid = await chat.session_id()
    await chat.page.locator("#file-input").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"from the browser\n"}]
    )
    await chat.page.locator(".notice--file", has_text="notes.txt (17 bytes) attached").wait_for()
    assert await listed(chat, sid) == ["notes.txt"]
    assert await chat.page.locator("#upload-status").is_hidden()
    await chat.send("查看文件 /uploads/notes.txt")
    await chat.page.locator(".tool", has_text="from the browser").first.wait_for()
    await chat.page.reload()
    await chat.wait_online()
    await chat.page.locator(".notice--file", has_text="notes.txt").wait_for()  # replayed from the timeline


async def test_dropping_files_on_a_new_chat_creates_the_session(chat: ChatPage) -> None:
    """Files dropped before any message: the session is created, both files attach in order."""
    await chat.page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["first\\n"], "a.txt", { type: "text/plain" }));
            data.items.add(new File([new Uint8Array([0, 1, 2, 255])], "b.bin"));
            const zone = document.getElementById("chat");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }"""
    )
    await chat.page.locator(".notice--file", has_text="b.bin (4 bytes) attached").wait_for()
    sid = await chat.session_id()
    assert sid and await listed(chat, sid) == ["a.txt", "b.bin"]
    names = await chat.page.locator(".notice--file").evaluate_all("els => els.map(e => e.dataset.name)")
    assert names == ["a.txt", "b.bin"]
    assert not await chat.page.locator("#chat").evaluate("el => el.classList.contains('is-dropping')")


async def test_a_refused_upload_is_explained(chat: ChatPage) -> None:
    """A name the server refuses (400) becomes an error toast with the server's reason; nothing is listed."""
    await chat.send("hi")
    await chat.wait_reply("echo: hi")
    sid = await chat.session_id()
    await chat.page.locator("#file-input").set_input_files(
        files=[{"name": "..", "mimeType": "text/plain", "buffer": b"x"}]
    )
    await chat.page.locator(".toast", has_text="has no usable characters").wait_for()
    assert await listed(chat, sid) == []
