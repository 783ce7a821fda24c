"""THE list of routes: every face of the server, combined in one place.

Convention (docs/architecture.md, "Faces"): each face is one module under ``backend/server/``
that exposes ``routes: list[BaseRoute]`` (Starlette ``Route`` / ``WebSocketRoute`` / ``Mount``)
whose endpoints are small async functions reaching the server through ``http.core(request)``.
To add a face, write its module and add ONE line to :func:`all_routes`, above the catch-alls.
Cross-cutting checks (Host, Origin, CSRF, token, body size, connection cap) are already done by
``edge.Edge`` before any endpoint runs; JSON bodies are read with ``http.read_json``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import (
    accounts_api,
    agent_compat,
    export_api,
    files_api,
    mcp_api,
    metrics_api,
    openai_api,
    ops,
    sandbox_api,
    sessions_api,
    static,
    stats_api,
    workflows_api,
    ws,
)


def all_routes() -> list[BaseRoute]:
    return [
        *ops.routes,  # /healthz, /v1/skills
        *accounts_api.routes,  # /v1/api-keys, /v1/auth/..., /v1/audit: keys, sign-in, audit (AUTH_MODE=keys)
        *sessions_api.routes,  # /v1/sessions...: the native session API and event stream
        *openai_api.routes,  # /v1/chat/completions, /v1/models: the OpenAI-compatible face
        *sandbox_api.routes,  # /v1/sessions/{id}/sandbox..., /api/container/..., /v1/system/status
        *stats_api.routes,  # /v1/stats, and the streaming agent's /stats, /reset-stats
        *agent_compat.routes,  # the streaming agent's /chat/stream, /chat, /health
        *workflows_api.routes,  # /v1/workflows..., /v1/runs...: declarative workflows
        *files_api.routes,  # /v1/sessions/{id}/files: uploads (multipart) and their list
        *export_api.routes,  # /v1/sessions/{id}/export, /v1/sessions/import: session export and import
        *metrics_api.routes,  # /metrics: Prometheus metrics
        *mcp_api.routes,  # /mcp: our todos, reminders and sandbox as an MCP server (streamable HTTP)
        *ws.routes,  # the WebSocket protocol on / and /ws
        # --- new faces go above this line; the catch-alls stay last ---------------------------------
        *ws.fallback,  # any other WebSocket path: 404
        *static.routes,  # GET /{path}: the browser client
    ]
