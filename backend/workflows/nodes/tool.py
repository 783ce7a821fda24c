"""tool: a built-in tool from the registry, or an HTTP tool with the platform's config resolution.

HTTP resolution order (``invoke`` is the tool's invoke config, ``binding`` its binding config):
URL ``config.url`` or ``invoke.url``; else base URL ``config.base_url`` / ``binding.base_url`` /
``invoke.base_url`` joined with path ``config.path`` / ``invoke.path``; method ``invoke.method``
(then ``config.method``), default GET; query ``invoke.query`` + ``config.query``; body
``invoke.body`` + ``config.body``; headers ``invoke.headers`` + ``binding.headers`` +
``config.headers`` (later wins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ...errors import AgentChatError, WorkflowError
from .base import NodeContext, NodeResult, number
from .http import request


def _obj(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WorkflowError(f"{name} must be an object")
    return dict(value)


def resolve_http(config: Mapping[str, Any]) -> dict[str, Any]:
    """The request an HTTP tool node makes (pure; see the module docstring for the order)."""
    invoke = _obj(config.get("invoke"), "config.invoke")
    binding = _obj(config.get("binding"), "config.binding")
    url = config.get("url") or invoke.get("url")
    if not url:
        base = config.get("base_url") or binding.get("base_url") or invoke.get("base_url")
        path = config.get("path") or invoke.get("path") or ""
        if not base:
            raise WorkflowError("an HTTP tool needs config.url, or a base_url (config, binding or invoke) and a path")
        url = str(base).rstrip("/") + ("/" + str(path).lstrip("/") if path else "")
    method = str(invoke.get("method") or config.get("method") or "GET").upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise WorkflowError(f"unsupported HTTP method {method!r}")
    query = {**_obj(invoke.get("query"), "invoke.query"), **_obj(config.get("query"), "config.query")}
    body_parts = [invoke.get("body"), config.get("body")]
    body: Any = None
    if any(isinstance(p, Mapping) for p in body_parts):
        body = {**_obj(invoke.get("body"), "invoke.body"), **_obj(config.get("body"), "config.body")}
    elif config.get("body") is not None or invoke.get("body") is not None:
        body = config.get("body") if config.get("body") is not None else invoke.get("body")
    headers = {
        **_obj(invoke.get("headers"), "invoke.headers"),
        **_obj(binding.get("headers"), "binding.headers"),
        **_obj(config.get("headers"), "config.headers"),
    }
    return {
        "method": method,
        "url": str(url),
        "query": query,
        "body": body,
        "headers": {k: str(v) for k, v in headers.items()},
    }


async def tool(ctx: NodeContext) -> NodeResult:
    config = await ctx.render_value(dict(ctx.config))
    timeout = number(config, "timeout_seconds", ctx.settings.workflow_http_timeout, low=0.1, high=300)
    if config.get("tool"):
        return await _builtin(ctx, config, timeout)
    plan = resolve_http(config)
    reply = await request(
        plan["method"],
        plan["url"],
        params=plan["query"],
        body=plan["body"],
        headers=plan["headers"],
        timeout=timeout,
        limit=ctx.settings.workflow_output_limit,
    )
    shown = {k: v for k, v in plan.items() if k != "headers"} | {"headers": sorted(plan["headers"])}
    if reply.status >= 400 and not config.get("allow_error_status"):
        raise WorkflowError(f"{plan['method']} {plan['url']} answered HTTP {reply.status}: {reply.text[:200]}")
    text = reply.text + (
        f"\n[output truncated at {ctx.settings.workflow_output_limit} bytes]" if reply.truncated else ""
    )
    return NodeResult(
        output_text=text,
        output_json={
            "status_code": reply.status,
            "body": reply.json if reply.json is not None else reply.text,
            "truncated": reply.truncated,
        },
        inputs=shown,
    )


async def _builtin(ctx: NodeContext, config: Mapping[str, Any], timeout: float) -> NodeResult:
    name = str(config["tool"])
    if name not in ctx.tools:
        raise WorkflowError(f"unknown tool {name!r}")
    if ctx.host is None:
        raise WorkflowError("built-in tools need the chat server")
    spec = ctx.tools.get(name)
    arguments = _obj(config.get("arguments"), "config.arguments")
    try:
        args = spec.args_model.model_validate(arguments)
    except ValidationError as exc:
        raise WorkflowError(
            f"tool {name!r}: bad arguments: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from None
    deps = await ctx.host.tool_deps(ctx.require_session(f"tool {name!r}"))
    try:
        text = await asyncio.wait_for(spec.func(deps, **dict(args)), timeout)
    except TimeoutError:
        raise WorkflowError(f"tool {name!r} timed out after {timeout:g} s") from None
    except AgentChatError as exc:
        raise WorkflowError(f"tool {name!r}: {exc.message}") from None
    return NodeResult(
        output_text=ctx.cap_text(str(text)),
        output_json={"tool": name, "result": ctx.cap_text(str(text))},
        inputs={"tool": name, "arguments": arguments},
    )
