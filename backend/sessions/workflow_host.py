"""What a workflow run may do to a session: emit timeline events, run a team preset, use tools.

The engine (``backend.workflows``) sits below the sessions layer; this adapter is handed to it by
the composition root, so runs reach sessions only through these three methods.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import TeamSpecError, WorkflowError
from ..team.builder import TeamFactory, TeamHooks
from ..team.runner import CancelToken, TurnRunner
from ..team.spec import load_team_spec
from ..tools.registry import ToolDeps
from .registry import SessionRegistry
from .turns import describe_error


class SessionWorkflowHost:
    def __init__(self, sessions: SessionRegistry) -> None:
        self._sessions = sessions
        self._factories: dict[str, TeamFactory] = {}

    async def emit(self, session_id: str, type_: str, **fields: Any) -> None:
        (await self._sessions.get(session_id)).emit(type_, **fields)

    async def tool_deps(self, session_id: str) -> ToolDeps:
        return (await self._sessions.get(session_id)).deps

    def _factory(self, team: str | None) -> TeamFactory:
        base = self._sessions.services.factory
        if team is None or team == base.spec.name:
            return base
        factory = self._factories.get(team)
        if factory is None:
            if "/" in team or team.endswith(".json"):
                raise WorkflowError(f"agent nodes name a shipped team preset, not a file ({team!r})")
            try:
                spec = load_team_spec(team)
            except TeamSpecError as exc:
                raise WorkflowError(exc.message) from None
            factory = TeamFactory(
                spec=spec,
                registry=base.registry,
                model_client=base.model_client,
                settings=base.settings,
                counter=base.counter,
                safety_margin=base.safety_margin,
            )
            self._factories[team] = factory
        return factory

    async def run_agent(self, session_id: str, team: str | None, prompt: str) -> str:
        """One turn of a team on ``prompt``; its events go onto the session's timeline."""
        session = await self._sessions.get(session_id)
        durations: dict[str, float] = {}

        def on_delta(agent: str, text: str) -> None:
            session.emit("delta", agent=agent, content=text)

        built = self._factory(team).build(
            TeamHooks(
                deps=session.deps,
                on_delta=on_delta,
                on_result=lambda *_: None,
                on_context=lambda _report: None,
                on_tool_timing=durations.__setitem__,
            )
        )
        token = CancelToken()
        runner = TurnRunner(built, session.emit, durations)
        try:
            outcome = await runner.run(built.task([], prompt), token)
        except asyncio.CancelledError:
            token.cancel()
            raise
        if outcome.status == "cancelled":
            raise WorkflowError("the agent was cancelled")
        if outcome.status == "error":
            raise WorkflowError(describe_error(outcome.error)[1] if outcome.error else "the agent failed")
        return outcome.response or ""
