"""The tap hands the first text chunk of every model call out before it reads the rest of the reply."""

from __future__ import annotations

from autogen_core.models import CreateResult, UserMessage
from autogen_ext.models.replay import ReplayChatCompletionClient

from backend.llm.tap import StreamingTap


async def test_first_delta_out_is_awaited_once_per_call_right_after_the_first_chunk() -> None:
    """With the whole reply available at once, the hook still runs after exactly one delta, once per call."""
    inner = ReplayChatCompletionClient(["one two three four", "five six"])
    deltas: list[str] = []
    seen_at_hook: list[list[str]] = []

    async def first_out() -> None:
        seen_at_hook.append(list(deltas))

    tap = StreamingTap(inner, on_delta=deltas.append, first_delta_out=first_out)
    first = await tap.create([UserMessage(content="go", source="user")])
    assert isinstance(first, CreateResult) and first.content == "one two three four"
    assert seen_at_hook == [["one "]]
    await tap.create([UserMessage(content="again", source="user")])
    assert seen_at_hook == [["one "], ["one ", "two ", "three ", "four", "five "]]
    assert "".join(deltas) == "one two three fourfive six"


async def test_without_the_hook_the_reply_streams_as_before() -> None:
    """No hook (summaries, other callers): every chunk still reaches on_delta in order."""
    deltas: list[str] = []
    tap = StreamingTap(ReplayChatCompletionClient(["a b c"]), on_delta=deltas.append)
    await tap.create([UserMessage(content="go", source="user")])
    assert deltas == ["a ", "b ", "c"]
