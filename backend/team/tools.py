"""Adapts registry tools to AutoGen's ``BaseTool`` for one session.

The argument model is built once per tool (in the registry), so giving a session its own tool
objects is cheap. Two AutoGen 0.7.5 pitfalls are handled here:

* a cancelled tool returns a "cancelled" result instead of raising ``CancelledError``: the stock
  workbench only catches ``Exception``, and a ``CancelledError`` escaping it deadlocks the agent's
  tool loop forever (autogen#7956);
* bad arguments become a short, clear error the model can act on, not a pydantic dump.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, ToolSchema
from pydantic import BaseModel, ValidationError

from ..errors import ToolError
from ..tools.registry import ToolDeps, ToolSpec

logger = logging.getLogger(__name__)

CANCELLED_RESULT = "cancelled: the user stopped this turn before the tool finished"

TimingSink = Callable[[str, float], None]


class _Result(BaseModel):
    """Placeholder return type: our tools return plain strings."""


def describe_validation_error(name: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{where}: {error['msg']}")
    return f"invalid arguments for {name}: " + "; ".join(parts)


def compact_parameters(node: Any) -> Any:
    """A pydantic JSON schema without the tokens a model does not need (every agent pays for them).

    Drops ``title`` (it repeats the property name) and turns an optional ``anyOf [X, null]`` with a
    ``null`` default into plain ``X``: the property is already optional by not being ``required``,
    and the argument model still accepts ``null``. Nothing else changes.
    """
    if isinstance(node, list):
        return [compact_parameters(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: compact_parameters(prop) for name, prop in value.items()}
        else:
            out[key] = compact_parameters(value)
    variants = out.get("anyOf")
    if isinstance(variants, list) and "default" in out and out["default"] is None:
        kept = [v for v in variants if v != {"type": "null"}]
        if len(kept) == 1 and len(variants) == 2:
            del out["anyOf"], out["default"]
            out = {**kept[0], **out}
    return out


class SessionTool(BaseTool[BaseModel, _Result]):
    #: ``BaseTool.schema`` regenerates the pydantic JSON schema on every access (every team build
    #: and every model call reads it: ~0.5 ms per tool). The schema of a spec never changes.
    _schemas: ClassVar[dict[str, ToolSchema]] = {}

    def __init__(self, spec: ToolSpec, deps: ToolDeps, on_timing: TimingSink | None = None, *, agent: str = "") -> None:
        super().__init__(spec.args_model, _Result, spec.name, spec.description)
        self._spec = spec
        self._deps = deps
        self._on_timing = on_timing
        self._agent = agent

    @property
    def schema(self) -> ToolSchema:
        key = f"{self._spec.name}:{id(self._spec.args_model)}"
        cached = self._schemas.get(key)
        if cached is None:
            schema = super().schema
            if "parameters" in schema:
                parameters = compact_parameters(schema["parameters"])
                # the argument model still refuses unknown arguments; the model need not be told
                parameters.pop("additionalProperties", None)
                if parameters.get("required") == []:
                    del parameters["required"]
                schema["parameters"] = parameters
            cached = self._schemas[key] = schema
        return cached

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> Any:
        return await self._spec.func(self._deps, **args.model_dump())

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any:
        started = time.monotonic()
        try:
            try:
                parsed = self._args_type.model_validate(args)
            except ValidationError as exc:
                raise ToolError(describe_validation_error(self.name, exc)) from None
            gate = self._deps.approvals
            if gate is not None:  # every call passes the approval policy before it runs
                denial = await gate.check(self._agent, self.name, parsed.model_dump())
                if denial is not None:
                    return denial  # the model reads it as the tool's result and can adapt
            return await self.run(parsed, cancellation_token)
        except asyncio.CancelledError:
            logger.info("tool %s cancelled", self.name)
            return CANCELLED_RESULT
        except ToolError:
            raise
        except Exception:
            logger.exception("tool %s failed", self.name)
            raise
        finally:
            if self._on_timing is not None and call_id:
                self._on_timing(call_id, time.monotonic() - started)

    def return_value_as_string(self, value: Any) -> str:
        return value if isinstance(value, str) else str(value)
