"""assigner, if-else/condition, template-transform and answer: pure functions of the run's view."""

from __future__ import annotations

import json

from ...errors import WorkflowError
from .. import expressions
from .base import NodeContext, NodeResult


async def assigner(ctx: NodeContext) -> NodeResult:
    """Write values into ``state`` (strings with ``{{ }}`` are rendered first)."""
    assignments = ctx.config.get("assignments")
    if not isinstance(assignments, dict):
        raise WorkflowError("config.assignments must be an object of state keys to values")
    updates = await ctx.render_value(assignments)
    ctx.check_json_size(updates)
    return NodeResult(output_json={"state_updates": updates}, state_updates=updates)


async def if_else(ctx: NodeContext) -> NodeResult:
    """Evaluate ``config.expression`` (simpleeval) and route along the "true" or "false" edges."""
    expression = str(ctx.config.get("expression"))
    result = expressions.truthy(expression, ctx.template_context())
    route = "true" if result else "false"
    return NodeResult(
        output_text=route,
        output_json={"condition_result": result, "route": route},
        route=route,
        inputs={"expression": expression},
    )


async def template_transform(ctx: NodeContext) -> NodeResult:
    """Render ``config.template``; with ``output_format: "json"`` the text is parsed into ``output``."""
    text = await ctx.render_text(str(ctx.config.get("template")))
    if ctx.config.get("output_format") == "json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise WorkflowError(f"the rendered template is not JSON: {exc}") from None
        return NodeResult(output_text=text, output_json=ctx.check_json_size(value))
    return NodeResult(output_text=text, output_json={"text": text})


async def answer(ctx: NodeContext) -> NodeResult:
    """The run's answer: ``config.template`` (or ``config.text``) rendered."""
    source = ctx.config.get("template") or ctx.config.get("text")
    text = await ctx.render_text(str(source))
    return NodeResult(output_text=text, output_json={"answer": text}, answer=text)
