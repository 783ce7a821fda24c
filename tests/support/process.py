"""Run the real server as a child process (for kill -9 and signal tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0
        self.log = Path(env["DATA_DIR"]) / "server-process.log"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        Path(self.env["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **self.env}
        with self.log.open("a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "backend"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    self.proc.stdout.close()  # no descriptor left for a later test to trip over
                    raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
                continue
            if line.startswith("{"):
                info = json.loads(line)
                if info.get("event") == "listening":
                    self.url = info["url"]
                    self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
                    return self
        raise TimeoutError(f"server did not start: {self.log.read_text()[-2000:]}")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self._close_pipe()
        return code

    def _close_pipe(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_pipe()
