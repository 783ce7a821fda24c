"""The team's tools. Each module exports ``TOOLS``: plain typed async functions."""

from __future__ import annotations

from .registry import ToolDeps, ToolRegistry, ToolSpec

__all__ = ["ToolDeps", "ToolRegistry", "ToolSpec", "default_registry"]

#: Module -> group name. The group is what team presets refer to ("tools": ["todos", ...]).
BUILTIN_GROUPS = {
    "terminal": "terminal",
    "todos": "todos",
    "reminders": "reminders",
    "questions": "questions",
    "sandbox_tools": "sandbox",
    "workflows": "workflows",
}


def default_registry() -> ToolRegistry:
    """Every built-in tool, registered through the same path an extension would use."""
    import importlib

    registry = ToolRegistry()
    for module_name, group in BUILTIN_GROUPS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        registry.register_all(module.TOOLS, group=group)
    return registry
