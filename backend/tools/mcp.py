"""MCP tool servers at run time: one connection per session and server, through AutoGen's McpWorkbench.

A connection starts lazily (the first ``list_tools``/``call``), and is closed with its session.
stdio servers run under the same bubblewrap confinement as terminal commands (their install folder
bound read-only, no network, as nobody when the server runs as root); ``--die-with-parent`` means
a server process never outlives ours.

AutoGen 0.7.5's MCP ``call_tool`` does not honour its cancellation token (autogen#8265) and
``list_tools`` can hang (autogen#6468): every start, listing and call here has its own timeout, and
a call that times out or is cancelled (``stop``) takes the server down with it — the workbench is
stopped and, if even that hangs, its actor task is cancelled, which ends the stdio process. The
next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from autogen_core.tools import ToolSchema
from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams, StreamableHttpServerParams

from ..errors import ToolError
from ..settings import Settings
from .confinement import confinement_for
from .mcp_config import McpServerSpec

logger = logging.getLogger(__name__)

STOP_SECONDS = 5.0
PROBE_SECONDS = 5.0


def install_root(command: str) -> Path | None:
    """The venv (or folder) a stdio server is installed in: bound read-only inside the confinement."""
    found = shutil.which(command)
    if found is None:
        return None
    path = Path(found).absolute()
    for parent in path.parents:
        if (parent / "pyvenv.cfg").is_file():
            return parent
    return path.parent


def _alive(workbench: McpWorkbench) -> bool:
    """Is the workbench's actor (which holds the session) still running?"""
    actor = getattr(workbench, "_actor", None)
    task = getattr(actor, "_actor_task", None)
    return bool(getattr(actor, "_active", False)) and isinstance(task, asyncio.Task) and not task.done()


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[… {len(text) - limit} more characters cut (MCP_OUTPUT_LIMIT={limit})]"


def valid_schema(schema: Any) -> str | None:
    """Why a tool's schema cannot be offered to the model (None: it can)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("name"), str) or not schema["name"]:
        return "it has no name"
    parameters = schema.get("parameters")
    if parameters is not None and (not isinstance(parameters, dict) or parameters.get("type", "object") != "object"):
        return "its input schema is not a JSON object schema"
    properties = parameters.get("properties", {}) if parameters is not None else {}
    if not isinstance(properties, dict) or not all(isinstance(p, dict) for p in properties.values()):
        return "its input schema's properties are not schemas"
    return None


def result_text(result: Any) -> str:
    """The text parts of an MCP tool result (images are described, not inlined)."""
    parts = []
    for item in getattr(result, "result", []) or []:
        content = getattr(item, "content", "")
        parts.append(content if isinstance(content, str) else f"[{type(item).__name__}]")
    return "\n".join(parts)


class McpConnection:
    """One MCP server for one session."""

    def __init__(self, spec: McpServerSpec, settings: Settings) -> None:
        self.spec = spec
        self._settings = settings
        self._workbench: McpWorkbench | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0

    async def _params(self) -> StdioServerParams | StreamableHttpServerParams:
        spec = self.spec
        if spec.url is not None:
            return StreamableHttpServerParams(
                url=spec.url, headers=dict(spec.headers) or None, timeout=spec.timeout,
                sse_read_timeout=spec.timeout,
            )  # fmt: skip
        assert spec.command is not None
        argv = [spec.command, *spec.args]
        confinement = await confinement_for(self._settings.terminal_confinement)
        if not confinement.usable:
            raise ToolError(f"MCP server {spec.name!r} cannot start: {confinement.reason}")
        if confinement.mode == "bwrap":
            root = install_root(spec.command)
            if root is None:
                raise ToolError(f"MCP server {spec.name!r}: {spec.command!r} is not installed")
            argv = confinement.wrap([str(shutil.which(spec.command)), *spec.args], str(root))
        return StdioServerParams(
            command=argv[0], args=argv[1:], env=dict(spec.env) or None, read_timeout_seconds=spec.timeout
        )

    async def _ensure(self) -> McpWorkbench:
        async with self._lock:
            if self._workbench is not None and not _alive(self._workbench):
                await self.reset()  # the server died (exited mid-call, crashed): start a fresh one
            if self._workbench is None:
                workbench = McpWorkbench(await self._params())
                try:
                    await asyncio.wait_for(workbench.start(), self.spec.timeout)
                except BaseException:
                    await self._force_stop(workbench)
                    raise
                self._workbench = workbench
            return self._workbench

    async def list_tools(self) -> list[ToolSchema]:
        """The server's tools (its own names); starts the server if needed."""
        try:
            workbench = await self._ensure()
            return list(await asyncio.wait_for(workbench.list_tools(), self.spec.timeout))
        except TimeoutError:
            await self.reset()
            raise ToolError(
                f"MCP server {self.spec.name!r} did not list its tools within {self.spec.timeout:g} s"
            ) from None
        except ToolError:
            raise
        except Exception as exc:
            await self.reset()
            raise ToolError(f"MCP server {self.spec.name!r} failed: {type(exc).__name__}: {exc}"[:500]) from None

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """(text, is_error). A timeout is an error result; a cancellation (stop) stops the server."""
        try:
            workbench = await self._ensure()
            result = await asyncio.wait_for(workbench.call_tool(tool, arguments), self.spec.timeout)
        except TimeoutError:
            await self.reset()
            return f"the MCP tool {tool!r} timed out after {self.spec.timeout:g} s (the server was restarted)", True
        except asyncio.CancelledError:
            await asyncio.shield(self.reset())  # autogen#8265: the call itself would not stop
            raise
        except ToolError as exc:
            return exc.message, True
        except Exception as exc:
            await self.reset()
            return f"the MCP server {self.spec.name!r} failed: {type(exc).__name__}: {exc}"[:500], True
        text = cap(result_text(result), self._settings.mcp_output_limit)
        if result.is_error and not await self._responds(workbench):
            await self.reset()
            text = f"the MCP server {self.spec.name!r} stopped during the call ({text.strip() or 'no details'})"
        return text, bool(result.is_error)

    async def _responds(self, workbench: McpWorkbench) -> bool:
        """After an error result: is the server still there? (AutoGen reports a server that died
        mid-call only as an error result, and keeps its session, now closed.)"""
        if not _alive(workbench):
            return False
        try:
            await asyncio.wait_for(workbench.list_tools(), min(self.spec.timeout, PROBE_SECONDS))
        except Exception:  # closed stream, timeout, protocol error: it is gone
            return False
        return True

    async def reset(self) -> None:
        """Stop the server (the next call starts a new one)."""
        workbench, self._workbench = self._workbench, None
        if workbench is not None:
            self.restarts += 1
            await self._force_stop(workbench)

    async def close(self) -> None:
        await self.reset()

    @staticmethod
    async def _force_stop(workbench: McpWorkbench) -> None:
        try:
            await asyncio.wait_for(workbench.stop(), STOP_SECONDS)
            return
        except (TimeoutError, RuntimeError, Exception) as exc:  # stop() hangs or fails on a wedged server
            logger.warning("MCP workbench did not stop cleanly (%s); cancelling its task", type(exc).__name__)
        actor = getattr(workbench, "_actor", None)
        task = getattr(actor, "_actor_task", None)
        if isinstance(task, asyncio.Task) and not task.done():
            task.cancel()  # leaving stdio_client's context terminates the server process
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, STOP_SECONDS)
