"""Start and stop the processes a scenario needs: the fake model, the gateway, small helpers.

Each prints one JSON line with ``"event": "listening"`` on stdout when it is ready. Processes are
pinned (see :class:`~benchsuite.common.Pinning`) and inherit the raised fd limit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, REPO, SCRIPTS, Pinning, cpu_seconds, rss_bytes

SECRET_VARS = ("OPENAI_API_KEY", "OPENAI_KEY", "OPENROUTER_API_KEY", "LLM_API_KEY", "LOCAL_MODEL_BASE_URL")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    # a wrapper module put first on the path: experiments, or the ttft stage profiler (benchsuite/stages)
    extra_path = (extra or {}).get("BENCH_EXTRA_PYTHONPATH") or os.environ.get("BENCH_EXTRA_PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([*([extra_path] if extra_path else []), str(SCRIPTS), str(REPO)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


class Proc:
    """A child process that announces readiness with a JSON line on stdout."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        pinning: Pinning,
        role: str,
        env: dict[str, str] | None = None,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        preexec = None
        if pinning.enabled and pinning.method == "sched_setaffinity":
            core = pinning.gateway_core if role == "gateway" else pinning.other_core

            def preexec() -> None:
                os.sched_setaffinity(0, {core})

        self.popen = subprocess.Popen(
            [*pinning.prefix(role), *argv],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env=_env(env),
            preexec_fn=preexec,  # noqa: PLW1509 - the parent is single-threaded here
        )
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        fd = self.popen.stdout.fileno()
        while time.monotonic() < deadline:
            exited = self.popen.poll() is not None
            ready, _, _ = select.select([fd], [], [], 0 if exited else 0.2)
            chunk = os.read(fd, 65536) if ready else b""
            if exited and not chunk and b"\n" not in buffer:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("event") == "listening":
                    self.ready = data
                    return data
        raise TimeoutError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()
        return self.popen.returncode


def start_fake_model(pinning: Pinning, log_dir: Path) -> tuple[Proc, str]:
    proc = Proc("fakemodel", [str(PYTHON), "-m", "benchsuite.fakemodel", "--port", "0"],
                pinning=pinning, role="other", log_dir=log_dir)  # fmt: skip
    port = proc.wait_ready(30)["port"]
    return proc, f"http://127.0.0.1:{port}/v1"


def start_gateway(
    pinning: Pinning,
    log_dir: Path,
    model_url: str,
    *,
    data_dir: Path | None = None,
    profile_to: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[Proc, str, Path]:
    """``python -m backend`` on a fresh (or given) data dir; returns (process, ws url, data dir)."""
    data = data_dir or Path(tempfile.mkdtemp(prefix="bench-gw-", dir=log_dir))
    env = {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATA_DIR": str(data),
        "LLM_BASE_URL": model_url,
        "LLM_MODEL": "fake-model",
        "TEAM": "solo",
        "LLM_EMBEDDED": "0",
        "SANDBOX_ENABLED": "0",
        "LLM_FUNCTION_CALLING": "1",
        "RATE_LIMIT_MESSAGES": "100000",
        "LOG_LEVEL": "WARNING",
        "MAX_QUEUED_MESSAGES": "1000",
        "MAX_CONNECTIONS": "20000",  # the idle scenario holds 5,000 WebSockets (the default cap is 1,024)
        **(extra_env or {}),
    }
    module = os.environ.get("BENCH_GATEWAY_MODULE", "backend")  # experiments: a patched entry point
    if profile_to is not None:
        argv = [str(PYTHON), "-m", "pyinstrument", "-r", "text", "--show-all", "-o", str(profile_to), "-m", module]
    else:
        argv = [str(PYTHON), "-m", module]
    proc = Proc("gateway", argv, pinning=pinning, role="gateway", env=env, log_dir=log_dir)
    url = proc.wait_ready(90)["url"].replace("http://", "ws://")
    return proc, url, data


def start_helper(module: str, args: list[str], pinning: Pinning, log_dir: Path, name: str) -> Proc:
    return Proc(name, [str(PYTHON), "-m", module, *args], pinning=pinning, role="other", log_dir=log_dir)
