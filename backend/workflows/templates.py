"""Templates (``{{state.user_name}} passed``): Jinja2's ``SandboxedEnvironment``, bounded.

* Node ids may contain ``-``, which is not a Jinja name: nodes are exposed as ``nodes["id"]``,
  and the platform's dotted form (``nodes.retrieve-docs.output...``) is rewritten to it before
  rendering, for the ids the workflow actually has.
* The sandbox refuses ``__class__`` walks and unsafe methods; undefined names raise (a typo is an
  error that names the variable, not an empty string).
* A render is bounded: output over ``max_chars`` is an error (``range`` is capped by the sandbox,
  ``*`` on strings and lists is checked here), and a render that runs longer than ``timeout`` seconds
  (an empty loop over a big range) is stopped by a line tracer in the rendering thread.
* A string that is exactly one ``{{ expression }}`` renders to the expression's native value
  (a number stays a number), which is what configs such as ``input_json`` need.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import WorkflowError

DEFAULT_MAX_CHARS = 64 * 1024
DEFAULT_TIMEOUT = 2.0
_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.S)
_WHOLE_EXPRESSION = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE_FILENAME = "<template>"  # what Jinja names the code it compiles


class RenderLimitError(WorkflowError):
    """A render produced too much output or ran too long."""


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, max_chars: int) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.max_chars = max_chars

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise RenderLimitError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > self.max_chars:
                    raise RenderLimitError(f"'*' would build {len(seq) * times} items (limit {self.max_chars})")
        return super().call_binop(context, operator, left, right)


@lru_cache(maxsize=8)
def _env(max_chars: int) -> _Env:
    return _Env(max_chars)


def rewrite_dotted(source: str, node_ids: Iterable[str]) -> str:
    """``nodes.retrieve-docs.output`` -> ``nodes["retrieve-docs"].output`` inside tags, for ids that are not names."""
    awkward = sorted((i for i in node_ids if not _IDENTIFIER.match(i)), key=len, reverse=True)
    if not awkward:
        return source
    pattern = re.compile(r"\bnodes\.(" + "|".join(re.escape(i) for i in awkward) + r")(?![\w-])")

    def fix(match: re.Match[str]) -> str:
        return pattern.sub(lambda m: f'nodes["{m.group(1)}"]', match.group(0))

    return _TAG.sub(fix, source)


def has_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def check_syntax(source: str, node_ids: Iterable[str] = ()) -> None:
    """Compile a template; raise :class:`WorkflowError` with Jinja's message when it is not valid."""
    env = _env(DEFAULT_MAX_CHARS)
    try:
        env.parse(rewrite_dotted(source, node_ids))
    except TemplateError as exc:
        raise WorkflowError(f"template syntax error: {exc}") from None


def _deadline_tracer(deadline: float) -> Callable[[FrameType, str, Any], Any]:
    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and time.monotonic() > deadline:
            raise RenderLimitError("the template ran too long")
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename == _TEMPLATE_FILENAME:
            return local
        return None

    return global_


def _render_sync(
    source: str, context: Mapping[str, Any], node_ids: tuple[str, ...], max_chars: int, timeout: float
) -> Any:
    env = _env(max_chars)
    rewritten = rewrite_dotted(source, node_ids)
    sys.settrace(_deadline_tracer(time.monotonic() + timeout))
    try:
        whole = _WHOLE_EXPRESSION.match(rewritten)
        if whole and "}}" not in whole.group(1) and "{{" not in whole.group(1):
            value = env.compile_expression(whole.group(1), undefined_to_none=False)(**context)
            if isinstance(value, StrictUndefined):
                str(value)  # raises the undefined error
            return value
        template = env.from_string(rewritten)
        out: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > max_chars:
                raise RenderLimitError(f"the template output exceeds {max_chars} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(None)


async def render(
    source: str,
    context: Mapping[str, Any],
    *,
    node_ids: Iterable[str] = (),
    max_chars: int = DEFAULT_MAX_CHARS,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """Render in a worker thread (a long render never blocks the loop); text, or a native value for ``{{ expr }}``."""
    try:
        return await asyncio.to_thread(_render_sync, source, context, tuple(node_ids), max_chars, timeout)
    except WorkflowError:
        raise
    except SecurityError as exc:
        raise WorkflowError(f"template is not allowed: {exc}") from None
    except TemplateError as exc:
        raise WorkflowError(f"template failed: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise WorkflowError(f"template failed: {type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise WorkflowError("template is nested too deeply") from None


async def render_text(source: str, context: Mapping[str, Any], **options: Any) -> str:
    """Always text (a whole-expression template is converted with ``str``)."""
    value = await render(source, context, **options)
    return value if isinstance(value, str) else ("" if value is None else str(value))


async def render_value(value: Any, context: Mapping[str, Any], **options: Any) -> Any:
    """Render every string with a template in a JSON-like value (dicts and lists walked)."""
    if isinstance(value, str):
        return await render(value, context, **options) if has_template(value) else value
    if isinstance(value, Mapping):
        return {k: await render_value(v, context, **options) for k, v in value.items()}
    if isinstance(value, list):
        return [await render_value(v, context, **options) for v in value]
    return value
