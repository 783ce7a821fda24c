"""Sessions' sandboxes for clients: the container the model's tools use, reached over HTTP
(``server/sandbox_api.py``) and the WebSocket's ``sandbox_*`` frames.

A session's container lives with the process that runs the session (docs/scaling.md): in a cluster,
a process that only follows the session takes it over when nobody holds it, or refuses with
:class:`~backend.errors.SessionElsewhereError` instead of starting a second container.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import AgentChatError, SandboxUnavailableError, SessionElsewhereError
from .registry import SessionRegistry

DISABLED = "disabled (SANDBOX_ENABLED=0)"
ACTIONS = ("status", "stats", "logs", "reset")


class SessionSandboxes:
    """Status, stats, logs, reset and exec of a session's sandbox (``SandboxManager`` or None)."""

    def __init__(self, registry: SessionRegistry) -> None:
        self.registry = registry

    @property
    def manager(self) -> Any:
        return self.registry.services.sandbox

    def health(self) -> dict[str, Any]:
        """The manager's health (never touches the engine), or why there is no sandbox."""
        if self.manager is None:
            return {"available": False, "reason": DISABLED}
        return dict(self.manager.health())

    async def _manager_for(self, session_id: str) -> Any:
        manager = self.manager
        if manager is None:
            raise SandboxUnavailableError(f"sandbox unavailable: {DISABLED}")
        session = self.registry.live(session_id)
        if session is not None and not await self.registry.services.cluster.try_promote(session):
            raise SessionElsewhereError(
                "another server process runs this session and holds its sandbox; try again through "
                "that process (or once it has released the session)"
            )
        return manager

    async def action(self, session_id: str, action: str, *, tail: int = 200) -> dict[str, Any]:
        """``status``, ``stats``, ``logs`` (the last ``tail`` lines) or ``reset``."""
        if action not in ACTIONS:
            raise AgentChatError(f"unknown sandbox action {action!r}", code="bad_request")
        manager = await self._manager_for(session_id)
        if action == "status":
            return dict(await manager.status(session_id))
        if action == "stats":
            return dict(await manager.stats(session_id))
        if action == "logs":
            return {"logs": await manager.logs(session_id, tail=tail)}
        return dict(await manager.reset(session_id))

    async def exec(self, session_id: str, command: str | list[str], timeout: float | None) -> dict[str, Any]:
        """Run one command in the session's container (created on first use): the ExecResult's fields."""
        manager = await self._manager_for(session_id)
        result = await manager.exec(session_id, command, timeout=timeout)
        return dataclasses.asdict(result)
