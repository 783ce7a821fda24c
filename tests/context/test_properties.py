"""Property tests: random conversations, budgets and summarizer behaviour; every request fits, invariants hold."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from autogen_core.models import AssistantMessage, FunctionExecutionResultMessage, LLMMessage, SystemMessage, UserMessage
from autogen_core.tools import ToolSchema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.context import SUMMARY_PREFIX, BudgetedChatCompletionContext
from tests.fakes.model_server import count_prompt_tokens

from . import COUNTER, SEARCH_TOOL, StubSummarizer, call, client, reply, results, text_of, user, wire_body

OAI = client()
SECOND_TOOL: ToolSchema = {
    "name": "write_file",
    "description": "Write text to a file in the workspace (creates parent folders).",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "text": {"type": "string", "description": "file content"}},
        "required": ["path", "text"],
    },
}
TAG = re.compile(r"^\[#(\d+)\]")
styles = st.sampled_from(["words", "cjk", "code"])


@dataclass
class Turn:
    user_tokens: int
    style: str
    iterations: list[list[tuple[int, int]]]  # per iteration: (argument tokens, result tokens) per call
    reply_tokens: int
    thought: bool
    cancelled: bool  # the last iteration's results never arrive (a stopped turn)


turns = st.builds(
    Turn,
    user_tokens=st.one_of(st.integers(1, 400), st.integers(400, 9000)),
    style=styles,
    iterations=st.lists(
        st.lists(
            st.tuples(st.integers(1, 300), st.one_of(st.integers(1, 600), st.integers(600, 6000))),
            min_size=1,
            max_size=3,
        ),
        max_size=2,
    ),
    reply_tokens=st.integers(1, 400),
    thought=st.booleans(),
    cancelled=st.booleans(),
)


def identity(message: LLMMessage) -> int | None:
    """The sequence number a generated message carries (tag or call id), if it survived truncation."""
    if isinstance(message, (UserMessage, AssistantMessage)) and isinstance(message.content, str):
        match = TAG.match(message.content)
        return int(match.group(1)) if match else None
    if isinstance(message, AssistantMessage):
        return int(message.content[0].id.split("-")[0])  # type: ignore[union-attr]
    if isinstance(message, FunctionExecutionResultMessage):
        return int(message.content[0].call_id.split("-")[0])
    return None


def check(
    ctx: BudgetedChatCompletionContext,
    system: list[SystemMessage],
    tools: list[ToolSchema],
    messages: list[LLMMessage],
    latest_user: UserMessage,
    warnings_since_user: list[str],
) -> None:
    # 1. fits: by our count (with the margin) and by the fake server's count of the exact wire JSON.
    ours = COUNTER.count_request([*system, *messages], tools)
    assert ours * (1 + ctx.safety_margin) <= ctx.budget - ctx.reserve
    assert count_prompt_tokens(wire_body(OAI, system, messages, tools)) <= ours
    report = ctx.last_report
    assert report is not None and ours <= report.prompt_tokens <= ctx.limit
    # 2. the summary is the only system message and comes first.
    rest = messages
    if messages and isinstance(messages[0], SystemMessage):
        assert messages[0].content.startswith(SUMMARY_PREFIX)
        rest = messages[1:]
    assert not any(isinstance(m, SystemMessage) for m in rest)
    # 3. the latest user message is there verbatim, or truncated with a marker and a warning.
    users = [m for m in rest if isinstance(m, UserMessage)]
    assert users, "the latest user message is missing"
    if users[-1] != latest_user:
        assert "tokens truncated" in str(users[-1].content)
        assert any("latest message" in w for w in warnings_since_user)  # said when it was cut
        assert identity(users[-1]) in (identity(latest_user), None)
    # 4. calls and results come in pairs; a result never starts the history.
    for i, m in enumerate(rest):
        is_call = isinstance(m, AssistantMessage) and isinstance(m.content, list)
        if is_call:
            assert i + 1 < len(rest) and isinstance(rest[i + 1], FunctionExecutionResultMessage)
            ids = [c.id for c in m.content]  # type: ignore[union-attr]
            assert [r.call_id for r in rest[i + 1].content] == ids  # type: ignore[union-attr]
        if isinstance(m, FunctionExecutionResultMessage):
            prev = rest[i - 1] if i else None
            assert isinstance(prev, AssistantMessage) and isinstance(prev.content, list)
    # 5. order is preserved.
    seen = [n for n in (identity(m) for m in rest) if n is not None]
    assert seen == sorted(seen)
    # 6. storage is bounded: the kept history fits, the stored summary stays under its cap.
    assert ctx.fixed_tokens + ctx.history_tokens <= ctx.limit
    assert ctx.stored_tokens - ctx.fixed_tokens - ctx.history_tokens <= max(48, int(ctx.budget * 0.4))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    conversation=st.lists(turns, min_size=1, max_size=8),
    budget=st.integers(1024, 8192),
    margin=st.floats(0.0, 0.3),
    system_tokens=st.integers(5, 600),
    n_tools=st.integers(0, 2),
    recent=st.integers(1, 6),
    ratio=st.floats(0.1, 0.4),
    behaviour=st.sampled_from(["good", "raises", "empty", "not_text", "too_long", "none"]),
)
async def test_every_request_fits_and_invariants_hold(
    conversation: list[Turn],
    budget: int,
    margin: float,
    system_tokens: int,
    n_tools: int,
    recent: int,
    ratio: float,
    behaviour: str,
) -> None:
    """Random conversations (CJK, code, huge results, parallel calls, stopped turns) always fit, with invariants."""
    system = [SystemMessage(content=text_of(min(system_tokens, budget // 6)))]
    tools = [SEARCH_TOOL, SECOND_TOOL][:n_tools]
    stub = None if behaviour == "none" else StubSummarizer(mode=behaviour, keep="[#0]")
    ctx = BudgetedChatCompletionContext(
        counter=COUNTER,
        budget=budget,
        reserve=budget // 8,
        safety_margin=margin,
        system_messages=system,
        tool_schemas=tools,
        summarizer=stub,
        recent_messages=recent,
        summary_ratio=ratio,
        agent_name="prop",
        on_report=lambda r: warnings.extend(r.warnings),
    )
    warnings: list[str] = []
    seq = 0
    for turn in conversation:
        latest = user(f"[#{seq}] " + text_of(turn.user_tokens, seed=seq, style=turn.style))
        seq += 1
        warnings.clear()
        await ctx.add_message(latest)
        check(ctx, system, tools, await ctx.get_messages(), latest, warnings)
        for it, calls in enumerate(turn.iterations):
            ids = [f"{seq}-{k}" for k in range(len(calls))]
            seq += 1
            args = [json.dumps({"query": text_of(a, style=turn.style)}, ensure_ascii=False) for a, _ in calls]
            thought = text_of(30) if turn.thought else None
            await ctx.add_message(call(*zip(ids, args, strict=True), thought=thought))
            if turn.cancelled and it == len(turn.iterations) - 1:
                break  # stopped mid-turn: the call never gets its results
            contents = [text_of(r, seed=seq, style=turn.style) for _, r in calls]
            await ctx.add_message(results(*zip(ids, contents, strict=True)))
            check(ctx, system, tools, await ctx.get_messages(), latest, warnings)
        else:
            await ctx.add_message(reply(f"[#{seq}] " + text_of(turn.reply_tokens, seed=seq, style=turn.style)))
            seq += 1
        await ctx.compact()
    state = json.loads(json.dumps(await ctx.save_state()))
    assert len(state["messages"]) == len(ctx.stored_messages)
