"""Runs one user turn through a team and maps AutoGen's output to protocol events.

Tokens do not pass through here (see ``llm/tap.py``); this module sees complete messages, tool
calls and tool results, in order, and decides how the turn ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    HandoffMessage,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
    ToolCallSummaryMessage,
)
from autogen_core import CancellationToken

from .builder import BuiltTeam

logger = logging.getLogger(__name__)

Emit = Callable[..., None]


class CancelToken(CancellationToken):
    """The handle a session uses to stop a running turn (AutoGen's token, by another name)."""


TurnStatus = Literal["ok", "cancelled", "error"]


@dataclass
class TurnOutcome:
    status: TurnStatus
    response: str | None = None
    agent: str | None = None
    error: BaseException | None = None


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class TurnRunner:
    """Maps a team's message stream to events: tool_call, tool_result, agent_message, handoff."""

    def __init__(self, built: BuiltTeam, emit: Emit, tool_durations: dict[str, float]) -> None:
        self._built = built
        self._emit = emit
        self._durations = tool_durations
        self._agents = frozenset(a.name for a in built.spec.agents)
        self._tool_names: dict[str, str] = {}
        self._held: tuple[str, str] | None = None  # (agent, content) of an agent message not yet emitted

    async def run(self, task: Sequence[BaseChatMessage], token: CancellationToken) -> TurnOutcome:
        try:
            return await self._run(task, token)
        finally:
            self._release()

    def _release(self) -> None:
        """Emit the agent message held back (see ``_on_message``)."""
        held, self._held = self._held, None
        if held is not None:
            self._emit("agent_message", agent=held[0], content=held[1])

    async def _run(self, task: Sequence[BaseChatMessage], token: CancellationToken) -> TurnOutcome:
        last_answer: tuple[str, str] | None = None
        stream = self._built.team.run_stream(task=list(task), cancellation_token=token)
        try:
            # Consume the stream to its end (or close it): only then does the team mark itself
            # stopped; a `break` would leave it "already running" for the next turn.
            async with contextlib.aclosing(stream):
                async for item in stream:
                    if isinstance(item, TaskResult):
                        continue
                    answer = self._on_message(item)
                    if answer is not None:
                        last_answer = answer
        except asyncio.CancelledError:
            if token.is_cancelled():
                return TurnOutcome("cancelled")
            raise
        except Exception as exc:  # the team failed: the model, a tool, or AutoGen itself
            if token.is_cancelled():
                return TurnOutcome("cancelled")
            return TurnOutcome("error", error=exc)
        if token.is_cancelled():
            return TurnOutcome("cancelled")
        if last_answer is None:
            return TurnOutcome("ok", response="", agent=None)
        return TurnOutcome("ok", response=last_answer[1], agent=last_answer[0])

    def _on_message(self, item: BaseAgentEvent | BaseChatMessage) -> tuple[str, str] | None:
        """Events for one item of the team's stream. An agent's message is held back until the next
        item (or the end of the run): the last one then goes out with the turn's ``response`` in one
        store batch instead of a batch (a trip to the store) of its own; order is unchanged."""
        self._release()
        emit = self._emit
        if isinstance(item, ToolCallRequestEvent):
            for call in item.content:
                self._tool_names[call.id] = call.name
                emit("tool_call", id=call.id, agent=item.source, name=call.name, arguments=_arguments(call.arguments))
        elif isinstance(item, ToolCallExecutionEvent):
            for result in item.content:
                seconds = self._durations.pop(result.call_id, None)
                emit(
                    "tool_result",
                    id=result.call_id,
                    agent=item.source,
                    name=result.name or self._tool_names.get(result.call_id, ""),
                    content=result.content,
                    is_error=bool(result.is_error),
                    duration_ms=round(seconds * 1000, 1) if seconds is not None else None,
                )
        elif isinstance(item, HandoffMessage):
            if item.source in self._agents:
                emit("handoff", agent=item.source, target=item.target, content=item.content)
        elif isinstance(item, (TextMessage, ToolCallSummaryMessage)) and item.source in self._agents:
            self._held = (item.source, item.content)
            return item.source, item.content
        return None
