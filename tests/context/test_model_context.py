"""BudgetedChatCompletionContext: each invariant, the fallbacks, state, reports and compaction."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence

import pytest
from autogen_core.model_context import UnboundedChatCompletionContext
from autogen_core.models import AssistantMessage, FunctionExecutionResultMessage, LLMMessage, SystemMessage, UserMessage

from backend.context import SUMMARY_PREFIX, BudgetedChatCompletionContext, ContextOverflowError, ContextReport
from backend.context.summarizer import Summarizer
from tests.fakes.model_server import count_prompt_tokens

from . import COUNTER, SEARCH_TOOL, StubSummarizer, call, client, reply, results, text_of, user, wire_body

SYSTEM = [SystemMessage(content="You are a careful assistant. " + text_of(150))]
OAI = client()


def make(
    summarizer: Summarizer | None = None,
    *,
    budget: int = 4096,
    reserve: int = 512,
    margin: float = 0.1,
    system: Sequence[SystemMessage] = SYSTEM,
    recent: int = 4,
    reports: list[ContextReport] | None = None,
    summary_timeout: float = 5.0,
) -> BudgetedChatCompletionContext:
    return BudgetedChatCompletionContext(
        counter=COUNTER,
        budget=budget,
        reserve=reserve,
        safety_margin=margin,
        system_messages=system,
        tool_schemas=[SEARCH_TOOL],
        summarizer=summarizer,
        recent_messages=recent,
        summary_ratio=0.25,
        agent_name="assistant",
        on_report=reports.append if reports is not None else None,
        summary_timeout=summary_timeout,
    )


async def turn(ctx: BudgetedChatCompletionContext, i: int, *, result_tokens: int = 900) -> list[LLMMessage]:
    """One agent turn as AssistantAgent does it: user, call, results, reply; returns the last request."""
    await ctx.add_message(user(f"Question {i}: " + text_of(250, seed=i)))
    await ctx.get_messages()
    await ctx.add_message(call((f"c{i}", json.dumps({"query": f"q{i}"}))))
    await ctx.add_message(results((f"c{i}", f"Result {i}: " + text_of(result_tokens, seed=i))))
    messages = await ctx.get_messages()
    await ctx.add_message(reply(f"Answer {i}."))
    return messages


def assert_request_ok(ctx: BudgetedChatCompletionContext, messages: list[LLMMessage]) -> None:
    """The request fits by our count and by the fake server's count of the exact wire JSON."""
    body = wire_body(OAI, SYSTEM, messages, [SEARCH_TOOL])
    ours = COUNTER.count_request([*SYSTEM, *messages], [SEARCH_TOOL])
    assert ours <= ctx.limit
    assert ours * (1 + ctx.safety_margin) <= ctx.budget - ctx.reserve
    assert count_prompt_tokens(body) <= ours
    assert ctx.last_report is not None and ctx.last_report.prompt_tokens >= ours - 0
    # The summary, if any, is the first message; no tool result right after it or at the start.
    rest = messages[1:] if messages and isinstance(messages[0], SystemMessage) else messages
    assert not any(isinstance(m, SystemMessage) for m in rest)
    assert not rest or not isinstance(rest[0], FunctionExecutionResultMessage)
    for a, b in itertools.pairwise(rest):
        is_call = isinstance(a, AssistantMessage) and isinstance(a.content, list)
        assert is_call == isinstance(b, FunctionExecutionResultMessage)


async def test_short_conversation_is_returned_unchanged() -> None:
    """Under the budget the history comes back as is, with no summary and a report."""
    reports: list[ContextReport] = []
    ctx = make(reports=reports)
    msgs = [user("hi"), reply("hello")]
    for m in msgs:
        await ctx.add_message(m)
    assert await ctx.get_messages() == msgs
    assert reports[-1].folded_now == 0 and reports[-1].summary_tokens == 0 and not reports[-1].warnings
    assert reports[-1] is ctx.last_report and reports[-1].limit == ctx.limit


async def test_long_conversation_folds_into_summary_and_fits() -> None:
    """Many turns: every request fits, a summary comes first, folded messages leave storage."""
    stub = StubSummarizer(keep="FACT-ALPHA")
    ctx = make(stub)
    await ctx.add_message(user("Remember FACT-ALPHA: the codename is BLUEBIRD."))
    await ctx.add_message(reply("Noted."))
    for i in range(12):
        messages = await turn(ctx, i)
        assert_request_ok(ctx, messages)
    assert isinstance(messages[0], SystemMessage) and messages[0].content.startswith(SUMMARY_PREFIX)
    assert "FACT-ALPHA" in messages[0].content
    assert ctx.summarized_messages > 20 and len(ctx.stored_messages) <= 12
    assert stub.calls and ctx.last_report is not None


async def test_latest_user_message_is_verbatim() -> None:
    """The latest user message is present unchanged in every request that fits it."""
    ctx = make(StubSummarizer())
    for i in range(6):
        await turn(ctx, i)
    question = user("The final question, verbatim: " + text_of(600))
    await ctx.add_message(question)
    messages = await ctx.get_messages()
    assert question in messages
    assert_request_ok(ctx, messages)


async def test_tool_pairs_fold_together_and_never_lead() -> None:
    """Calls and results are kept or folded together; a result is never first after the summary."""
    ctx = make(StubSummarizer(), recent=1)
    for i in range(8):
        await ctx.add_message(user(f"q{i} " + text_of(100)))
        await ctx.add_message(call((f"a{i}", "{}"), (f"b{i}", "{}")))
        await ctx.add_message(results((f"a{i}", text_of(300)), (f"b{i}", text_of(300))))
        assert_request_ok(ctx, await ctx.get_messages())


async def test_order_is_preserved() -> None:
    """Kept messages keep their relative order (a suffix-preserving subsequence of what was added)."""
    ctx = make(None)
    added = []
    for i in range(40):
        m = user(f"message {i} " + text_of(120)) if i % 2 == 0 else reply(f"reply {i} " + text_of(120))
        added.append(m)
        await ctx.add_message(m)
    messages = await ctx.get_messages()
    kept = [m for m in messages if not isinstance(m, SystemMessage)]
    positions = [added.index(m) for m in kept]
    assert positions == sorted(positions) and positions[-1] == 39


@pytest.mark.parametrize("mode", ["raises", "empty", "not_text", "too_long", "slow"])
async def test_summarizer_failures_fall_back_to_extractive(mode: str) -> None:
    """A failing, empty, non-text, too-long or hanging summarizer yields an extractive summary and a warning."""
    reports: list[ContextReport] = []
    stub = StubSummarizer(mode=mode)
    ctx = make(stub, summary_timeout=0.2, reports=reports)
    for i in range(4):
        messages = await turn(ctx, i)
        assert_request_ok(ctx, messages)
    assert stub.calls and ctx.summary and ctx.summarized_messages > 0
    assert isinstance(messages[0], SystemMessage)
    folds = [r for r in reports if r.folded_now]
    assert folds and all(r.summary_method == "extractive" for r in folds)
    assert all(any("used an extractive summary" in w for w in r.warnings) for r in folds)
    assert "Question" in ctx.summary  # the extractive lines name the folded messages


async def test_extractive_only_without_summarizer() -> None:
    """summarizer=None: folding still works, with a deterministic extractive summary."""
    ctx = make(None)
    for i in range(5):
        assert_request_ok(ctx, await turn(ctx, i))
    assert "Question" in ctx.summary


async def test_oversized_tool_result_is_truncated_in_storage() -> None:
    """A 20k-token tool result is cut with a marker, in the request and in storage."""
    ctx = make(StubSummarizer())
    await ctx.add_message(user("read the big file"))
    await ctx.add_message(call(("c1", "{}")))
    await ctx.add_message(results(("c1", "BEGIN " + text_of(20_000) + " END")))
    messages = await ctx.get_messages()
    assert_request_ok(ctx, messages)
    result = messages[-1]
    assert isinstance(result, FunctionExecutionResultMessage)
    content = result.content[0].content
    assert content.startswith("BEGIN ") and content.endswith(" END") and "tokens truncated" in content
    assert ctx.stored_messages[-1] == result
    assert ctx.last_report is not None and ctx.last_report.truncated_items == 1


async def test_huge_user_message_is_truncated_with_warning() -> None:
    """A pasted file bigger than the whole budget is cut (marker) and the report warns."""
    ctx = make(StubSummarizer())
    await ctx.add_message(user("START " + text_of(9000) + " FINISH"))
    messages = await ctx.get_messages()
    assert_request_ok(ctx, messages)
    content = messages[-1].content
    assert isinstance(content, str) and content.startswith("START ") and content.endswith(" FINISH")
    assert ctx.last_report is not None
    assert any("latest message" in w for w in ctx.last_report.warnings)


async def test_fixed_part_over_budget_raises_context_overflow() -> None:
    """A system message larger than the budget raises context_overflow instead of sending."""
    ctx = make(None, system=[SystemMessage(content=text_of(5000))])
    await ctx.add_message(user("hi"))
    with pytest.raises(ContextOverflowError) as info:
        await ctx.get_messages()
    assert info.value.code == "context_overflow"


async def test_state_round_trip_keeps_summary_and_counts() -> None:
    """save_state is JSON-serializable and load_state restores summary, counts and history."""
    ctx = make(StubSummarizer(keep="FACT-ALPHA"))
    await ctx.add_message(user("FACT-ALPHA is 42"))
    for i in range(6):
        await turn(ctx, i)
    state = json.loads(json.dumps(await ctx.save_state()))
    assert state["summary"] == ctx.summary and state["summarized_messages"] == ctx.summarized_messages
    assert len(state["token_counts"]) == len(state["messages"])
    restored = make(StubSummarizer())
    await restored.load_state(state)
    assert restored.summary == ctx.summary and restored.summarized_messages == ctx.summarized_messages
    assert restored.stored_messages == ctx.stored_messages and restored.stored_tokens == ctx.stored_tokens
    messages = await restored.get_messages()
    assert "FACT-ALPHA" in str(messages[0].content)


async def test_loads_plain_autogen_state() -> None:
    """A plain ChatCompletionContextState ({"messages": ...}) loads, is counted, and then fits."""
    plain = UnboundedChatCompletionContext()
    for i in range(30):
        await plain.add_message(user(f"m{i} " + text_of(200)))
        await plain.add_message(reply(f"r{i}"))
    ctx = make(None)
    await ctx.load_state(await plain.save_state())
    assert len(ctx.stored_messages) == 60 and ctx.summary == ""
    assert_request_ok(ctx, await ctx.get_messages())
    assert len(ctx.stored_messages) < 60


async def test_storage_stays_bounded() -> None:
    """The saved state stops growing: folded messages are removed from the context."""
    ctx = make(StubSummarizer())
    sizes = []
    for i in range(30):
        await turn(ctx, i)
        sizes.append(len(json.dumps(await ctx.save_state())))
    assert max(sizes[10:]) <= max(sizes[:10]) * 1.5


async def test_compact_folds_above_high_water_off_the_critical_path() -> None:
    """compact() folds when storage passes the high-water mark and reports it; then get_messages needn't."""
    reports: list[ContextReport] = []
    ctx = make(StubSummarizer(), reports=reports)
    assert await ctx.compact() is None
    for i in range(12):
        await ctx.add_message(user(f"m{i} " + text_of(90)))
        await ctx.add_message(reply(f"r{i} " + text_of(90)))
    assert ctx.stored_tokens > 0.75 * ctx.limit and ctx.stored_tokens <= ctx.limit
    report = await ctx.compact()
    assert report is not None and report.folded_now > 0 and reports[-1] is report
    assert ctx.stored_tokens <= 0.75 * ctx.limit
    await ctx.get_messages()
    assert ctx.last_report is not None and ctx.last_report.folded_now == 0


async def test_cancelled_summarization_leaves_state_intact() -> None:
    """Cancelling get_messages while the model summarizes changes nothing (no half-applied fold)."""
    ctx = make(StubSummarizer(mode="slow"), summary_timeout=60)
    for i in range(3):
        await ctx.add_message(user(f"m{i} " + text_of(700)))
        await ctx.add_message(reply(f"r{i} " + text_of(300)))
    before = (ctx.stored_messages, ctx.summary, ctx.summarized_messages)
    task = asyncio.create_task(ctx.get_messages())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (ctx.stored_messages, ctx.summary, ctx.summarized_messages) == before


async def test_orphan_results_are_repaired() -> None:
    """A result without its call (or a call whose results never came) never reaches the model."""
    ctx = make(None)
    await ctx.add_message(results(("zz", "stray result")))
    await ctx.add_message(user("hello"))
    await ctx.add_message(call(("c1", "{}")))  # cancelled turn: no results
    await ctx.add_message(user("are you there?"))
    messages = await ctx.get_messages()
    assert messages[-1] == user("are you there?")
    assert not any(isinstance(m, FunctionExecutionResultMessage) for m in messages)
    assert not any(isinstance(m, AssistantMessage) and isinstance(m.content, list) for m in messages)
    assert ctx.last_report is not None and ctx.last_report.folded_now == 2


async def test_clear_forgets_summary() -> None:
    """clear() (agent reset) drops history and summary."""
    ctx = make(StubSummarizer())
    for i in range(5):
        await turn(ctx, i)
    await ctx.clear()
    assert ctx.summary == "" and ctx.stored_messages == () and ctx.summarized_messages == 0
    assert await ctx.get_messages() == []


async def test_report_callback_errors_do_not_break_the_agent(caplog: pytest.LogCaptureFixture) -> None:
    """An on_report hook that raises is logged; get_messages still returns."""

    def broken(report: ContextReport) -> None:
        raise RuntimeError("hook failed")

    ctx = BudgetedChatCompletionContext(
        counter=COUNTER, budget=4096, reserve=512, safety_margin=0.1, system_messages=SYSTEM,
        tool_schemas=[], summarizer=None, on_report=broken,
    )  # fmt: skip
    await ctx.add_message(UserMessage(content="hi", source="user"))
    assert len(await ctx.get_messages()) == 1
    assert "on_report callback failed" in caplog.text


async def test_compact_waits_while_a_tool_call_is_pending() -> None:
    """compact() leaves a history ending in a tool call alone: the results are still to come."""
    ctx = make(StubSummarizer())
    for i in range(12):
        await ctx.add_message(user(f"m{i} " + text_of(90)))
        await ctx.add_message(reply(f"r{i} " + text_of(90)))
    await ctx.add_message(call(("c1", "{}")))
    assert ctx.stored_tokens > 0.75 * ctx.limit
    assert await ctx.compact() is None
    await ctx.add_message(results(("c1", "done")))
    assert await ctx.compact() is not None
    assert isinstance(ctx.stored_messages[-1], FunctionExecutionResultMessage)


async def test_saved_counts_are_recounted_when_the_counter_differs() -> None:
    """Counts saved under another counting rule are not trusted: load_state recounts."""
    ctx = make(None)
    await ctx.add_message(user("hello " + text_of(50)))
    state = dict(await ctx.save_state())
    state["counter"] = "something-else"
    state["token_counts"] = [1]
    restored = make(None)
    await restored.load_state(state)
    assert restored.history_tokens == ctx.history_tokens


async def test_clear_during_summarization_is_respected() -> None:
    """If the context is cleared while the model summarizes, the stale fold is not applied."""
    gate = asyncio.Event()

    class Gated(StubSummarizer):
        async def summarize(self, previous: str, entries: Sequence[str], *, max_tokens: int) -> str:
            await gate.wait()
            return "stale summary"

    ctx = make(Gated())
    for i in range(3):
        await ctx.add_message(user(f"m{i} " + text_of(700)))
        await ctx.add_message(reply(f"r{i} " + text_of(300)))
    task = asyncio.create_task(ctx.get_messages())
    await asyncio.sleep(0.05)
    await ctx.clear()
    await ctx.add_message(user("fresh start"))
    gate.set()
    assert await task == [user("fresh start")]
    assert ctx.summary == "" and ctx.summarized_messages == 0


class GatedSummarizer:
    """A summarizer that answers only when the test says so."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def summarize(self, previous: str, entries: Sequence[object], *, max_tokens: int) -> str:
        await self.release.wait()
        return "The user and the assistant exchanged twelve short messages."


async def test_a_new_turn_does_not_wait_for_a_background_compaction() -> None:
    """While compact() summarizes, a request that already fits is answered at once; the fold then
    removes only the old messages and keeps what the new turn appended."""
    summarizer = GatedSummarizer()
    ctx = make(summarizer, summary_timeout=60)
    for i in range(12):
        await ctx.add_message(user(f"m{i} " + text_of(90)))
        await ctx.add_message(reply(f"r{i} " + text_of(90)))
    compaction = asyncio.create_task(ctx.compact())
    await asyncio.sleep(0.05)  # the summarizer is now busy
    await ctx.add_message(user("new question while folding"))
    messages = await asyncio.wait_for(ctx.get_messages(), 0.5)
    assert isinstance(messages[-1], UserMessage) and messages[-1].content == "new question while folding"
    assert_request_ok(ctx, messages)
    summarizer.release.set()
    report = await compaction
    assert report is not None and report.folded_now > 0
    after = await ctx.get_messages()
    assert isinstance(after[0], SystemMessage) and "twelve short messages" in str(after[0].content)
    assert isinstance(after[-1], UserMessage) and after[-1].content == "new question while folding"
    assert_request_ok(ctx, after)
