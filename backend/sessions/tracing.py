"""One turn's span tree, built from what the session already sees (pure: every time is passed in).

A :class:`TurnTrace` lives as long as its turn, in memory. The session feeds it the model calls
(``on_result``: tokens and duration), the first delta of each call (time to first token), and the
timeline events it emits (``tool_call``/``tool_result``, ``summary`` folds, ``handoff``,
``question``/``question_closed`` waits). At the turn's end :meth:`TurnTrace.finish` returns the spans, which
are written in the same transaction as the ``done`` (nothing is written on the token path), and
:meth:`TurnTrace.summary` is the ``trace`` field of that ``done``.

Span fields follow the agent platform's: ``span_id``, ``parent_id``, ``span_type`` (turn, model,
tool, context, wait, handoff), ``name``, ``status``, ``started_at``/``ended_at`` (epoch seconds),
``duration_ms``, ``attributes``, ``error_code``, ``error_message``. Tool arguments are truncated and
secrets redacted before they are kept.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..store import SpanRow

ARGUMENT_CHARS = 500
#: argument names whose values are never kept
SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential)", re.I)
#: values that look like credentials wherever they appear
SECRET_VALUES = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|ac_[A-Za-z0-9_-]{16,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,})")


def redact(arguments: Any, limit: int = ARGUMENT_CHARS) -> str:
    """Tool arguments as kept in a span: secret-named fields and credential-like values replaced,
    then cut to ``limit`` characters."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "[redacted]" if SECRET_KEYS.search(str(k)) else clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return SECRET_VALUES.sub("[redacted]", value)
        return value

    text = json.dumps(clean(arguments), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class _Open:
    span: dict[str, Any]
    started: float  # monotonic


@dataclass
class TurnTrace:
    """The spans of one turn. ``wall0``/``mono0``: the same instant on both clocks."""

    turn: int
    wall0: float
    mono0: float
    model: str = ""
    root_id: str = field(default_factory=_id)
    spans: list[dict[str, Any]] = field(default_factory=list)
    _tools: dict[str, _Open] = field(default_factory=dict)
    _waits: dict[str, _Open] = field(default_factory=dict)
    #: monotonic time of the first delta of each agent's current model call
    _first_delta: dict[str, float] = field(default_factory=dict)

    def _wall(self, mono: float) -> float:
        return self.wall0 + (mono - self.mono0)

    def _add(self, span_type: str, name: str, start: float, end: float, attributes: dict[str, Any], *,
             status: str = "ok", error_code: str | None = None, error_message: str | None = None,
             span_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        span = {
            "span_id": span_id or _id(), "parent_id": self.root_id, "span_type": span_type, "name": name,
            "status": status, "started_at": round(self._wall(start), 6), "ended_at": round(self._wall(end), 6),
            "duration_ms": round(max(0.0, end - start) * 1000, 3), "attributes": attributes,
            "error_code": error_code, "error_message": error_message,
        }  # fmt: skip
        self.spans.append(span)
        return span

    # --- the token path: O(1) ----------------------------------------------------------------------
    def delta(self, agent: str, now: float) -> None:
        if agent not in self._first_delta:
            self._first_delta[agent] = now

    # --- model calls ---------------------------------------------------------------------------------
    def model_call(self, agent: str, prompt: int, completion: int, seconds: float, now: float, *,
                   reported: bool = True, finish_reason: str | None = None) -> None:  # fmt: skip
        start = now - seconds
        first = self._first_delta.pop(agent, None)
        attributes: dict[str, Any] = {
            "agent": agent, "model": self.model, "prompt_tokens": prompt, "completion_tokens": completion,
            "usage_reported": reported,
            "ttft_ms": round((first - start) * 1000, 3) if first is not None and first >= start else None,
        }  # fmt: skip
        if finish_reason is not None:
            attributes["finish_reason"] = finish_reason
        self._add("model", f"chat {self.model}".strip(), start, now, attributes)

    # --- events the session emits --------------------------------------------------------------------
    def event(self, kind: str, fields: dict[str, Any], now: float) -> None:
        if kind == "tool_call":
            call_id = str(fields.get("id"))
            span = {"name": str(fields.get("name", "")), "agent": fields.get("agent"),
                    "arguments": redact(fields.get("arguments"))}  # fmt: skip
            self._tools[call_id] = _Open(span, now)
        elif kind == "tool_result":
            call_id = str(fields.get("id"))
            opened = self._tools.pop(call_id, None)
            start = opened.started if opened is not None else now
            measured = fields.get("duration_ms")
            if isinstance(measured, int | float):  # the tool's own timing, when the runner had it
                start = now - float(measured) / 1000
            info = (
                opened.span
                if opened is not None
                else {"name": str(fields.get("name", "")), "agent": fields.get("agent")}
            )
            content = fields.get("content")
            attributes = {"tool": info["name"], "agent": info.get("agent"), "call_id": call_id,
                          "arguments": info.get("arguments"), "result_chars": len(str(content or ""))}  # fmt: skip
            error = bool(fields.get("is_error"))
            self._add("tool", str(info["name"]), start, now, attributes, status="error" if error else "ok",
                      error_code="tool_error" if error else None,
                      error_message=str(content)[:300] if error else None)  # fmt: skip
        elif kind == "summary":
            attributes = {"agent": fields.get("agent"), "folded_messages": fields.get("folded"),
                          "summarized_messages": fields.get("summarized_messages"),
                          "summary_tokens": fields.get("summary_tokens")}  # fmt: skip
            self._add("context", "fold", now, now, attributes)
        elif kind == "context":
            # the model call that follows reports its own tokens; keep our estimate beside them
            pass
        elif kind == "handoff":
            attributes = {"agent": fields.get("agent"), "target": fields.get("target")}
            self._add("handoff", f"{fields.get('agent')} → {fields.get('target')}", now, now, attributes)
        elif kind == "question":
            qid = str(fields.get("question_id"))
            self._waits[qid] = _Open({"question_id": qid, "agent": fields.get("agent")}, now)
        elif kind == "question_closed":
            opened = self._waits.pop(str(fields.get("question_id")), None)
            if opened is not None:
                closed = str(fields.get("status") or "closed")
                attributes = {**opened.span, "closed": closed}
                status = "ok" if closed == "answered" else "cancelled"
                self._add("wait", "question", opened.started, now, attributes, status=status)

    # --- the end -------------------------------------------------------------------------------------
    def finish(self, status: str, now: float, *, usage: dict[str, int], error: tuple[str, str] | None = None,
               kind: str = "model") -> list[SpanRow]:  # fmt: skip
        """Close what is still open (as cancelled) and return every span, the turn's first."""
        for call_id, opened in list(self._tools.items()):
            self._add("tool", str(opened.span["name"]), opened.started, now,
                      {"tool": opened.span["name"], "call_id": call_id, "arguments": opened.span.get("arguments")},
                      status="cancelled")  # fmt: skip
        for opened in self._waits.values():
            self._add("wait", "question", opened.started, now, opened.span, status="cancelled")
        self._tools.clear()
        self._waits.clear()
        root: dict[str, Any] = {
            "span_id": self.root_id, "parent_id": None, "span_type": "turn", "name": f"turn {self.turn}",
            "status": status, "started_at": round(self.wall0, 6), "ended_at": round(self._wall(now), 6),
            "duration_ms": round(max(0.0, now - self.mono0) * 1000, 3),
            "attributes": {"turn": self.turn, "kind": kind, "model": self.model, **usage},
            "error_code": error[0] if error else None, "error_message": error[1][:300] if error else None,
        }  # fmt: skip
        return [SpanRow(**root), *(SpanRow(**s) for s in self.spans)]

    def summary(self, spans: list[SpanRow]) -> dict[str, Any]:
        """The ``trace`` field of the turn's ``done``: where to read it, and the headline numbers."""
        models = [s for s in spans if s.span_type == "model"]
        tools = [s for s in spans if s.span_type == "tool"]
        ttfts = [s.attributes.get("ttft_ms") for s in models if s.attributes.get("ttft_ms") is not None]
        return {
            "turn": self.turn,
            "spans": len(spans),
            "model_calls": len(models),
            "tool_calls": len(tools),
            "folds": sum(1 for s in spans if s.span_type == "context"),
            "ttft_ms": ttfts[0] if ttfts else None,
            "model_ms": round(sum(s.duration_ms for s in models), 3),
            "tool_ms": round(sum(s.duration_ms for s in tools), 3),
        }
