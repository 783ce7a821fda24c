"""Answers to human nodes: delivered to a waiting node, or found in the store after a restart.

A human node's question id is saved in its node run (checkpoint and ``question_id`` column)
before the question is shown, so an answer that arrives while no node waits (the server restarted,
the node is not claimed again yet) is recorded on the question and picked up when it runs again;
a waiting node also re-reads its question every few seconds, for answers taken by another process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import WorkflowError
from ..store import Store
from ..store.workflows import RunRow

Emit = Callable[..., Awaitable[None]]  # (run, type, **fields)
RECHECK_SECONDS = 2.0


class HumanAnswers:
    def __init__(self, store: Store, emit: Emit) -> None:
        self._store = store
        self._emit = emit
        self._waiting: dict[str, asyncio.Future[str]] = {}

    async def answer(self, question_id: str, content: str) -> bool:
        """Deliver an answer (live or not). False: not a workflow's question, or no longer pending."""
        node_run = await self._store.workflows.node_run_for_question(question_id)
        if node_run is None:
            return False
        if not await self._store.questions.close(question_id, "answered", content):
            return False
        run = await self._store.workflows.get_run(node_run.run_id)
        if run is not None:
            await self._emit(run, "question_closed", question_id=question_id, status="answered", answer=content)
        future = self._waiting.get(question_id)
        if future is not None and not future.done():
            future.set_result(content)
        return True

    async def wait(self, question_id: str) -> str:
        """The answer, at once when it is already recorded, else when it arrives."""
        row = await self._store.questions.get(question_id)
        if row is not None and row.status == "answered":
            return str(row.answer)
        if row is not None and row.status != "pending":
            raise WorkflowError(f"the question was {row.status}")
        future = self._waiting.get(question_id)
        if future is None or future.done():
            future = self._waiting[question_id] = asyncio.get_running_loop().create_future()
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), RECHECK_SECONDS)
                except TimeoutError:
                    # In a cluster the answer may reach another process (the session's owner):
                    # it is recorded on the question, so look there too.
                    row = await self._store.questions.get(question_id)
                    if row is not None and row.status == "answered":
                        return str(row.answer)
                    if row is not None and row.status != "pending":
                        raise WorkflowError(f"the question was {row.status}") from None
        finally:
            self._waiting.pop(question_id, None)

    async def close_cancelled(self, run: RunRow, node_run_id: str) -> None:
        """A cancelled human node: its question is closed, not left pending."""
        for node_run in await self._store.workflows.node_runs(run.id):
            checkpoint: Any = node_run.checkpoint
            if node_run.id != node_run_id or not isinstance(checkpoint, dict):
                continue
            question_id = checkpoint.get("question_id")
            if question_id and await self._store.questions.close(question_id, "cancelled"):
                await self._emit(run, "question_closed", question_id=question_id, status="cancelled")
