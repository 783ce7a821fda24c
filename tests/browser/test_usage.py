"""The usage view in Chromium: tokens and cost per model and per day, as GET /v1/stats reports them."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_usage_view_shows_tokens_per_model_and_day(chat: ChatPage, fake_model: FakeModelServer) -> None:
    """Before any turn the view says so; after one it lists the model's and today's tokens equal to /v1/stats."""
    page = chat.page
    await page.locator("#usage-button").click()
    await page.locator("aside.usage .usage__empty").wait_for()
    await page.keyboard.press("Escape")
    assert await page.locator("aside.usage").count() == 0
    fake_model.enqueue(Reply.of_text("Counted every token."))
    await chat.send("count my tokens")
    await chat.wait_reply("Counted every token.")
    await chat.wait_idle()
    async with httpx.AsyncClient(base_url=chat.server.http) as http:
        report = (await http.get("/v1/stats")).json()
    [model] = report["by_model"]
    [day] = report["by_day"]
    assert model["model"] == fake_model.model and model["prompt_tokens"] > 0
    await page.locator("#usage-button").click()
    row = page.locator(f'aside.usage .usage__row--model[data-key="{fake_model.model}"]')
    await row.wait_for()
    assert await row.locator(".usage__in").inner_text() == f"{model['prompt_tokens']:,}"
    assert await row.locator(".usage__out").inner_text() == f"{model['completion_tokens']:,}"
    assert await row.locator(".usage__requests").inner_text() == "1"
    day_row = page.locator(f'aside.usage .usage__row--day[data-key="{day["day"]}"]')
    assert await day_row.locator(".usage__in").inner_text() == f"{day['prompt_tokens']:,}"
    assert "1 request · " in await page.locator("aside.usage .usage__totals").inner_text()
    await page.keyboard.press("Escape")
    assert await page.locator("aside.usage").count() == 0
