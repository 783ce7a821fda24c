"""Smoke test of the benchmark suite (scripts/bench.py): tiny settings, checks the shape of its JSON only.

No timed assertions: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCENARIO_KEYS = {
    "latency": {"added_p50_ms", "added_p99_ms", "direct_p50_ms", "gateway_p99_ms", "repeats"},
    "ttft": {"added_cold_p50_ms", "added_cold_p99_ms", "added_warm_p50_ms", "direct_p50_ms", "repeats"},
    "saturation": {"gateway_tokens_per_s", "gateway_cpu_us_per_token", "tokens_per_core_s", "lost", "repeats"},
    "paced": set(),
    "idle": {"kib_per_session_attached", "kib_per_session_with_team", "sessions"},
    "restore": {"resume_p99_ms", "first_delta_p50_ms", "team_ready_in_process", "repeats"},
    "context": {"context_step", "loop_lag"},
    "cluster": {"per_token", "throughput", "takeover"},
    "openai": {"openai_added_p50_ms", "ws_added_p50_ms", "openai_cpu_us_per_token", "openai_lost"},
    "tail": {"nagle_response_p50_ms", "nodelay_response_p50_ms", "nagle_gateway_p50_ms", "nodelay_direct_p50_ms"},
    "burst": {
        "stall_max_ms",
        "stall_p99_ms",
        "background_added_p99_ms",
        "background_lost",
        "burst_ttft_p50_ms",
        "burst_ttft_p99_ms",
        "burst_ttft_max_ms",
        "burst_errors",
        "idle",
        "repeats",
    },
}


@pytest.mark.slow
@pytest.mark.postgres  # the cluster scenario starts its own PostgreSQL
def test_bench_script_writes_json_with_every_scenario(tmp_path: Path) -> None:
    """bench.py on 2 sessions, a few tokens and 1 repeat writes a JSON with every scenario's keys."""
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--repeats", "1", "--sessions", "2",
         "--tokens", "10", "--out", str(out), "--no-docs"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((out / "latest.json").read_text())
    assert {"meta", "calibration", "scenarios", "targets"} <= data.keys()
    assert {"rtt_us", "round_trips_per_s", "cpu_loop_ms"} <= data["calibration"].keys()
    assert {"machine", "pinning", "loadavg_start", "loadavg_end", "config"} <= data["meta"].keys()
    scenarios = data["scenarios"]
    for name, keys in SCENARIO_KEYS.items():
        assert "error" not in scenarios[name], scenarios[name].get("traceback")
        assert keys <= scenarios[name].keys(), name
    paced = {key: run for key, run in scenarios["paced"].items() if not key.startswith("_")}  # "_run": provenance
    assert len(paced) == 2
    for run in paced.values():
        assert {"delivered_over_offered", "added_p99_ms", "lost", "gateway_cpu_us_per_token"} <= run.keys()
    assert scenarios["saturation"]["lost"]["max"] == 0  # every token arrives, counted by content
    assert scenarios["openai"]["openai_lost"]["max"] == 0  # the OpenAI face delivers every token too
    assert [row["messages"] for row in scenarios["context"]["context_step"]] == [40, 160, 320, 640]
    burst = scenarios["burst"]["repeats"][0]
    assert {"background_only", "burst", "after_burst"} <= burst["phases"].keys()
    assert burst["burst"]["turns"] == 2 and burst["burst"]["errors"] == 0  # 1 restored + 1 new session
    assert burst["background"]["lost"] == 0 and burst["background"]["tokens"] > 0
    assert any(t["target"].endswith("simultaneous first turns: worst ping delay over idle") for t in data["targets"])
    assert all({"target", "value", "limit", "met"} <= t.keys() for t in data["targets"])
    assert list(out.glob("bench-*.json"))


@pytest.mark.slow
def test_ttft_profile_records_the_first_token_path_stage_by_stage(tmp_path: Path) -> None:
    """--profile on ttft runs the stage profiler in the gateway: every stage from the frame to the delta."""
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--only", "ttft", "--profile", "--repeats", "1",
         "--sessions", "2", "--tokens", "10", "--out", str(out), "--no-docs"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stages = json.loads((out / "latest.json").read_text())["scenarios"]["ttft"]["stages"]
    for label in ("warm", "cold"):
        names = [row["stage"] for row in stages[label]]
        assert names[0] == "message frame received"
        expected = ("user_message stored and acknowledged", "SDK: request built", "response headers received",
                    "first delta delivered to the connection", "tail: `done` delivered to the connection")  # fmt: skip
        for stage in expected:
            assert stage in names, (label, stage, names)
        assert names.index("SDK: request built") < names.index("first delta delivered to the connection")
