"""Face: the WebSocket protocol (docs/protocol.md) on ``/`` and ``/ws``.

The edge middleware has already checked Host, Origin, the connection cap and a ``?token=``; this
endpoint accepts the handshake and hands the socket to a :class:`Connection`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from .auth import authenticated, keys_mode, principal
from .connection import Connection
from .http import bearer, core, error_response, query_token, token_matches

WS_PATHS = ("/", "/ws")


async def protocol_socket(websocket: WebSocket) -> None:
    app = core(websocket)
    if keys_mode(app):
        ok = authenticated(websocket)  # by the edge, from the handshake's headers; else the auth frame
    elif app.settings.effective_auth_mode == "token":
        presented = query_token(websocket.scope["query_string"].decode("latin-1")) or bearer(websocket.headers)
        ok = token_matches(app.settings.auth_token, presented)
    else:
        ok = True
    await websocket.accept()
    conn = Connection(websocket, app, authenticated=ok, principal=principal(websocket))
    app.connections.add(conn)
    try:
        await conn.run()
    finally:
        app.connections.discard(conn)


async def no_socket_here(websocket: WebSocket) -> None:
    await websocket.send_denial_response(
        error_response(404, f"no WebSocket endpoint at {websocket.url.path}; use / or /ws")
    )


routes: list[BaseRoute] = [WebSocketRoute(path, protocol_socket) for path in WS_PATHS]
#: Goes last, beside the static catch-all: any other WebSocket path is a 404, not a bare 403.
fallback: list[BaseRoute] = [WebSocketRoute("/{path:path}", no_socket_here)]
