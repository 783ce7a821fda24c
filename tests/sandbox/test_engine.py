"""Pure helpers of the engine module: process-table reading, stats, error wording (no engine needed)."""

from __future__ import annotations

from backend.sandbox import config, engine

TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
KEEPALIVE = " ".join(config.KEEPALIVE)


def _row(pid: str, ppid: str, cmd: str) -> list[str]:
    return ["1000", pid, ppid, "0", "00:00", "?", "00:00:00", cmd]


def test_an_idle_container_has_no_leftovers() -> None:
    """docker-init and the keep-alive are the container's own processes."""
    top = {
        "Titles": TITLES,
        "Processes": [_row("10", "5", "/sbin/docker-init -- " + KEEPALIVE), _row("11", "10", KEEPALIVE)],
    }
    assert engine.leftover_pids(top) == []


def test_orphans_and_background_processes_are_leftovers() -> None:
    """Anything else is a leftover, even a look-alike of the keep-alive that init did not start."""
    top = {
        "Titles": TITLES,
        "Processes": [
            _row("10", "5", "/sbin/docker-init -- " + KEEPALIVE),
            _row("11", "10", KEEPALIVE),
            _row("12", "10", "sleep 3600"),
            _row("13", "12", KEEPALIVE),
            _row("14", "10", "[sh] <defunct>"),
        ],
    }
    assert engine.leftover_pids(top) == ["12", "13"]


def test_unknown_top_format_reports_nothing() -> None:
    """A runtime whose process table lacks the expected columns is not swept blindly."""
    assert engine.leftover_pids({"Titles": ["PID", "COMMAND"], "Processes": [["1", "x"]]}) == []


def test_stats_summary_computes_cpu_and_memory_without_cache() -> None:
    """CPU % from the two samples; page cache is not counted as memory use."""
    raw = {
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 5000, "limit": 10000, "stats": {"cache": 1000}},
        "pids_stats": {"current": 3},
    }
    assert engine.summarize_stats(raw) == {
        "cpu_percent": 40.0,
        "memory_usage": 4000,
        "memory_limit": 10000,
        "pids": 3,
    }


def test_connection_errors_are_worded_briefly() -> None:
    """urllib3's nested reprs become a short cause."""
    error = ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")
    assert engine.describe_error(error) == "no such socket"
    assert engine.describe_error(OSError("[Errno 111] Connection refused")) == "connection refused"
