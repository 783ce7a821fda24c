"""Summaries: transcript rendering, the extractive fallback's bound, and the model summarizer's own budget."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from autogen_ext.models.openai import OpenAIChatCompletionClient
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.context.summarizer import (
    SUMMARY_REQUEST_MARKER,
    ModelSummarizer,
    SummaryError,
    clean_summary,
    extractive_summary,
    gist,
    render_entries,
)
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply

from . import COUNTER, call, client, reply, results, text_of, user


@pytest.fixture
async def model() -> AsyncIterator[FakeModelServer]:
    server = FakeModelServer(context_window=4096)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def oai(model: FakeModelServer) -> AsyncIterator[OpenAIChatCompletionClient]:
    """The real OpenAI client pointed at the fake model (closed after the test)."""
    real = client(base_url=model.base_url)
    try:
        yield real
    finally:
        await real.close()


def test_render_entries_labels_roles_and_tools() -> None:
    """Each message becomes a labelled line; calls and results name the tool."""
    entries = render_entries(
        [user("hello", source="alice"), call(("c1", '{"query": "x"}')), results(("c1", "found")), reply("done")]
    )
    assert entries == ["alice: hello", 'assistant called search({"query": "x"})', "search returned: found",
                       "assistant: done"]  # fmt: skip


def test_gist_takes_first_sentence() -> None:
    """The extractive line is the first sentence of the first line, capped in length."""
    assert gist("user: The codename is BLUEBIRD. More text follows here.\nsecond line") == (
        "user: The codename is BLUEBIRD."
    )
    assert gist("user: 上下文预算。第二句") == "user: 上下文预算。第二句"  # short first sentence: keep the line
    assert len(gist("x" * 1000)) == 160


def test_clean_summary_strips_echoed_prefix() -> None:
    """A model that repeats "Summary of earlier conversation:" does not double the prefix."""
    assert clean_summary("  Summary of earlier conversation: facts.  ") == "facts."
    assert clean_summary("Summary: facts.") == "facts."


@settings(max_examples=150, deadline=None)
@given(
    previous=st.one_of(st.just(""), st.integers(1, 3000).map(text_of)),
    entries=st.lists(st.tuples(st.integers(1, 2000), st.sampled_from(["words", "cjk", "code"])), max_size=30),
    limit=st.integers(-5, 1500),
)
def test_extractive_summary_never_exceeds_its_limit(previous: str, entries: list[tuple[int, str]], limit: int) -> None:
    """Whatever the input, the extractive summary counts at most max_tokens (empty if no room)."""
    texts = [f"user: {text_of(n, seed=i, style=s)}" for i, (n, s) in enumerate(entries)]
    out = extractive_summary(COUNTER, previous, texts, limit)
    assert COUNTER.count_text(out) <= max(0, limit)
    if limit <= 0:
        assert out == ""


def test_extractive_summary_keeps_newest_and_notes_omissions() -> None:
    """When lines do not all fit, the newest are kept and the omission is stated."""
    entries = [f"user: message number {i}. " + text_of(50) for i in range(100)]
    out = extractive_summary(COUNTER, "", entries, 200)
    assert "message number 99" in out and "message number 0." not in out
    assert "omitted" in out


async def test_model_summarizer_returns_model_text(model: FakeModelServer, oai: OpenAIChatCompletionClient) -> None:
    """The summarizer calls create() (not streamed) with its marker and returns the cleaned reply."""
    model.enqueue(Reply.of_text("Summary: the user likes tea."))
    summarizer = ModelSummarizer(oai, COUNTER, max_prompt_tokens=2500,
                                 max_summary_tokens=1000)  # fmt: skip
    out = await summarizer.summarize("", ["user: I like tea."], max_tokens=300)
    assert out == "the user likes tea."
    request = model.chat_requests[-1]
    assert SUMMARY_REQUEST_MARKER in request.messages[0]["content"]
    assert not request.body.get("stream") and request.body["max_tokens"] == 300


async def test_model_summarizer_chunks_within_its_prompt_budget(
    model: FakeModelServer, oai: OpenAIChatCompletionClient
) -> None:
    """Entries that do not fit one prompt go in several calls, each prompt within max_prompt_tokens."""

    def respond(request: RecordedRequest) -> Reply:
        return Reply.of_text(f"summary after {len(model.chat_requests)} calls")

    model.responder = respond
    summarizer = ModelSummarizer.for_budget(
        oai, COUNTER, budget=4096, reserve=512, safety_margin=0.1, summary_ratio=0.25
    )
    entries = [f"tool returned: {text_of(1500, seed=i)}" for i in range(5)]
    out = await summarizer.summarize(text_of(600), entries, max_tokens=900)
    assert len(model.chat_requests) >= 2 and out.startswith("summary after")
    for request in model.chat_requests:
        assert not request.rejected
        assert request.prompt_tokens + request.body["max_tokens"] <= 4096
    assert summarizer.max_prompt_tokens * 1.1 + summarizer.max_summary_tokens <= 4096


@pytest.mark.parametrize(
    ("scripted", "reason"),
    [
        (Reply.of_text(""), "empty"),
        (Reply.of_tool_call("search", {"query": "x"}), "tool calls"),
        (Reply.of_text(text_of(700)), "longer"),
    ],
)
async def test_model_summarizer_rejects_junk(
    model: FakeModelServer, oai: OpenAIChatCompletionClient, scripted: Reply, reason: str
) -> None:
    """Empty, non-text or too-long replies raise SummaryError (the context then falls back)."""
    model.enqueue(scripted)
    summarizer = ModelSummarizer(oai, COUNTER, max_prompt_tokens=2500,
                                 max_summary_tokens=1000)  # fmt: skip
    with pytest.raises(SummaryError, match=reason):
        await summarizer.summarize("", ["user: hi"], max_tokens=200)


async def test_model_summarizer_without_room_refuses() -> None:
    """A prompt budget too small for any message raises instead of sending an oversized prompt."""
    unused = client()
    summarizer = ModelSummarizer(unused, COUNTER, max_prompt_tokens=100, max_summary_tokens=50)
    with pytest.raises(SummaryError):
        await summarizer.summarize("", ["user: hi"], max_tokens=40)
    await unused.close()


async def test_model_summarizer_bounds_its_calls(model: FakeModelServer, oai: OpenAIChatCompletionClient) -> None:
    """A huge fold costs at most max_calls model calls; the oldest entries are folded in extractively."""
    model.responder = lambda request: Reply.of_text("merged summary")
    summarizer = ModelSummarizer.for_budget(
        oai, COUNTER, budget=4096, reserve=512, safety_margin=0.1, summary_ratio=0.25
    )
    entries = [f"user: message {i}. " + text_of(300, seed=i) for i in range(200)]
    assert await summarizer.summarize("", entries, max_tokens=900) == "merged summary"
    assert len(model.chat_requests) == summarizer.max_calls == 3
    first_prompt = model.chat_requests[0].messages[1]["content"]
    assert "omitted" in first_prompt  # the extractive pre-fold names what it dropped
    assert "message 199." not in first_prompt and "message 199." in model.chat_requests[-1].messages[1]["content"]
