"""ask_user_question: the team asks the user something in the middle of a task."""

from __future__ import annotations

from typing import Annotated

from ..errors import ToolError
from .registry import ToolDeps

MAX_OPTIONS = 10


async def ask_user_question(
    deps: ToolDeps,
    question: str,
    options: Annotated[list[str] | None, "Answers to pick from"] = None,
) -> str:
    """Ask the user something only they know; waits for the answer."""
    question = question.strip()
    if not question:
        raise ToolError("question must not be empty")
    cleaned = [o.strip() for o in options or [] if o and o.strip()]
    if len(cleaned) > MAX_OPTIONS:
        raise ToolError(f"at most {MAX_OPTIONS} options")
    if deps.questions is None:
        raise ToolError("no user is available to answer questions")
    answer = await deps.questions.ask(question, cleaned or None)
    return f"The user answered: {answer}"


TOOLS = [ask_user_question]
