"""Face: our own tools as an MCP server (streamable HTTP at ``/mcp``), for IDE agents.

A session's todos, reminders and sandbox, through the MCP SDK's own server and transport
(``mcp.server.lowlevel.Server`` + ``StreamableHTTPSessionManager``, stateless: every request stands
alone). Each tool takes the ``session_id`` it acts on (an unknown one is an error result, the same
as for any bad argument). The edge guards ``/mcp`` like the rest of the API: Host, Origin, CSRF and
``AUTH_TOKEN``. Calls run the same tool functions the team uses, with the session's own deps, and
their events (``todos``, ``reminders``) reach the session's clients as usual.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from pydantic import ValidationError
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..errors import AgentChatError, SessionNotFoundError
from ..identity.principal import ANONYMOUS, Principal
from ..team.tools import compact_parameters
from .auth import keys_mode, principal

if TYPE_CHECKING:
    from .app import App

#: the tool groups offered over MCP
GROUPS = ("todos", "reminders", "sandbox")
SESSION_ARG = {"type": "string", "description": "The chat session to act on (its session_id)."}


class McpFace:
    """The MCP server and its transport; started and stopped with the app (its lifespan)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self.server: Server[Any, Any] = Server("agentchat")
        self.server.list_tools()(self._list_tools)  # type: ignore[no-untyped-call]
        self.server.call_tool()(self._call_tool)
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        self._stack: contextlib.AsyncExitStack | None = None

    def _specs(self) -> list[Any]:
        return [spec for spec in self._app.tools.specs() if spec.group in GROUPS]

    async def _list_tools(self) -> list[types.Tool]:
        tools = []
        for spec in self._specs():
            schema = compact_parameters(spec.args_model.model_json_schema())
            schema.pop("additionalProperties", None)
            schema["properties"] = {"session_id": SESSION_ARG, **schema.get("properties", {})}
            schema["required"] = ["session_id", *schema.get("required", [])]
            tools.append(types.Tool(name=spec.name, description=spec.description, inputSchema=schema))
        return tools

    async def _call_tool(self, name: str, arguments: dict[str, Any]) -> list[types.TextContent]:
        spec = next((s for s in self._specs() if s.name == name), None)
        if spec is None:
            raise ValueError(f"unknown tool {name!r}")
        arguments = dict(arguments)
        session_id = arguments.pop("session_id", None)
        if not isinstance(session_id, str):
            raise ValueError("session_id is required")
        try:
            session = await self._app.sessions.get(session_id, self._caller())
            args = spec.args_model.model_validate(arguments)
            result = await spec.func(session.deps, **args.model_dump())
        except AgentChatError as exc:
            raise ValueError(exc.message) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
        await self._app.hub.flush()  # the todos/reminders event it caused goes out now
        return [types.TextContent(type="text", text=str(result))]

    def _caller(self) -> Principal:
        """The caller of the MCP request being handled (the edge resolved it on the HTTP request's
        scope): in AUTH_MODE=keys another tenant's or user's session answers like an unknown one."""
        try:
            request = self.server.request_context.request
        except LookupError:
            request = None
        scope = getattr(request, "scope", None)
        if scope is None:
            if keys_mode(self._app):
                raise SessionNotFoundError("unknown session (no caller)")
            return ANONYMOUS
        return principal(scope)

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.manager.run())
        self._stack = stack

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


class _Endpoint:
    """An ASGI endpoint (Starlette passes it the raw scope): the MCP transport handles the request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        core: App = scope["app"].state.core
        await core.mcp_face.handle(scope, receive, send)


routes: list[BaseRoute] = [Route("/mcp", _Endpoint(), methods=["GET", "POST", "DELETE"])]
