"""The sign-in screen (AUTH_MODE=keys) in Chromium: sign in with a password or a pasted API key,
chat, sign out; the page's CSP reports no violation (any console error fails the test)."""

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

PASSWORD = "a long enough password"


@pytest_asyncio.fixture(loop_scope="session")
async def keyed(tmp_path: Path, fake_model: FakeModelServer) -> AsyncIterator[tuple[RunningServer, str]]:
    """A keys-mode server with user ada (tenant acme) and an API key of tenant globex."""
    env = {**base_env(tmp_path, fake_model), "AUTH_MODE": "keys"}
    running = await RunningServer(Settings.from_env(env)).start()
    assert running.runtime is not None
    accounts = running.runtime.sessions.services.accounts
    await accounts.create_user("ada", PASSWORD, tenant="acme")
    created = await accounts.create_key("browser", tenant="globex")
    assert created is not None
    try:
        yield running, created[0]
    finally:
        await running.stop()


async def signed_out_page(browser: Any, server: RunningServer) -> tuple[Any, ChatPage]:
    context, chat = await new_chat_page(browser, server)
    await chat.page.goto(f"{server.http}/")
    await chat.page.locator("#signin").wait_for(state="visible")
    return context, chat


async def test_sign_in_with_a_password_chat_and_sign_out(
    browser: Any, keyed: tuple[RunningServer, str], fake_model: FakeModelServer
) -> None:
    """The sign-in screen appears; a wrong password says so; the right one opens the chat, which works;
    the user and tenant are shown; Sign out returns to the sign-in screen."""
    server, _ = keyed
    context, chat = await signed_out_page(browser, server)
    try:
        page = chat.page
        await page.locator("#signin-user").fill("ada")
        await page.locator("#signin-password").fill("wrong password!")
        await page.locator("#signin-submit").click()
        await page.locator("#signin-error", has_text="wrong user name or password").wait_for()
        await page.locator("#signin-password").fill(PASSWORD)
        await page.locator("#signin-submit").click()
        await chat.wait_online()
        assert "ada · acme" in await page.locator("#signed-in-name").inner_text()
        fake_model.enqueue(Reply.of_text("Hello, signed-in Ada."))
        await chat.send("hello")
        await chat.wait_reply("Hello, signed-in Ada.")
        await page.locator("#sign-out").click()
        await page.locator("#signin").wait_for(state="visible")
        cookies = await context.cookies()
        assert not [c for c in cookies if c["name"] == "agentchat_session" and c["value"]]
    finally:
        await context.close()
    # failed sign-in's 401 is an expected resource error; nothing else (no CSP violation) may appear
    assert not [e for e in chat.errors if "401" not in e], chat.errors


async def test_sign_in_with_a_pasted_api_key(browser: Any, keyed: tuple[RunningServer, str]) -> None:
    """Pasting an API key signs in (the key's tenant is shown) and the socket connects."""
    server, key = keyed
    context, chat = await signed_out_page(browser, server)
    try:
        await chat.page.locator("#signin-key").fill(key)
        await chat.page.locator("#signin-submit").click()
        await chat.wait_online()
        assert "globex" in await chat.page.locator("#signed-in-name").inner_text()
        assert key not in await chat.page.content()
    finally:
        await context.close()
    assert not chat.errors, chat.errors
