"""One turn against a running server, printing the reply as it streams.

    python tests/quick_test.py                       # ws://127.0.0.1:8765/, "who are you?"
    python tests/quick_test.py --url ws://host:8765/ "Write a haiku about sockets"

Exits 0 when the turn ends with done{status:"ok"}. Needs only the ``websockets`` package.
Under pytest, the test at the bottom runs the same code against a real server on port 0.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from typing import Any, TextIO

from websockets.asyncio.client import connect

DEFAULT_URL = "ws://127.0.0.1:8765/"


async def run(url: str, message: str, out: TextIO = sys.stdout, timeout: float = 120.0) -> dict[str, Any]:
    """Send one message, stream deltas to ``out``, return session id, response and status."""
    result: dict[str, Any] = {"session_id": None, "response": None, "status": None, "errors": []}
    async with connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "message", "content": message}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            kind = event["type"]
            if kind == "session":
                result["session_id"] = event["session_id"]
            elif kind == "delta":
                out.write(event["content"])
                out.flush()
            elif kind == "tool_call":
                out.write(f"\n[tool {event['name']} {json.dumps(event['arguments'], ensure_ascii=False)}]\n")
            elif kind == "response":
                result["response"] = event["content"]
            elif kind == "error":
                result["errors"].append(event)
                out.write(f"\n[error {event['code']}: {event['message']}]\n")
            elif kind == "done":
                result["status"] = event["status"]
                out.write("\n")
                return result


def main() -> int:
    parser = argparse.ArgumentParser(description="Send one message and print the streamed reply.")
    parser.add_argument("message", nargs="?", default="who are you?")
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.message))
    print(f"session {result['session_id']}: {result['status']}", file=sys.stderr)
    return 0 if result["status"] == "ok" else 1


async def test_quick_test_against_a_real_server(server: Any) -> None:
    """The script's code streams a reply from a real server and reports ok."""
    out = io.StringIO()
    result = await run(server.url, "quick check", out=out)
    assert result["status"] == "ok"
    assert out.getvalue().strip() == result["response"] == "echo: quick check"


if __name__ == "__main__":
    sys.exit(main())
