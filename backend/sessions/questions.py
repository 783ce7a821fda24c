"""Questions a session's team is waiting on: durable, answerable from any attached client."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import AgentChatError, ToolError
from ..store import QuestionRow, Store

logger = logging.getLogger(__name__)

Emit = Callable[..., Any]


class QuestionBroker:
    """Implements ``QuestionAsker`` for the tools; the session routes ``answer`` frames here."""

    def __init__(self, session_id: str, store: Store, emit: Emit, *, timeout: float | None = None) -> None:
        self._session_id = session_id
        self._store = store
        self._emit = emit
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._detached = False

    async def ask(self, question: str, options: list[str] | None) -> str:
        question_id = uuid.uuid4().hex[:12]
        row = await self._store.questions.add(question_id, self._session_id, question, options)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[question_id] = future
        expiry = {"timeout_s": self._timeout, "expires_at": time.time() + self._timeout} if self._timeout else {}
        self._emit("question", **row.to_event(), **expiry)
        try:
            if self._timeout is None:
                return await future
            try:
                return await asyncio.wait_for(future, self._timeout)
            except TimeoutError:
                await self._close(question_id, "expired")
                raise ToolError(f"the user did not answer within {self._timeout:g} s") from None
        except asyncio.CancelledError:
            if not self._detached:  # stopped by the user; a shutdown keeps the question pending
                await asyncio.shield(self._close(question_id, "cancelled"))
            raise
        finally:
            self._waiting.pop(question_id, None)

    async def answer(self, question_id: str, content: str) -> bool:
        """Deliver an answer to a waiting tool. False when no live tool is waiting for it."""
        future = self._waiting.get(question_id)
        if future is None or future.done():
            return False
        if not await self._store.questions.close(question_id, "answered", content):
            return False
        if future.done():
            return False
        self._emit("question_closed", question_id=question_id, status="answered", answer=content)
        future.set_result(content)
        return True

    async def answer_offline(self, question_id: str, content: str) -> QuestionRow:
        """Answer a question whose tool call is gone (the server restarted since it was asked)."""
        row = await self._store.questions.get(question_id)
        if row is None or row.session_id != self._session_id:
            raise AgentChatError(f"unknown question {question_id!r}", code="unknown_question")
        if row.status != "pending" or not await self._store.questions.close(question_id, "answered", content):
            raise AgentChatError(f"question {question_id!r} is already {row.status}", code="question_closed")
        self._emit("question_closed", question_id=question_id, status="answered", answer=content)
        return row

    def is_live(self, question_id: str) -> bool:
        return question_id in self._waiting

    async def cancel_all(self) -> None:
        for question_id, future in list(self._waiting.items()):
            if not future.done():
                future.cancel()
            await self._close(question_id, "cancelled")

    def detach(self) -> None:
        """Server shutdown: stop waiting but keep the questions pending, to be answered after restart."""
        self._detached = True
        for future in self._waiting.values():
            if not future.done():
                future.cancel()

    async def pending(self) -> list[QuestionRow]:
        return await self._store.questions.pending(self._session_id)

    async def _close(self, question_id: str, status: str) -> None:
        if await self._store.questions.close(question_id, status):
            self._emit("question_closed", question_id=question_id, status=status)
