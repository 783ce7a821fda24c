"""code: Python in the session's hardened sandbox container (never on the host).

The platform's contract: the node's ``input_json`` is ``payload``; the code assigns ``result``;
``print`` output becomes ``output_text``; ``result`` becomes ``output_json.result_json``. A dict
assigned to ``artifacts`` (file name -> text) is stored as file artifacts of the run.

The user's code runs inside a small wrapper that captures its prints (capped), then writes one
marker line with the JSON outcome. Everything else is the sandbox's: no network, a pids limit (a
fork bomb fails there), memory and CPU limits, a timeout that kills the process group, and an output
cap (a flood is cut and reported).
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from ...errors import AgentChatError, WorkflowError
from .base import NodeContext, NodeResult, number

_WRAPPER = r"""
import base64, contextlib, io, json, os, sys, traceback
_pid = os.getpid()
_payload = json.loads(base64.b64decode({payload!r}).decode())
_source = base64.b64decode({source!r}).decode()
_limit = {limit}
class _Capped(io.TextIOBase):
    def __init__(self):
        self.parts, self.size, self.seen = [], 0, 0
    def writable(self):
        return True
    def write(self, text):
        self.seen += len(text)
        if self.size < _limit:
            self.parts.append(text[: _limit - self.size])
            self.size += len(self.parts[-1])
        if self.seen > 20 * _limit:
            raise RuntimeError("print output flood: more than %d characters" % (20 * _limit))
        return len(text)
_out = _Capped()
_ns = {{"payload": _payload, "__name__": "__workflow_code__"}}
_error = None
try:
    with contextlib.redirect_stdout(_out), contextlib.redirect_stderr(_out):
        exec(compile(_source, "<code node>", "exec"), _ns)
except BaseException as _exc:
    _error = "".join(traceback.format_exception_only(type(_exc), _exc)).strip()
if os.getpid() != _pid:  # a child the code forked: only the original process reports
    os._exit(0)
_result = _ns.get("result")
try:
    json.dumps(_result)
except (TypeError, ValueError):
    _result = repr(_result)
_files = _ns.get("artifacts") if isinstance(_ns.get("artifacts"), dict) else {{}}
_files = {{str(k)[:100]: str(v)[:_limit] for k, v in list(_files.items())[:10]}}
_doc = {{"stdout": "".join(_out.parts), "truncated": _out.seen > _limit, "result": _result, "error": _error}}
_doc["files"] = _files
sys.__stdout__.write("\n{marker}" + json.dumps(_doc) + "\n")
sys.__stdout__.flush()
"""


def build_script(code: str, payload: Any, *, limit: int, marker: str) -> str:
    return _WRAPPER.format(
        payload=base64.b64encode(json.dumps(payload).encode()).decode(),
        source=base64.b64encode(code.encode()).decode(),
        limit=limit,
        marker=marker,
    )


def parse_outcome(output: str, marker: str) -> dict[str, Any] | None:
    index = output.rfind(marker)
    if index < 0:
        return None
    line = output[index + len(marker) :].split("\n", 1)[0]
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


async def code(ctx: NodeContext) -> NodeResult:
    config = ctx.config
    language = str(config.get("language") or "python").lower()
    if language != "python":
        raise WorkflowError(f"unsupported language {language!r} (only python)")
    if ctx.sandbox is None:
        raise WorkflowError("code nodes run only in the sandbox container, and the sandbox is off (SANDBOX_ENABLED)")
    session_id = ctx.require_session("a code node")
    payload = await ctx.render_value(config.get("input_json") or {})
    timeout = number(
        config, "timeout_seconds", ctx.settings.sandbox_timeout, low=0.5, high=ctx.settings.sandbox_timeout
    )
    # The outcome line must fit the sandbox's own output cap: prints get at most a third of it.
    limit = max(256, min(ctx.settings.workflow_output_limit, ctx.settings.sandbox_output_limit // 3))
    marker = f"@@workflow-result-{secrets.token_hex(8)}@@"
    script = build_script(str(config.get("code")), payload, limit=limit, marker=marker)
    try:
        outcome = await ctx.sandbox.run_python(session_id, script, timeout=timeout)
    except AgentChatError as exc:
        raise WorkflowError(f"the sandbox could not run the code: {exc.message}") from None
    if outcome.timed_out:
        raise WorkflowError(f"the code ran longer than {timeout:g} s and was killed")
    doc = parse_outcome(outcome.output, marker)
    if doc is None:
        tail = outcome.output[-300:].strip()
        if outcome.truncated:
            raise WorkflowError(
                f"the code flooded its output past {ctx.settings.sandbox_output_limit} bytes and was cut off"
            )
        raise WorkflowError(f"the code ended without a result (exit {outcome.exit_code}): {tail}")
    stdout = str(doc.get("stdout") or "")
    if doc.get("truncated"):
        stdout += f"\n[print output truncated at {limit} characters]"
    if doc.get("error"):
        raise WorkflowError(f"the code raised {doc['error']}" + (f"\noutput: {stdout[-500:]}" if stdout else ""))
    result = doc.get("result")
    artifacts: list[tuple[str, str, Any]] = [("json", "result.json", result)]
    if stdout:
        artifacts.append(("text", "stdout.txt", stdout))
    for name, content in (doc.get("files") or {}).items():
        artifacts.append(("file", str(name), str(content)))
    return NodeResult(
        output_text=stdout.rstrip("\n"),
        output_json={"result_json": result, "exit_code": outcome.exit_code},
        inputs={"payload": payload, "timeout_seconds": timeout},
        artifacts=artifacts,
    )
