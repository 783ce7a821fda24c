"""Workflow run cards in the page: /run shows the graph (Mermaid, served locally), live node statuses,
each node's output on click, and the run's answer."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import ChatPage
from tests.conftest import RunningServer
from tests.workflows.examples import SCORE_CHECK, chain

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def _save(server: RunningServer, example: dict[str, object]) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post("/v1/workflows", json=example, headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text


async def test_run_command_shows_the_run_card_and_the_answer(chat: ChatPage, server: RunningServer) -> None:
    """/run score-check: the Mermaid graph, high-path completed, low-path skipped, output on click, the answer."""
    await _save(server, SCORE_CHECK)
    await chat.send("/run score-check")
    await chat.wait_reply("Alice passed with score 7")
    card = chat.page.locator(".run-card")
    await card.locator('.run-node[data-node-id="high-path"][data-status="completed"]').wait_for()
    assert await card.get_attribute("data-status") == "completed"
    assert await card.locator('.run-node[data-node-id="low-path"]').get_attribute("data-status") == "skipped"
    # the graph is Mermaid's SVG, its nodes carry the live statuses
    await card.locator('.run-card__graph svg g.node[data-node-id="high-path"][data-status="completed"]').wait_for()
    assert await card.locator(".run-card__graph svg g.node").count() == 4
    assert (
        await card.locator('.run-card__graph svg g.node[data-node-id="low-path"]').get_attribute("data-status")
        == "skipped"
    )
    # output on click: in the node list, and on the graph node
    await card.locator('.run-node[data-node-id="high-path"] button').click()
    assert await card.locator(".run-card__output-text").inner_text() == "Alice passed with score 7"
    await card.locator('.run-card__graph svg g.node[data-node-id="check-score"]').click()
    assert await card.locator(".run-card__output-text").inner_text() == "true"
    loaded = await chat.page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert any(url.endswith("/vendor/mermaid.min.js") and url.startswith(server.http) for url in loaded)
    await chat.wait_idle()


async def test_run_card_updates_live_while_a_human_node_waits(chat: ChatPage, server: RunningServer) -> None:
    """A human node shows 'running' on the card while the question waits; answering it turns the run completed."""
    await _save(
        server,
        chain(
            "ask-colour",
            [
                {"id": "ask", "type": "human", "config": {"question": "Favourite colour?", "options": ["red", "blue"]}},
                {"id": "say", "type": "answer", "config": {"text": "You chose {{ nodes.ask.text }}"}},
            ],
        ),
    )
    await chat.send("/run ask-colour")
    card = chat.page.locator(".run-card")
    await card.locator('.run-node[data-node-id="ask"][data-status="running"]').wait_for()
    await card.locator('.run-card__graph svg g.node[data-node-id="ask"][data-status="running"]').wait_for()
    assert await card.locator('.run-node[data-node-id="say"]').get_attribute("data-status") == "queued"
    prompt = chat.page.locator(".question", has_text="Favourite colour?")
    await prompt.get_by_role("button", name="blue").click()
    await chat.wait_reply("You chose blue")
    await card.locator('.run-card__graph svg g.node[data-node-id="say"][data-status="completed"]').wait_for()
    assert await card.get_attribute("data-status") == "completed"
    await chat.wait_idle()
