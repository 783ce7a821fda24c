"""Markdown rendering in the page: streamed code is highlighted and copyable; model HTML is inert."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CODE = 'def greet(name):\n    return f"hello {name}"'
REPLY_WITH_CODE = f"Here you go:\n\n```python\n{CODE}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"


async def test_streamed_code_block_is_highlighted_and_copyable(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """A fenced block streamed in small chunks ends as highlighted code whose copy button copies it."""
    fake_model.enqueue(Reply.of_text(REPLY_WITH_CODE, delay=0.01, chunk_chars=3))
    await chat.send("show me code")
    await chat.wait_reply("Here you go")
    code = chat.page.locator(".part--final .code pre code")
    assert await code.count() == 1
    assert await code.get_attribute("class") and "hljs" in (await code.get_attribute("class") or "")
    assert await code.locator(".hljs-keyword").count() >= 2  # def, return
    assert await chat.page.locator(".part--final .code__lang").inner_text() == "python"
    assert await chat.page.locator(".part--final table td").count() == 2  # GFM table rendered
    await chat.page.locator(".part--final .code__copy").click()
    await chat.page.locator(".code__copy.is-copied").wait_for()
    copied = await chat.page.evaluate("navigator.clipboard.readText()")
    assert copied.rstrip("\n") == CODE
    assert await chat.message_count() == 2


async def test_model_html_and_javascript_links_execute_nothing(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """img onerror, <script> and a javascript: link from the model are sanitized and never run."""
    hostile = (
        'Look: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script> '
        "and [link](javascript:window.__pwned=3) end."
    )
    fake_model.enqueue(Reply.of_text(hostile, chunk_chars=7))
    await chat.send("be evil")
    await chat.wait_reply("end.")
    part = chat.page.locator(".part--final")
    await chat.page.wait_for_timeout(300)  # give an onerror handler every chance to fire
    assert await chat.page.evaluate("window.__pwned") is None
    assert await part.locator("script").count() == 0
    assert await part.locator("[onerror]").count() == 0
    link = part.locator("a", has_text="link")
    assert await link.count() == 1
    href = await link.get_attribute("href")
    assert href is None or not href.lower().startswith("javascript:")
    await link.click()
    await chat.page.wait_for_timeout(200)
    assert await chat.page.evaluate("window.__pwned") is None
    assert "window.__pwned=2" not in await part.inner_html()
