"""Prometheus metrics (``GET /metrics``), derived from the timeline events the sessions emit.

The event hub calls :meth:`SessionMetrics.event` for every event it queues (and every event it
delivers unstored) and :meth:`SessionMetrics.batch_written` for every batch it writes: turns by
status, model tokens, tool calls, errors and the duration histograms all come from those events, so
they count exactly what clients see. The first ``delta`` of a turn gives the time to first token,
computed when the turn's ``done`` arrives (``done.ts - done.duration_ms`` is when the turn started).
Values that are states rather than counts (sessions live and stored, sandboxes running, event-loop
lag) are set at scrape time by :meth:`SessionMetrics.render` from a :class:`Snapshot`.

Each server (``App``) has its own ``CollectorRegistry``: several servers can run in one process.
Deltas are the hot path: a delta costs one dict lookup (and one insert for a turn's first delta).
Coalesced deltas never reach the observer at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

#: what ``/metrics`` answers with: the classic text format every Prometheus reads (our metric names
#: are all legacy-valid, so ``generate_latest``'s output is that format)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: sessions whose first delta is remembered at most (a turn's entry goes with its ``done``)
MAX_OPEN_TURNS = 10_000
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def time_to_first_token(first_delta_ts: float, done_ts: float, duration_ms: float) -> float:
    """Seconds from a turn's start (its ``done`` less its duration) to its first delta, >= 0."""
    started = done_ts - duration_ms / 1000
    return max(0.0, first_delta_ts - started)


def tool_status(body: Mapping[str, Any]) -> str:
    """``ok`` or ``error`` for a ``tool_result`` event."""
    return "error" if body.get("is_error") else "ok"


@dataclass
class Snapshot:
    """Readings taken at scrape time (the face gathers them from the server)."""

    sessions_live: int = 0
    sessions_running: int = 0
    sessions_stored: int = 0
    sandbox_available: bool = False
    sandboxes_running: int = 0
    #: ``LoopLagMonitor.snapshot()``: ``p50_ms``, ``p99_ms``, ``max_ms`` (absent until sampled)
    loop_lag: Mapping[str, float | int] = field(default_factory=dict)


class SessionMetrics:
    """The hub's observer and the owner of one registry of metrics."""

    def __init__(self, *, model: str = "") -> None:
        self.model = model or "unknown"
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.turns = Counter("agentchat_turns", "Turns ended, by status.", ["status"], registry=r)
        self.tokens = Counter(
            "agentchat_model_tokens", "Model tokens as the model server reported them.", ["model", "kind"], registry=r
        )
        self.tool_calls = Counter(
            "agentchat_tool_calls", "Tool calls finished, by tool and status.", ["tool", "status"], registry=r
        )
        self.errors = Counter("agentchat_errors", "Error events, by code.", ["code"], registry=r)
        self.ttft = Histogram(
            "agentchat_time_to_first_token_seconds",
            "From a turn's start to its first streamed delta.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.turn_duration = Histogram(
            "agentchat_turn_duration_seconds", "Turn duration, start to done.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.tool_duration = Histogram(
            "agentchat_tool_duration_seconds", "Tool call duration.", ["tool"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.store_write = Histogram(
            "agentchat_store_write_seconds",
            "Event hub batch writes (one transaction each), by outcome.",
            ["outcome"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.events_stored = Counter("agentchat_events_stored", "Timeline events written by the hub.", registry=r)
        self.sessions_live = Gauge("agentchat_sessions_live", "Sessions loaded in this process.", registry=r)
        self.sessions_running = Gauge("agentchat_sessions_running", "Live sessions running a turn.", registry=r)
        self.sessions_stored = Gauge("agentchat_sessions_stored", "Sessions in the store.", registry=r)
        self.sandbox_available = Gauge(
            "agentchat_sandbox_available", "1 when the sandbox manager is usable.", registry=r
        )
        self.sandboxes_running = Gauge("agentchat_sandboxes_running", "Sandbox containers running.", registry=r)
        self.loop_lag = Gauge(
            "agentchat_event_loop_lag_seconds",
            "How late a 100 ms timer woke up over the last minute.",
            ["stat"],
            registry=r,
        )
        self._prompt = self.tokens.labels(self.model, "prompt")
        self._completion = self.tokens.labels(self.model, "completion")
        self._stored_ok = self.store_write.labels("ok")
        self._stored_failed = self.store_write.labels("failed")
        self._first_delta: dict[str, float] = {}
        self._handlers = {
            "done": self._on_done,
            "tool_result": self._on_tool_result,
            "error": self._on_error,
        }

    # --- the hub's observer -----------------------------------------------------------------------
    def event(self, body: Mapping[str, Any]) -> None:
        """One timeline event (called by the hub for every event it queues or delivers unstored)."""
        kind = body["type"]
        if kind == "delta":
            first = self._first_delta
            session_id = body["session_id"]
            if session_id not in first:
                if len(first) >= MAX_OPEN_TURNS:
                    first.clear()
                first[session_id] = body["ts"]
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(body)

    def batch_written(self, seconds: float, events: int, ok: bool) -> None:
        """One batch write of the hub: its latency, and the events it stored."""
        if ok:
            self._stored_ok.observe(seconds)
            self.events_stored.inc(events)
        else:
            self._stored_failed.observe(seconds)

    def _on_done(self, body: Mapping[str, Any]) -> None:
        first = self._first_delta.pop(body["session_id"], None)
        if body.get("restated"):  # the end of a turn already counted when it was delivered unstored
            return
        self.turns.labels(str(body.get("status", "error"))).inc()
        usage = body.get("usage") or {}
        self._prompt.inc(max(0, int(usage.get("prompt_tokens") or 0)))
        self._completion.inc(max(0, int(usage.get("completion_tokens") or 0)))
        duration_ms = body.get("duration_ms")
        if isinstance(duration_ms, int | float):
            self.turn_duration.observe(max(0.0, duration_ms / 1000))
            if first is not None:
                self.ttft.observe(time_to_first_token(first, float(body["ts"]), duration_ms))

    def _on_tool_result(self, body: Mapping[str, Any]) -> None:
        tool = str(body.get("name") or "unknown")
        self.tool_calls.labels(tool, tool_status(body)).inc()
        duration_ms = body.get("duration_ms")
        if isinstance(duration_ms, int | float):
            self.tool_duration.labels(tool).observe(max(0.0, duration_ms / 1000))

    def _on_error(self, body: Mapping[str, Any]) -> None:
        self.errors.labels(str(body.get("code") or "unknown")).inc()

    # --- scraping ---------------------------------------------------------------------------------
    def render(self, snapshot: Snapshot) -> bytes:
        """The text exposition of every metric, with the scrape-time readings set first."""
        self.sessions_live.set(snapshot.sessions_live)
        self.sessions_running.set(snapshot.sessions_running)
        self.sessions_stored.set(snapshot.sessions_stored)
        self.sandbox_available.set(1 if snapshot.sandbox_available else 0)
        self.sandboxes_running.set(snapshot.sandboxes_running)
        for stat in ("p50", "p99", "max"):
            value = snapshot.loop_lag.get(f"{stat}_ms")
            if value is not None:
                self.loop_lag.labels(stat).set(float(value) / 1000)
        return generate_latest(self.registry)
