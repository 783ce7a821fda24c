"""Human approval of tool calls: one gate every tool call of a session passes before it runs.

The policy (``tools/approval_policy.py``) says whether a call asks. A call that asks is stored
(``approvals``), announced as ``approval_request`` and waits for the first decision from any
client (``approval`` frame or ``POST /v1/sessions/{id}/approvals/{approval_id}``): ``allow``,
``allow_always`` (a grant for the session and that tool — for the terminal, that program — listed
in the session state and revocable) or ``deny``. A second decision is refused (``approval_closed``).
No decision within ``APPROVAL_TIMEOUT`` is a deny; ``stop`` denies what is pending. A denial reaches
the model as the tool's result (``denied by the user: <note>``), never as an exception. A shutdown
keeps the approval pending (re-sent on resume); decided after a restart, the decision is recorded
and reaches the team as a context note (the call it was for ended with the interrupted turn).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import AgentChatError
from ..store import ApprovalRow, Store
from ..tools.approval_policy import assess

logger = logging.getLogger(__name__)

Emit = Callable[..., Any]
DECISIONS = ("allow", "allow_always", "deny")


def denial_text(note: str | None) -> str:
    return f"denied by the user: {note.strip() if note and note.strip() else 'no reason given'}"


class ApprovalBroker:
    def __init__(
        self,
        session_id: str,
        store: Store,
        emit: Emit,
        *,
        timeout: float,
        policy: str,
        overrides: Mapping[str, str],
        groups: Mapping[str, str],
    ) -> None:
        self._session_id = session_id
        self._store = store
        self._emit = emit
        self._timeout = timeout
        self._policy = policy
        self._overrides = dict(overrides)
        self._groups = dict(groups)
        self._waiting: dict[str, asyncio.Future[tuple[str, str | None]]] = {}
        self._detached = False

    # --- the gate (called by every tool) ---------------------------------------------------------------
    async def check(self, agent: str, tool: str, arguments: dict[str, Any]) -> str | None:
        """None: run the call. A string: the call was denied; that is the tool's result."""
        policy = self._overrides.get(tool, self._policy)
        assessment = assess(tool, self._groups.get(tool), arguments, policy)
        if not assessment.ask:
            return None
        if assessment.key in await self._store.approvals.grants(self._session_id):
            return None
        now = time.time()
        row = ApprovalRow(
            id=uuid.uuid4().hex[:12], session_id=self._session_id, agent=agent, tool=tool, arguments=arguments,
            risk=assessment.risk, reason=assessment.reason, grant_key=assessment.key, status="pending",
            decided_by=None, note=None, created_at=now, expires_at=now + self._timeout,
        )  # fmt: skip
        await self._store.approvals.add(row)
        future: asyncio.Future[tuple[str, str | None]] = asyncio.get_running_loop().create_future()
        self._waiting[row.id] = future
        self._emit("approval_request", **row.to_event(), timeout_s=self._timeout)
        try:
            try:
                decision, note = await asyncio.wait_for(future, self._timeout)
            except TimeoutError:
                await self._close(row.id, "expired", "timeout", f"no decision within {self._timeout:g} s")
                return denial_text(f"no decision within {self._timeout:g} s")
        except asyncio.CancelledError:
            if not self._detached:  # stopped by the user; a shutdown keeps the approval pending
                await asyncio.shield(self._close(row.id, "cancelled", "stop", "the turn was stopped"))
            raise
        finally:
            self._waiting.pop(row.id, None)
        return denial_text(note) if decision == "deny" else None

    # --- decisions (from any client) ----------------------------------------------------------------------
    async def decide(self, approval_id: str, decision: str, note: str | None, by: str) -> bool:
        """Record the first decision; False when no live call was waiting (decided after a restart)."""
        if decision not in DECISIONS:
            raise AgentChatError(f"decision must be one of {', '.join(DECISIONS)}", code="bad_request")
        row = await self._store.approvals.get(approval_id)
        if row is None or row.session_id != self._session_id:
            raise AgentChatError(f"unknown approval {approval_id!r}", code="unknown_approval")
        if row.status == "pending" and time.time() > row.expires_at and approval_id not in self._waiting:
            await self._close(approval_id, "expired", "timeout", "no decision in time")
            row = await self._store.approvals.get(approval_id) or row
        status = "denied" if decision == "deny" else "allowed"
        if row.status != "pending" or not await self._store.approvals.decide(approval_id, status, by, note):
            current = await self._store.approvals.get(approval_id)
            raise AgentChatError(
                f"approval {approval_id!r} is already {(current or row).status}", code="approval_closed"
            )
        if decision == "allow_always":
            await self._store.approvals.grant(self._session_id, row.grant_key)
            self._emit("approval_grants", grants=await self.grants())
        self._emit("approval_result", approval_id=approval_id, decision=decision, by=by, note=note)
        future = self._waiting.get(approval_id)
        if future is not None and not future.done():
            future.set_result((decision, note))
            return True
        return False

    async def revoke(self, key: str) -> None:
        if not await self._store.approvals.revoke(self._session_id, key):
            raise AgentChatError(f"no allow_always grant {key!r} in this session", code="unknown_grant")
        self._emit("approval_grants", grants=await self.grants())

    async def pending(self) -> list[ApprovalRow]:
        return await self._store.approvals.pending(self._session_id)

    async def grants(self) -> list[str]:
        return await self._store.approvals.grants(self._session_id)

    def add_groups(self, groups: Mapping[str, str]) -> None:
        """Tools discovered later (an MCP server's): their groups for the policy."""
        self._groups.update(groups)

    def cancel_all(self) -> None:
        """``stop``: every waiting call is cancelled (recorded as denied by stop)."""
        for future in self._waiting.values():
            if not future.done():
                future.cancel()

    def detach(self) -> None:
        """Server shutdown: stop waiting, keep the approvals pending (re-sent after the restart)."""
        self._detached = True
        for future in self._waiting.values():
            if not future.done():
                future.cancel()

    async def _close(self, approval_id: str, status: str, by: str, note: str) -> None:
        if await self._store.approvals.decide(approval_id, status, by, note):
            self._emit("approval_result", approval_id=approval_id, decision="deny", by=by, note=note)
