"""Acceptance: 60 tool-using turns through a real AssistantAgent against a 4096-token model server."""

from __future__ import annotations

import json
import re

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core.models import SystemMessage
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient

from backend.context import (
    SUMMARY_PREFIX,
    SUMMARY_REQUEST_MARKER,
    BudgetedChatCompletionContext,
    ContextReport,
    ModelSummarizer,
    TokenCounter,
)
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply

from . import MODEL_INFO, text_of

WINDOW = 4096
RESERVE = 512
MARGIN = 0.10
TURNS = 60
SYSTEM_PROMPT = "You are a research assistant. Use the lookup tool to answer, then reply in two sentences."
FACT = "FACT-ALPHA: the launch codename is BLUEBIRD."


async def lookup(query: str) -> str:
    """Look a topic up in the archive and return the full passage."""
    n = int(re.sub(r"\D", "", query) or 0)
    return f"Archive passage for {query}: " + text_of(1500, seed=n)


def respond(request: RecordedRequest) -> Reply:
    """Summaries for summarization prompts, a tool call for a user turn, a short answer after the tool."""
    messages = request.messages
    if SUMMARY_REQUEST_MARKER in str(messages[0].get("content")):
        keep = FACT + " " if "FACT-ALPHA" in request.text else ""
        return Reply.of_text(keep + "The user asked about a series of archive topics; each was looked up and answered.")
    last = messages[-1]
    if last["role"] == "user":
        turn = re.search(r"Turn (\d+):", str(last["content"]))
        return Reply.of_tool_call("lookup", {"query": f"topic {turn.group(1) if turn else 0}"})
    return Reply.of_text("The archive covers this topic in detail. The key points are summarized above.")


@pytest.mark.slow
async def test_sixty_turns_fit_a_4096_window_and_carry_the_summary() -> None:
    """Zero rejected requests, each within budget by both counts, and a turn-1 fact survives to turn 60."""
    server = FakeModelServer(context_window=WINDOW, responder=respond)
    await server.start()
    model_client = OpenAIChatCompletionClient(
        model="fake",
        base_url=server.base_url,
        api_key="x",
        model_info=MODEL_INFO,  # type: ignore[arg-type]
        max_tokens=RESERVE,
        include_name_in_message=False,
    )
    counter = TokenCounter.load(include_name=False)
    tool = FunctionTool(lookup, description="Look a topic up in the archive and return the full passage.")
    reports: list[ContextReport] = []
    context = BudgetedChatCompletionContext(
        counter=counter,
        budget=WINDOW,
        reserve=RESERVE,
        safety_margin=MARGIN,
        system_messages=[SystemMessage(content=SYSTEM_PROMPT)],
        tool_schemas=[tool.schema],
        summarizer=ModelSummarizer.for_budget(
            model_client, counter, budget=WINDOW, reserve=RESERVE, safety_margin=MARGIN, summary_ratio=0.25
        ),
        recent_messages=4,
        summary_ratio=0.25,
        agent_name="researcher",
        on_report=reports.append,
    )
    agent = AssistantAgent(
        "researcher",
        model_client=model_client,
        tools=[tool],
        model_context=context,
        system_message=SYSTEM_PROMPT,
        model_client_stream=True,
        reflect_on_tool_use=True,
    )
    try:
        for i in range(1, TURNS + 1):
            opening = f"{FACT} Please remember it. " if i == 1 else ""
            await agent.run(task=f"Turn {i}: {opening}" + text_of(300, seed=i))
    finally:
        await model_client.close()
        await server.stop()

    chat = server.chat_requests
    summaries = [r for r in chat if SUMMARY_REQUEST_MARKER in str(r.messages[0].get("content"))]
    agent_requests = [r for r in chat if r not in summaries]
    assert not [r for r in chat if r.rejected], "the model server rejected a request"
    for r in chat:
        assert r.prompt_tokens + int(r.body["max_tokens"]) <= WINDOW
    # One report per get_messages, one agent request per report: our estimate bounds the server's count.
    assert len(agent_requests) == 2 * TURNS == len(reports)
    for r, report in zip(agent_requests, reports, strict=True):
        assert report.prompt_tokens * (1 + MARGIN) <= WINDOW - RESERVE
        assert r.prompt_tokens <= report.prompt_tokens
        assert r.body["max_tokens"] == RESERVE
    # The rolling summary carried the turn-1 fact; turn 1 itself is long gone from the prompt.
    last = agent_requests[-1]
    assert "Turn 60:" in last.text and SUMMARY_PREFIX in last.text and "FACT-ALPHA" in last.text
    assert "Turn 1:" not in last.text
    assert summaries and all(r.body["max_tokens"] <= 0.25 * WINDOW for r in summaries)
    folds = [r for r in reports if r.folded_now]
    assert folds and all(r.summary_method == "model" and not r.warnings for r in folds)
    # Storage is bounded: folded messages left the context; the saved state is small.
    assert context.summarized_messages > 3 * TURNS and len(context.stored_messages) <= 12
    assert len(json.dumps(await context.save_state())) < 40_000
