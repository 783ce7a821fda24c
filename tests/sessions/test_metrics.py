"""The pure parts of sessions/metrics.py: metrics derived from timeline events, without a server."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from backend.sessions.metrics import SessionMetrics, Snapshot, time_to_first_token


def samples(metrics: SessionMetrics, snapshot: Snapshot | None = None) -> dict[tuple[str, frozenset[Any]], float]:
    text = metrics.render(snapshot or Snapshot()).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def ev(kind: str, ts: float, sid: str = "s1", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "session_id": sid, "seq": 1, "ts": ts, **fields}


def test_time_to_first_token_counts_from_the_turn_start() -> None:
    """TTFT is the first delta's time less (done.ts - duration), never negative."""
    assert time_to_first_token(101.5, 110.0, 10_000) == 1.5
    assert time_to_first_token(99.0, 110.0, 10_000) == 0.0


def test_events_become_counters_and_histograms() -> None:
    """done/tool_result/error events move turns, tokens, tools and errors; TTFT uses the first delta only."""
    m = SessionMetrics(model="m1")
    m.event(ev("delta", 100.25, agent="a", content="x"))
    m.event(ev("delta", 100.9, agent="b", content="y"))
    m.event(ev("tool_result", 101.0, name="add_todo", is_error=False, duration_ms=30))
    m.event(ev("tool_result", 101.1, name="add_todo", is_error=True, duration_ms=5))
    m.event(ev("error", 101.2, code="model_error", message="boom"))
    usage = {"prompt_tokens": 70, "completion_tokens": 9, "reported": True}
    m.event(ev("done", 102.0, status="ok", usage=usage, duration_ms=2000))
    got = samples(m)
    assert got[("agentchat_turns_total", frozenset({("status", "ok")}))] == 1
    assert got[("agentchat_model_tokens_total", frozenset({("model", "m1"), ("kind", "prompt")}))] == 70
    assert got[("agentchat_model_tokens_total", frozenset({("model", "m1"), ("kind", "completion")}))] == 9
    assert got[("agentchat_tool_calls_total", frozenset({("tool", "add_todo"), ("status", "ok")}))] == 1
    assert got[("agentchat_tool_calls_total", frozenset({("tool", "add_todo"), ("status", "error")}))] == 1
    assert got[("agentchat_errors_total", frozenset({("code", "model_error")}))] == 1
    assert got[("agentchat_time_to_first_token_seconds_sum", frozenset())] == 0.25
    assert got[("agentchat_turn_duration_seconds_sum", frozenset())] == 2.0


def test_a_restated_done_is_not_counted_twice_and_interrupted_turns_count() -> None:
    """A done restated after a store outage is not a second turn; a recovered (no duration) turn counts once."""
    m = SessionMetrics()
    m.event(ev("done", 5.0, status="error", usage={}, duration_ms=10, stored=False))
    m.event(ev("done", 9.0, status="error", usage={}, duration_ms=10, restated=True))
    m.event(ev("done", 9.5, sid="s2", status="error", usage={}, interrupted=True))
    got = samples(m)
    assert got[("agentchat_turns_total", frozenset({("status", "error")}))] == 2
    assert got[("agentchat_turn_duration_seconds_count", frozenset())] == 1
    assert got[("agentchat_time_to_first_token_seconds_count", frozenset())] == 0


def test_scrape_time_readings_and_batch_writes() -> None:
    """render() sets sessions, sandboxes and loop lag from the snapshot; batch writes fill the store histogram."""
    m = SessionMetrics()
    m.batch_written(0.002, 5, True)
    m.batch_written(0.5, 0, False)
    lag = {"samples": 4, "p50_ms": 1.0, "p99_ms": 20.0, "max_ms": 40.0}
    snap = Snapshot(
        sessions_live=2,
        sessions_running=1,
        sessions_stored=7,
        sandbox_available=True,
        sandboxes_running=3,
        loop_lag=lag,
    )
    got = samples(m, snap)
    assert got[("agentchat_sessions_stored", frozenset())] == 7
    assert got[("agentchat_sessions_live", frozenset())] == 2
    assert got[("agentchat_sandboxes_running", frozenset())] == 3
    assert got[("agentchat_event_loop_lag_seconds", frozenset({("stat", "p99")}))] == 0.02
    assert got[("agentchat_events_stored_total", frozenset())] == 5
    assert got[("agentchat_store_write_seconds_count", frozenset({("outcome", "failed")}))] == 1
