"""Audit rows for WebSocket commands (AUTH_MODE=keys); HTTP requests are audited by the edge.

A row names the command, never its content: no message text, no answer, no credential.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from ..identity.principal import Principal
from ..store import AuditRow

if TYPE_CHECKING:
    from .app import App

#: commands that change something (reads such as history, sessions, ping are not audited)
AUDITED_COMMANDS = frozenset(
    {"auth", "message", "new", "stop", "answer", "delete", "reset", "rename", "approval", "approval_revoke",
     "sandbox_reset", "todo_add", "todo_complete", "todo_delete", "todo_update", "reminder_add",
     "reminder_cancel"}
)  # fmt: skip
#: error codes → the HTTP status the row records (anything else is 400)
_STATUS = {"unknown_session": 404, "unauthorized": 401, "forbidden": 403, "busy": 429, "rate_limited": 429,
           "internal_error": 500}  # fmt: skip


def status_of(code: str | None) -> int:
    return 200 if code is None else _STATUS.get(code, 400)


async def record_command(
    app: App,
    caller: Principal | None,
    *,
    address: str,
    command: str,
    session_id: str | None,
    code: str | None,
    started: float,
) -> None:
    """One row for one WebSocket command; ``code`` is the error it ended with (None: it worked)."""
    await app.sessions.services.accounts.audit(
        AuditRow(ts=time.time(), request_id=secrets.token_hex(8), tenant=caller.tenant if caller else None,
                 actor=caller.user_id if caller else None, key_id=caller.key_id if caller else None,
                 address=address, action=f"ws {command}", method=None, path=None,
                 session_id=session_id if session_id and len(session_id) <= 100 else None,
                 status=status_of(code), latency_ms=round((time.monotonic() - started) * 1000, 3))
    )  # fmt: skip
