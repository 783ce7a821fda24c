"""The AutoGen model context every agent uses: each request fits the budget, with a rolling summary.

``AssistantAgent`` sends ``system_messages + await context.get_messages()`` plus its tool schemas.
:class:`BudgetedChatCompletionContext` counts all of it (the system messages and schemas are given
to the constructor) and, when the next request would not fit ``budget - reserve`` with the safety
margin, folds the oldest messages into one summary :class:`SystemMessage` returned first, truncates
oversized items, and reports what it did (:class:`ContextReport`). The planning is the pure
:func:`backend.context.budget.plan_columns`; this module only applies plans and calls the summarizer.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from autogen_core.model_context import ChatCompletionContext, ChatCompletionContextState
from autogen_core.models import (
    AssistantMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import ToolSchema

from .budget import (
    HIGH_WATER,
    LOW_WATER,
    MIN_SUMMARY_TOKENS,
    ContextOverflowError,
    Kind,
    Plan,
    has_orphans,
    plan_columns,
    request_limit,
)
from .summarizer import SUMMARY_PREFIX, Summarizer, clean_summary, extractive_summary, render_entries
from .tokens import PER_REQUEST, TokenCounter

logger = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(slots=True)
class ContextReport:
    """What the context did for one request (or one background compaction)."""

    agent: str
    prompt_tokens: int  # our estimate of the whole request (system + tools + summary + messages)
    budget: int
    reserve: int
    summarized_messages: int  # folded into the summary so far (all calls)
    summary_tokens: int  # the summary message in this request (0: none)
    truncated_items: int  # messages truncated in this call
    folded_now: int  # messages folded in this call
    warnings: list[str] = field(default_factory=list)
    limit: int = 0  # the largest estimate allowed: (budget - reserve) / (1 + safety margin)
    messages: int = 0  # messages returned (summary included)
    summary_method: str | None = None  # "model" | "extractive" when a new summary was made in this call

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kind(message: LLMMessage) -> Kind:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, UserMessage):
        return "user"
    if isinstance(message, AssistantMessage):
        return "call" if isinstance(message.content, list) else "assistant"
    return "result"


class BudgetedChatCompletionContext(ChatCompletionContext):
    """A chat completion context whose every request fits ``budget - reserve`` (see module docstring)."""

    def __init__(
        self,
        *,
        counter: TokenCounter,
        budget: int,
        reserve: int,
        safety_margin: float,
        system_messages: Sequence[SystemMessage],
        tool_schemas: Sequence[ToolSchema],
        summarizer: Summarizer | None,
        recent_messages: int = 4,
        summary_ratio: float = 0.25,
        agent_name: str = "",
        on_report: Callable[[ContextReport], None] | None = None,
        summary_timeout: float = 120.0,
        initial_messages: Sequence[LLMMessage] | None = None,
    ) -> None:
        super().__init__()
        self._counter = counter
        self.budget = budget
        self.reserve = reserve
        self.safety_margin = safety_margin
        self.limit = request_limit(budget, reserve, safety_margin)
        self.fixed_tokens = PER_REQUEST + counter.count_messages(system_messages) + counter.count_tools(tool_schemas)
        self._summarizer = summarizer
        self._recent = max(1, recent_messages)
        self._summary_cap = max(MIN_SUMMARY_TOKENS, math.floor(budget * summary_ratio))
        self.agent_name = agent_name
        self._on_report = on_report
        self._summary_timeout = summary_timeout
        self._wrapper_tokens = counter.count_message(SystemMessage(content=SUMMARY_PREFIX))
        self._lock = asyncio.Lock()
        self._compacting = False  # a background compact() is folding (see get_messages)
        self._generation = 0
        self.last_report: ContextReport | None = None
        self._reset()
        for message in initial_messages or ():
            self._append(message)

    # --- storage -----------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._messages = []
        self._counts: list[int] = []
        self._floors: list[int] = []
        self._kinds: list[Kind] = []
        self._total = 0
        self._summary = ""
        self._summary_tokens = 0
        self._summarized = 0
        self._generation += 1

    def _append(self, message: LLMMessage, tokens: int | None = None, floor: int | None = None) -> None:
        tokens = self._counter.count_message(message) if tokens is None else tokens
        self._messages.append(message)
        self._counts.append(tokens)
        self._floors.append(self._counter.floor(message, tokens) if floor is None else floor)
        self._kinds.append(_kind(message))
        self._total += tokens

    def _set_summary(self, text: str) -> None:
        self._summary = text
        self._summary_tokens = self._summary_message_tokens(text)

    def _summary_message_tokens(self, text: str) -> int:
        return self._counter.count_message(SystemMessage(content=SUMMARY_PREFIX + text)) if text else 0

    @property
    def summary(self) -> str:
        """The stored rolling summary text ("" when nothing has been folded)."""
        return self._summary

    @property
    def summarized_messages(self) -> int:
        return self._summarized

    @property
    def stored_messages(self) -> tuple[LLMMessage, ...]:
        return tuple(self._messages)

    @property
    def history_tokens(self) -> int:
        """Estimated tokens of the stored messages (summary and fixed part excluded)."""
        return self._total

    @property
    def stored_tokens(self) -> int:
        """Estimate of the next request if nothing were added: fixed + stored summary + history."""
        return self.fixed_tokens + self._summary_tokens + self._total

    # --- ChatCompletionContext ---------------------------------------------------------------------
    async def add_message(self, message: LLMMessage) -> None:
        self._append(message)

    async def clear(self) -> None:
        self._reset()

    async def get_messages(self) -> list[LLMMessage]:
        """The summary (a SystemMessage, first) and the kept history; folds first if needed.

        If a background :meth:`compact` is summarizing and the request fits as it is, it does not
        wait for it (the fold applies to the old messages only, whatever is appended meanwhile).
        """
        if self._compacting and self.stored_tokens <= self.limit and not has_orphans(self._kinds):
            messages, report = self._view(self._summary, self._summary_tokens, [], folded=0, truncated=0, method=None)
            self.last_report = report
            self._emit(report)
            return messages
        async with self._lock:
            messages, report = await self._fit(self.limit, allow_model=True)
        self.last_report = report
        self._emit(report)
        return messages

    async def compact(self) -> ContextReport | None:
        """Fold proactively above the high-water mark (call after a turn, off the critical path).

        Returns the report (also passed to ``on_report``) if anything was folded or truncated. Does
        nothing while the last message is a tool call (its results are still to come).
        """
        async with self._lock:
            high = math.floor(HIGH_WATER * self.limit)
            if self._kinds and self._kinds[-1] == "call":  # a turn is running: its results are still to come
                return None
            if self.stored_tokens <= high and not has_orphans(self._kinds):
                return None
            self._compacting = True
            try:
                _, report = await self._fit(high, allow_model=True)
            finally:
                self._compacting = False
        if not (report.folded_now or report.truncated_items):
            return None
        self._emit(report)
        return report

    async def save_state(self) -> Mapping[str, Any]:
        return {
            "messages": [m.model_dump(mode="json") for m in self._messages],
            "summary": self._summary,
            "summarized_messages": self._summarized,
            "token_counts": list(self._counts),
            "token_floors": list(self._floors),
            "counter": self._counter.fingerprint,
            "version": STATE_VERSION,
        }

    async def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`save_state` output, or a plain ``ChatCompletionContextState`` dump."""
        messages = ChatCompletionContextState.model_validate({"messages": state.get("messages", [])}).messages
        counts, floors = state.get("token_counts"), state.get("token_floors")
        reuse = (
            state.get("counter") == self._counter.fingerprint
            and isinstance(counts, list)
            and isinstance(floors, list)
            and len(counts) == len(messages) == len(floors)
            and all(isinstance(x, int) for x in [*counts, *floors])
        )
        self._reset()
        for i, message in enumerate(messages):
            if reuse:
                assert isinstance(counts, list) and isinstance(floors, list)
                self._append(message, counts[i], floors[i])
            else:
                self._append(message)
        summary = state.get("summary")
        self._set_summary(summary if isinstance(summary, str) else "")
        summarized = state.get("summarized_messages", 0)
        self._summarized = summarized if isinstance(summarized, int) else 0

    # --- the fitting step --------------------------------------------------------------------------
    async def _fit(self, trigger: int, *, allow_model: bool, depth: int = 0) -> tuple[list[LLMMessage], ContextReport]:
        generation = self._generation
        total = self.stored_tokens
        if total <= min(trigger, self.limit) and not has_orphans(self._kinds):
            return self._view(self._summary, self._summary_tokens, [], folded=0, truncated=0, method=None)
        plan = plan_columns(
            self._counts,
            self._kinds,
            self._floors,
            fixed=self.fixed_tokens,
            summary_tokens=self._summary_tokens,
            limit=self.limit,
            summary_cap=self._summary_cap,
            recent=self._recent,
            trigger=trigger,
            target=math.floor(LOW_WATER * self.limit),
        )
        warnings = list(plan.warnings)
        method: str | None = None
        stored = self._summary
        if plan.fold:
            folded = [self._messages[i] for i in plan.fold]
            use_model = allow_model and total > trigger
            stored, method = await self._summarize(folded, use_model=use_model, warnings=warnings)
            if self._generation != generation:  # cleared or reloaded while the model was summarizing
                return await self._fit(trigger, allow_model=allow_model and depth == 0, depth=depth + 1)
        truncated = self._apply(plan, stored)
        if self.fixed_tokens + min(plan.summary_limit, self._summary_tokens) + self._total > self.limit and depth < 2:
            # Messages were added while we awaited the summarizer: plan again (the last round makes no
            # model call, so nothing can be added during it and it is final).
            return await self._fit(self.limit, allow_model=False, depth=depth + 1)
        view_text, view_tokens = self._trimmed_summary(plan.summary_limit, warnings)
        result = self._view(view_text, view_tokens, warnings, folded=len(plan.fold), truncated=truncated, method=method)
        if result[1].prompt_tokens > self.limit:  # unreachable by construction; never send an over-budget request
            raise ContextOverflowError(
                f"context for {self.agent_name or 'agent'} needs {result[1].prompt_tokens} tokens, limit {self.limit}"
            )
        return result

    def _apply(self, plan: Plan, summary: str) -> int:
        """Remove folded messages, truncate capped ones, store the new summary. No awaits: atomic."""
        fold = set(plan.fold)
        keep = [i for i in range(len(self._messages)) if i not in fold]
        old = self._messages, self._counts, self._floors, self._kinds
        self._messages = [old[0][i] for i in keep]
        self._counts = [old[1][i] for i in keep]
        self._floors = [old[2][i] for i in keep]
        self._kinds = [old[3][i] for i in keep]
        truncated = 0
        for position, i in enumerate(keep):
            cap = plan.caps.get(i)
            if cap is not None and self._counts[position] > cap:
                message = self._counter.truncate_message(self._messages[position], cap)
                tokens = self._counter.count_message(message)
                self._messages[position] = message
                self._counts[position] = tokens
                self._floors[position] = self._counter.floor(message, tokens)
                truncated += 1
        self._total = sum(self._counts)
        if plan.fold:
            self._set_summary(summary)
            self._summarized += len(plan.fold)
            logger.info(
                "context %s: folded %d message(s), summary %d tokens, %d kept",
                self.agent_name or "-",
                len(plan.fold),
                self._summary_tokens,
                len(self._messages),
            )
        return truncated

    async def _summarize(self, folded: list[LLMMessage], *, use_model: bool, warnings: list[str]) -> tuple[str, str]:
        """New stored summary (<= the summary cap) of the old one plus ``folded``; never fails."""
        text_limit = self._summary_cap - self._wrapper_tokens
        if use_model and self._summarizer is not None:
            try:
                entries = render_entries(folded)
                raw: object = await asyncio.wait_for(
                    self._summarizer.summarize(self._summary, entries, max_tokens=text_limit), self._summary_timeout
                )
                if not isinstance(raw, str):
                    raise TypeError(f"summarizer returned {type(raw).__name__}, not text")
                text = clean_summary(raw)
                if not text:
                    raise ValueError("summarizer returned an empty summary")
                if self._summary_message_tokens(text) > self._summary_cap:
                    raise ValueError("summarizer returned a summary longer than allowed")
                return text, "model"
            except Exception as exc:  # the model may fail in any way: fall back, never loop
                logger.warning(
                    "context %s: summarizer failed (%s); extractive summary used",
                    self.agent_name or "-",
                    type(exc).__name__,
                )
                warnings.append(f"summarizer failed ({type(exc).__name__}: {exc}); used an extractive summary")
        # Only the newest messages can fit as extractive lines: render just those (the rest are "omitted").
        tail = folded[-(text_limit // 8 + 8) :]
        entries = render_entries(tail)
        omitted = len(folded) - len(tail)
        limit = text_limit

        def measure(text: str) -> int:  # the summary message's own count (cached for _set_summary)
            return self._summary_message_tokens(text) - self._wrapper_tokens

        previous_tokens = self._summary_tokens  # an upper bound of the previous text's tokens
        text = extractive_summary(
            self._counter, self._summary, entries, limit, omitted=omitted, previous_tokens=previous_tokens,
            measure=measure,
        )  # fmt: skip
        while text and self._summary_message_tokens(text) > self._summary_cap:  # unreachable; stay safe
            limit -= max(1, self._summary_message_tokens(text) - self._summary_cap)
            text = extractive_summary(self._counter, self._summary, entries, limit, omitted=omitted)
        return text, "extractive"

    def _trimmed_summary(self, limit: int, warnings: list[str]) -> tuple[str, int]:
        """The stored summary, cut (head and tail) to ``limit`` tokens for this request if needed."""
        if self._summary_tokens <= limit:
            return self._summary, self._summary_tokens
        if limit < MIN_SUMMARY_TOKENS:
            return "", 0
        target = limit - self._wrapper_tokens
        text = self._counter.truncate_text(self._summary, target)
        while self._summary_message_tokens(text) > limit and target > 0:
            target -= max(1, self._summary_message_tokens(text) - limit)
            text = self._counter.truncate_text(self._summary, max(0, target))
        if target <= 0:
            return "", 0
        if "summary shortened to make room" not in warnings:
            warnings.append("summary shortened to make room")
        return text, self._summary_message_tokens(text)

    def _view(
        self,
        summary: str,
        summary_tokens: int,
        warnings: list[str],
        *,
        folded: int,
        truncated: int,
        method: str | None,
    ) -> tuple[list[LLMMessage], ContextReport]:
        messages: list[LLMMessage] = [SystemMessage(content=SUMMARY_PREFIX + summary)] if summary else []
        messages.extend(self._messages)
        report = ContextReport(
            agent=self.agent_name,
            prompt_tokens=self.fixed_tokens + summary_tokens + self._total,
            budget=self.budget,
            reserve=self.reserve,
            summarized_messages=self._summarized,
            summary_tokens=summary_tokens,
            truncated_items=truncated,
            folded_now=folded,
            warnings=warnings,
            limit=self.limit,
            messages=len(messages),
            summary_method=method,
        )
        return messages, report

    def _emit(self, report: ContextReport) -> None:
        if self._on_report is None:
            return
        try:
            self._on_report(report)
        except Exception:
            logger.exception("context %s: on_report callback failed", self.agent_name or "-")
