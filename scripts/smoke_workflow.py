#!/usr/bin/env python3
"""No-key workflow smoke test (like the agent platform's ``smoke_runtime_no_key.py``).

Against a running server::

    .venv/bin/python scripts/smoke_workflow.py http://127.0.0.1:8765

or start a throwaway server on a temporary data dir (no model is ever called: these workflows have
no llm or agent node, and the server is pointed at an unused loopback port)::

    .venv/bin/python scripts/smoke_workflow.py --spawn

It saves the platform's examples over HTTP (assigner -> if-else -> template, and a retriever),
runs them, waits for each run to end and checks the documented results. ``AUTH_TOKEN`` in the
environment is sent as a bearer token. Exit 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflows.examples import RETRIEVAL, SCORE_CHECK  # noqa: E402

WAIT_SECONDS = 30.0


def check(condition: bool, message: str) -> None:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        raise SystemExit(1)


def run(http: httpx.Client, example: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    saved = http.post("/v1/workflows", json=example)
    check(saved.status_code in (200, 201), f"POST /v1/workflows {example['name']} -> {saved.status_code}")
    workflow_id = saved.json()["id"]
    started = http.post(f"/v1/workflows/{workflow_id}/runs", json={"inputs": inputs})
    check(started.status_code == 201, f"POST /v1/workflows/{workflow_id}/runs -> {started.status_code}")
    run_id = started.json()["id"]
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        doc: dict[str, Any] = http.get(f"/v1/runs/{run_id}").json()
        if doc["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


def smoke(base_url: str) -> None:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("AUTH_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['AUTH_TOKEN']}"
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
        doc = run(http, SCORE_CHECK, {})
        nodes = {n["node_id"]: n for n in doc["node_runs"]}
        check(doc["status"] == "completed", f"score-check run {doc['id']} completed")
        check(
            nodes["high-path"]["output_text"] == "Alice passed with score 7", "high-path: 'Alice passed with score 7'"
        )
        check(nodes["low-path"]["status"] == "skipped", "low-path: skipped")
        doc = run(http, RETRIEVAL, {})
        nodes = {n["node_id"]: n for n in doc["node_runs"]}
        first = nodes["retrieve-docs"]["output_json"]["retrieved_documents"][0]["title"]
        check(doc["status"] == "completed" and first == "Refund Policy", "retriever: 'Refund Policy' first")
        check(nodes["render-answer"]["output_text"] == "Top doc: Refund Policy", "template: 'Top doc: Refund Policy'")
        artifacts = http.get(f"/v1/runs/{doc['id']}/artifacts")
        check(artifacts.status_code == 200, "GET /v1/runs/{id}/artifacts")
    print("workflow smoke test passed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_and_smoke() -> None:
    with tempfile.TemporaryDirectory(prefix="smoke-workflow-") as data:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DATA_DIR": data,
            "HOST": "127.0.0.1",
            "PORT": "0",
            "LLM_EMBEDDED": "0",
            "LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # never called by these workflows
            "LLM_MODEL": "none",
            "SANDBOX_ENABLED": "0",
            "LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen([sys.executable, "-m", "backend"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            url = ""
            for line in proc.stdout:
                if line.startswith("{") and json.loads(line).get("event") == "listening":
                    url = json.loads(line)["url"].rstrip("/")
                    break
            check(bool(url), "server started")
            smoke(url)
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8765", help="the server (default %(default)s)")
    parser.add_argument("--spawn", action="store_true", help="start a throwaway server instead")
    args = parser.parse_args()
    if args.spawn:
        spawn_and_smoke()
    else:
        smoke(args.url)


if __name__ == "__main__":
    main()
