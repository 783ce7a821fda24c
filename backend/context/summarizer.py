"""Rolling summaries: by the model (:class:`ModelSummarizer`) or deterministic (:func:`extractive_summary`).

A :class:`Summarizer` merges the previous summary with rendered transcript entries ("user: ...",
"assistant called f(...)", "f returned: ...") into a new summary of at most ``max_tokens`` cl100k
tokens. The model may fail in any way; the caller (the context) validates the result and falls back
to :func:`extractive_summary`, which always succeeds within its limit.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

from .tokens import PER_REQUEST, TokenCounter

logger = logging.getLogger(__name__)

SUMMARY_REQUEST_MARKER = "[conversation-summary-request]"
SUMMARY_PREFIX = "Summary of earlier conversation: "
INSTRUCTIONS = (
    "{marker} You keep a running summary of a conversation between a user and AI assistants. "
    "Merge the previous summary and the new messages into one updated summary of at most {words} words. "
    "Keep facts, names, numbers, identifiers, decisions, the user's goals and preferences, open tasks, "
    "and tool results that matter later. Drop greetings, filler and anything superseded. "
    "Write plain sentences and reply with the summary only."
)
GIST_CHARS = 160  # an extractive line keeps at most this much of a message
_SENTENCE_END = re.compile("(?<=[.!?])\\s|(?<=[\u3002\uff01\uff1f])")  # ASCII or CJK sentence ends


class SummaryError(Exception):
    """The model's summary is unusable (raised inside the summarizer, caught by the context)."""


class Summarizer(Protocol):
    """Merges ``previous`` and ``entries`` into a summary of at most ``max_tokens`` cl100k tokens."""

    async def summarize(self, previous: str, entries: Sequence[str], *, max_tokens: int) -> str: ...


# --- transcript entries --------------------------------------------------------------------------
def render_entries(messages: Sequence[LLMMessage]) -> list[str]:
    """One plain-text line (or block) per message, roles labelled, for summarizing."""
    out: list[str] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append(f"system: {m.content}")
        elif isinstance(m, UserMessage):
            text = (
                m.content
                if isinstance(m.content, str)
                else " ".join(p if isinstance(p, str) else "[image]" for p in m.content)
            )
            out.append(f"{m.source}: {text}")
        elif isinstance(m, AssistantMessage):
            if isinstance(m.content, str):
                out.append(f"{m.source}: {m.content}")
            else:
                out.extend(f"{m.source} called {c.name}({c.arguments})" for c in m.content)
        elif isinstance(m, FunctionExecutionResultMessage):
            out.extend(f"{r.name} {'failed' if r.is_error else 'returned'}: {r.content}" for r in m.content)
    return out


def gist(entry: str, limit: int = GIST_CHARS) -> str:
    """The first sentence of the first non-empty line, at most ``limit`` characters."""
    line = next((ln.strip() for ln in entry.splitlines() if ln.strip()), "")
    parts = _SENTENCE_END.split(line, maxsplit=1)
    first = parts[0].strip() if parts else line
    if len(first) < 24 and len(line) > len(first):  # "user: Hi." carries nothing; keep going
        first = line
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def _wire_tokens(counter: TokenCounter, text: str) -> int:
    """Tokens of ``text`` as it appears inside a JSON string (escaped quotes, newlines, backslashes)."""
    return counter.count_text(json.dumps(text, ensure_ascii=False)[1:-1])


def extractive_summary(
    counter: TokenCounter,
    previous: str,
    entries: Sequence[str],
    max_tokens: int,
    *,
    omitted: int = 0,
    previous_tokens: int | None = None,
    measure: Callable[[str], int] | None = None,
) -> str:
    """Deterministic fallback: the previous summary (cut to fit) then one gist line per new entry.

    Newest entries are kept first; the previous summary gets what is left (at least 40% of the
    limit when there is one). ``omitted`` counts earlier entries the caller did not even render;
    ``previous_tokens`` (an upper bound of the previous summary's tokens) saves re-encoding it.
    The result measures at most ``max_tokens`` with ``measure`` (default: tokens of the text
    JSON-escaped, as on the wire), or is ``""`` if ``max_tokens <= 0``.
    """
    measure = measure or (lambda text: _wire_tokens(counter, text))
    if max_tokens <= 0:
        return ""
    new_budget = max_tokens if not previous else math.floor(max_tokens * 0.6)
    lines: list[str] = []
    costs: list[int] = []
    used = 0
    for entry in reversed(entries):  # newest first; stop once the budget is spent (bounded work)
        line = "- " + gist(entry)
        cost = _wire_tokens(counter, line) + 1
        if used + cost > new_budget:
            break
        lines.append(line)
        costs.append(cost)
        used += cost
    lines.reverse()
    costs.reverse()
    skipped = len(entries) - len(lines) + omitted
    if skipped:
        note = f"- ({skipped} earlier item(s) omitted)"
        cost = counter.count_text(note) + 1
        while lines and used + cost > new_budget:
            lines.pop(0)
            used -= costs.pop(0)
        lines.insert(0, note)
        used += cost
    head = ""
    if previous:
        room = max(0, max_tokens - used - 1)
        fits = previous_tokens is not None and previous_tokens <= room
        head = previous if fits else counter.truncate_text(previous, room)
    text = "\n".join(part for part in [head, *lines] if part)
    while (count := measure(text)) > max_tokens:  # escaping and joins cost a little more: trim until it fits
        over = count - max_tokens
        first = 1 if lines and lines[0].startswith("- (") else 0
        if head:
            keep = counter.count_text(head) - over - 1
            head = counter.truncate_text(head, keep) if keep > 16 else ""
        elif len(lines) > first:
            lines.pop(first)  # the oldest new line
        else:
            return ""
        text = "\n".join(part for part in [head, *lines] if part)
    return text


def clean_summary(text: str) -> str:
    """Strip whitespace and an echoed prefix such as "Summary of earlier conversation:"."""
    text = text.strip()
    for prefix in (SUMMARY_PREFIX.strip(), "Summary:", "Updated summary:"):
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix) :].strip()
    return text


# --- the model summarizer -------------------------------------------------------------------------
class ModelSummarizer:
    """Asks the model itself (``create``, not streamed) for the summary, within its own prompt budget.

    ``max_prompt_tokens`` bounds every summarization prompt by our estimate (instructions, previous
    summary and as many entries as fit; the rest go to follow-up calls, each folding into the last
    result, at most ``max_calls`` per summary: older entries beyond that are folded in extractively
    first); ``max_summary_tokens`` bounds the reply (sent as ``max_tokens``). Keep
    ``max_prompt_tokens * (1 + margin) + max_summary_tokens <= window``: :meth:`for_budget` does.
    """

    def __init__(
        self,
        model_client: ChatCompletionClient,
        counter: TokenCounter,
        max_prompt_tokens: int,
        max_summary_tokens: int,
        *,
        instructions: str = INSTRUCTIONS,
        max_calls: int = 3,
    ) -> None:
        self._client = model_client
        self._counter = counter
        self.max_prompt_tokens = max_prompt_tokens
        self.max_summary_tokens = max_summary_tokens
        self._instructions = instructions
        self.max_calls = max(1, max_calls)
        self.calls = 0

    @classmethod
    def for_budget(
        cls,
        model_client: ChatCompletionClient,
        counter: TokenCounter,
        *,
        budget: int,
        reserve: int,
        safety_margin: float,
        summary_ratio: float,
    ) -> ModelSummarizer:
        """Limits derived from the context settings so that prompt + reply fit the window."""
        reply = max(reserve, int(budget * summary_ratio))
        prompt = math.floor((budget - reply) / (1.0 + safety_margin))
        return cls(model_client, counter, max_prompt_tokens=prompt, max_summary_tokens=int(budget * summary_ratio))

    def _messages(self, previous: str, chunk: Sequence[str], words: int) -> list[LLMMessage]:
        system = SystemMessage(content=self._instructions.format(marker=SUMMARY_REQUEST_MARKER, words=words))
        body = f"Previous summary:\n{previous or '(none)'}\n\nNew messages:\n" + ("\n".join(chunk) or "(none)")
        return [system, UserMessage(content=body, source="user")]

    def _prompt_tokens(self, messages: Sequence[LLMMessage]) -> int:
        return PER_REQUEST + self._counter.count_messages(messages)

    async def summarize(self, previous: str, entries: Sequence[str], *, max_tokens: int) -> str:
        reply = min(max_tokens, self.max_summary_tokens)
        if reply < 8:
            raise SummaryError(f"no room for a summary ({reply} tokens)")
        words = max(10, int(reply * 0.6))
        count = self._counter.count_text
        prev_cap = self.max_prompt_tokens // 3
        if count(previous) > prev_cap:
            previous = self._counter.truncate_text(previous, prev_cap)
        # Room for entries when the previous summary is at its largest (it is replaced after each chunk).
        base = self._prompt_tokens(self._messages("", [], words)) + max(count(previous), reply) + 16
        room = self.max_prompt_tokens - base
        if room < 64:
            raise SummaryError(f"max_prompt_tokens={self.max_prompt_tokens} leaves no room for messages")
        per_entry = max(48, room // 2)
        chunks: list[list[str]] = [[]]
        used = taken = 0
        for entry in reversed(entries):  # newest first: at most max_calls prompts go to the model
            text = self._counter.truncate_text(entry, per_entry) if count(entry) > per_entry else entry
            cost = count(text) + 2
            if chunks[-1] and used + cost > room:
                if len(chunks) == self.max_calls:
                    break
                chunks.append([])
                used = 0
            chunks[-1].append(text)
            used += cost
            taken += 1
        chunks = [chunk[::-1] for chunk in reversed(chunks)]
        older = entries[: len(entries) - taken]
        if older:  # too many to summarize with the model: fold the oldest in extractively
            slot = max(count(previous), reply)
            previous = extractive_summary(self._counter, previous, older, slot)
        summary = previous
        for chunk in chunks:
            summary = await self._call(summary, chunk, words, reply)
        return summary

    async def _call(self, previous: str, chunk: list[str], words: int, reply: int) -> str:
        messages = self._messages(previous, chunk, words)
        while self._prompt_tokens(messages) > self.max_prompt_tokens:  # JSON escaping ran over: cut harder
            if not chunk:
                raise SummaryError("the summarization prompt does not fit max_prompt_tokens")
            longest = max(range(len(chunk)), key=lambda i: len(chunk[i]))
            chunk[longest] = self._counter.truncate_text(chunk[longest], self._counter.count_text(chunk[longest]) // 2)
            if chunk[longest].startswith("[... "):
                chunk.pop(longest)
            messages = self._messages(previous, chunk, words)
        self.calls += 1
        result = await self._client.create(messages, extra_create_args={"max_tokens": reply})
        if not isinstance(result.content, str):
            raise SummaryError("the model answered with tool calls instead of a summary")
        text = clean_summary(result.content)
        if not text:
            raise SummaryError("the model returned an empty summary")
        if self._counter.count_text(text) > reply:
            raise SummaryError(f"the model's summary is longer than {reply} tokens")
        return text
