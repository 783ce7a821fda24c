"""The tool registry: plain typed async functions become tools.

A tool is ``async def name(deps: ToolDeps, arg: T, ...) -> str``. Its name, docstring and the
signature after ``deps`` are exactly what the model sees; ``Annotated[T, "description"]`` documents
an argument. Dependencies arrive explicitly in :class:`ToolDeps`, never through globals.
Expected failures raise :class:`~backend.errors.ToolError`; the model receives the message.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..settings import Settings


class EventSink(Protocol):
    """Where a tool reports what clients should see (``todos``, ``question``, ...)."""

    def emit(self, type_: str, **fields: Any) -> None: ...


class QuestionAsker(Protocol):
    async def ask(self, question: str, options: list[str] | None) -> str: ...


class ReminderWaker(Protocol):
    def wake(self) -> None: ...


class ApprovalGate(Protocol):
    async def check(self, agent: str, tool: str, arguments: dict[str, Any]) -> str | None:
        """None: run the call; a string: denied, and that is the tool's result."""
        ...


@dataclass(frozen=True, slots=True)
class ToolDeps:
    """Everything a tool may use, for one session. Built by the session, passed to every call."""

    session_id: str
    settings: Settings
    store: Any  # backend.store.Store (typed loosely to keep this module free of SQL imports)
    events: EventSink
    questions: QuestionAsker | None = None
    reminders: ReminderWaker | None = None
    sandbox: Any = None  # backend.sandbox.SandboxManager | None
    timezone: str | None = None
    workflows: Any = None  # backend.workflows.WorkflowEngine | None (the run_workflow tool)
    approvals: ApprovalGate | None = None  # every call passes it before it runs


ToolFunc = Callable[..., Awaitable[str]]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    func: ToolFunc
    args_model: type[BaseModel]
    group: str

    def parameters_schema(self) -> dict[str, Any]:
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return schema

    def describe(self) -> dict[str, Any]:
        """What ``tools`` / ``GET /v1/skills`` return for this tool."""
        return {
            "name": self.name,
            "description": self.description,
            "group": self.group,
            "parameters": self.parameters_schema(),
        }


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").strip()
    return text


def args_model_for(func: ToolFunc) -> type[BaseModel]:
    """Build the pydantic model of a tool's arguments from its signature (``deps`` excluded)."""
    hints = typing.get_type_hints(func, include_extras=True)
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].name != "deps":
        raise TypeError(f"tool {func.__name__} must take `deps: ToolDeps` as its first parameter")
    fields: dict[str, Any] = {}
    for param in params[1:]:
        annotation = hints.get(param.name, str)
        description = None
        if typing.get_origin(annotation) is typing.Annotated:
            base, *extras = typing.get_args(annotation)
            description = next((e for e in extras if isinstance(e, str)), None)
            annotation = base
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=description))
    return create_model(f"{func.__name__}_args", __base__=_Args, **fields)


class ToolRegistry:
    """Name -> ToolSpec. Built-in tools register through the same path as any extension."""

    def __init__(self) -> None:
        self._specs: dict[str, ToolSpec] = {}

    def register(self, func: ToolFunc, *, group: str, name: str | None = None) -> ToolSpec:
        tool_name = name or func.__name__
        if tool_name in self._specs:
            raise ValueError(f"tool {tool_name!r} is already registered")
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"tool {tool_name!r} must be an async function")
        spec = ToolSpec(
            name=tool_name,
            description=_first_paragraph(func.__doc__),
            func=func,
            args_model=args_model_for(func),
            group=group,
        )
        self._specs[tool_name] = spec
        return spec

    def register_all(self, funcs: Iterable[ToolFunc], *, group: str) -> None:
        for func in funcs:
            self.register(func, group=group)

    def get(self, name: str) -> ToolSpec:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[ToolSpec]:
        return list(self._specs.values())

    def in_group(self, group: str) -> list[ToolSpec]:
        return [s for s in self._specs.values() if s.group == group]
