"""The budget end to end: a long, tool-heavy conversation through the real server fits a 4096 window."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from backend.context import SUMMARY_REQUEST_MARKER
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply
from tests.support.client import UNIT, of_type

pytestmark = pytest.mark.slow

TURNS = 30
FILLER = "The quarterly report covers revenue, churn, hiring and the roadmap for next year. "


def respond(request: RecordedRequest) -> Reply:
    """Summaries for summary prompts; a terminal call for each user turn; a short answer after it."""
    first = str(request.messages[0].get("content"))
    if SUMMARY_REQUEST_MARKER in first:
        keep = "CODEWORD-OSPREY was mentioned first. " if "CODEWORD-OSPREY" in request.text else ""
        return Reply.of_text(keep + "The user reviewed a long report section by section.")
    if request.messages[-1]["role"] == "user":
        return Reply.of_tool_call("run_terminal_command", {"command": "cat report.txt"})
    return Reply.of_text("Read it. The section is consistent with the rest of the report.")


async def test_thirty_tool_turns_never_exceed_the_window(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """No request is rejected by a 4096-token server; summaries are marked; context events stay in budget."""
    fake_model.context_window = 4096
    fake_model.responder = respond
    settings = make_settings()
    (settings.agent_workdir / "report.txt").write_text(FILLER * 90)  # ~1,500 tokens per tool result
    running = await RunningServer(settings).start()
    ws = await running.client()
    try:
        sid = None
        for turn in range(TURNS):
            opener = "CODEWORD-OSPREY. " if turn == 0 else ""
            content = f"{opener}Turn {turn}: please read the report again. " + FILLER * 17  # ~300 tokens
            events = await ws.turn(content, timeout=4 * UNIT, **({"session_id": sid} if sid else {}))
            sid = events[0]["session_id"]
            assert of_type(events, "done")[0]["status"] == "ok", of_type(events, "error")
        rejected = [r for r in fake_model.chat_requests if r.rejected]
        assert rejected == []
        assert all(r.prompt_tokens + 512 <= 4096 for r in fake_model.chat_requests)
        summaries = of_type(ws.seen, "summary")
        assert summaries, "older turns were never folded"
        contexts = of_type(ws.seen, "context")
        assert contexts and all(c["prompt_tokens"] <= 4096 - 512 for c in contexts)
        assert max(c["summarized_messages"] for c in contexts) > 0
        last_turn = [r for r in fake_model.chat_requests if re.search(r"Turn 29:", r.text)][-1]
        assert "CODEWORD-OSPREY" in last_turn.text  # carried forward by the rolling summary
    finally:
        await ws.close()
        await running.stop()
