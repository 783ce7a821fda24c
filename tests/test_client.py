"""A multi-turn client: two turns in one session, a resume from another socket, then cleanup.

    python tests/test_client.py [--url ws://127.0.0.1:8765/] [--keep]

Exits 0 when every step works. Needs only the ``websockets`` package. Under pytest, the test at
the bottom runs the same steps against a real server on port 0.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect

DEFAULT_URL = "ws://127.0.0.1:8765/"


async def _until(ws: ClientConnection, kind: str, timeout: float) -> list[dict[str, Any]]:
    events = []
    while True:
        events.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
        if events[-1]["type"] == kind:
            return events


async def _turn(ws: ClientConnection, content: str, session_id: str | None, timeout: float) -> list[dict[str, Any]]:
    frame: dict[str, Any] = {"type": "message", "content": content}
    if session_id:
        frame["session_id"] = session_id
    await ws.send(json.dumps(frame))
    return await _until(ws, "done", timeout)


async def run(url: str, out: TextIO = sys.stdout, *, keep: bool = False, timeout: float = 120.0) -> dict[str, Any]:
    report: dict[str, Any] = {}
    async with connect(url, open_timeout=10) as ws:
        first = await _turn(ws, "Hello! My name is Ada.", None, timeout)
        sid = next(e["session_id"] for e in first if e["type"] == "session")
        second = await _turn(ws, "What is my name?", sid, timeout)
        for i, events in enumerate((first, second), 1):
            reply = next((e["content"] for e in events if e["type"] == "response"), "")
            status = events[-1]["status"]
            out.write(f"turn {i} [{status}]: {reply}\n")
        report.update(session_id=sid, statuses=[first[-1]["status"], second[-1]["status"]])
        timeline = [e["seq"] for e in first + second if e.get("seq") is not None]
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "resume", "session_id": sid, "last_seq": 0}))
        replay = [e["seq"] for e in await _until(ws, "resumed", timeout) if e.get("seq") is not None]
        report["resume_matches"] = replay == timeline
        out.write(f"resume: {len(replay)} events replayed, identical: {report['resume_matches']}\n")
        if not keep:
            await ws.send(json.dumps({"type": "delete", "session_id": sid}))
            await _until(ws, "deleted", timeout)
            out.write(f"deleted session {sid}\n")
    report["deleted"] = not keep
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description="Multi-turn, resume and cleanup against a running server.")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="do not delete the session at the end")
    args = parser.parse_args()
    report = asyncio.run(run(args.url, keep=args.keep))
    ok = report["statuses"] == ["ok", "ok"] and report["resume_matches"]
    return 0 if ok else 1


async def test_client_script_against_a_real_server(server: Any) -> None:
    """Two turns, an identical replay on resume, and cleanup, through the script's own code."""
    out = io.StringIO()
    report = await run(server.url, out=out)
    assert report["statuses"] == ["ok", "ok"]
    assert report["resume_matches"] is True and report["deleted"] is True
    assert "echo: What is my name?" in out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
