"""llm (one model call through the shared client and the context budget), agent (a team preset's turn)
and human (a durable question to the person)."""

from __future__ import annotations

import uuid
from typing import Any

from ...errors import WorkflowError
from .base import NodeContext, NodeResult

_ROLES = ("system", "user", "assistant")


async def llm(ctx: NodeContext) -> NodeResult:
    if ctx.model is None:
        raise WorkflowError("llm nodes need the chat server's model client")
    config = ctx.config
    messages: list[dict[str, str]] = []
    raw = config.get("messages")
    if raw:
        if not isinstance(raw, list):
            raise WorkflowError("config.messages must be a list of {role, content}")
        for item in raw:
            if not isinstance(item, dict) or item.get("role") not in _ROLES:
                raise WorkflowError(f"config.messages: each message needs a role among {_ROLES}")
            messages.append({"role": item["role"], "content": await ctx.render_text(str(item.get("content", "")))})
    else:
        if config.get("system_prompt"):
            messages.append({"role": "system", "content": await ctx.render_text(str(config["system_prompt"]))})
        messages.append({"role": "user", "content": await ctx.render_text(str(config.get("prompt")))})
    temperature = config.get("temperature")
    max_tokens = config.get("max_tokens")
    if temperature is not None and not isinstance(temperature, (int, float)):
        raise WorkflowError("config.temperature must be a number")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise WorkflowError("config.max_tokens must be a positive integer")
    text, usage = await ctx.model(messages, temperature=temperature, max_tokens=max_tokens)
    return NodeResult(
        output_text=ctx.cap_text(text),
        output_json={"text": ctx.cap_text(text), "usage": usage},
        inputs={"messages": messages, "temperature": temperature, "max_tokens": max_tokens},
    )


async def agent(ctx: NodeContext) -> NodeResult:
    """Run a team preset (``config.team``, default the server's TEAM) on the prompt; its events
    stream into the session like any turn; the final answer is the node's text."""
    if ctx.host is None:
        raise WorkflowError("agent nodes need the chat server")
    session_id = ctx.require_session("an agent node")
    prompt = await ctx.render_text(str(ctx.config.get("prompt")))
    team = ctx.config.get("team")
    text = await ctx.host.run_agent(session_id, str(team) if team else None, prompt)
    return NodeResult(
        output_text=ctx.cap_text(text),
        output_json={"text": ctx.cap_text(text), "team": team},
        inputs={"prompt": prompt},
    )


async def human(ctx: NodeContext) -> NodeResult:
    """Ask the person (the session's question mechanism) and wait, across restarts, for the answer."""
    if ctx.host is None:
        raise WorkflowError("human nodes need the chat server")
    session_id = ctx.require_session("a human node")
    saved: dict[str, Any] = ctx.checkpoint if isinstance(ctx.checkpoint, dict) else {}
    question_id = saved.get("question_id")
    question = saved.get("question")
    options = ctx.config.get("options")
    if question_id is None:
        question = await ctx.render_text(str(ctx.config.get("question")))
        if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
            raise WorkflowError("config.options must be a list of strings")
        question_id = uuid.uuid4().hex[:12]
        # checkpoint first: a crash between the two leaves a known id, never an orphan question
        await ctx.save_checkpoint({"question_id": question_id, "question": question}, question_id)
        row = await ctx.store.questions.add(question_id, session_id, question, options)
        await ctx.host.emit(session_id, "question", **row.to_event())
    elif await ctx.store.questions.get(question_id) is None:
        row = await ctx.store.questions.add(question_id, session_id, str(question), options)
        await ctx.host.emit(session_id, "question", **row.to_event())
    answer = await ctx.wait_answer(str(question_id))
    return NodeResult(
        output_text=answer,
        output_json={"answer": answer, "question_id": question_id},
        inputs={"question": question, "options": options},
    )
