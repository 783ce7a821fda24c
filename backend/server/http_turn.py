"""One session turn driven by a request/response HTTP face (OpenAI-compatible, the streaming agent's).

The request's text is submitted like any WebSocket message (``Session.submit``); the turn is then
followed through the session's own timeline frames. :class:`TurnWatch` is the pure bookkeeping;
:class:`HttpTurn` subscribes before submitting (nothing falls in between), yields the user-facing
text as it streams, ends a turn that asks a question (these clients cannot answer; the answer says
where to), and stops the turn when the client goes away before the end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..sessions.session import Session
from .event_stream import StreamSubscriber

if TYPE_CHECKING:
    from .app import App

KEEPALIVE_SECONDS = 15.0


class TurnWatch:
    """Follows one turn of a session through its timeline frames (pure bookkeeping)."""

    def __init__(self, after_seq: int, skip_dones: int) -> None:
        self.after_seq = after_seq
        self.skip = skip_dones
        self.text: list[str] = []
        self.response: str | None = None
        self.done: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.question: dict[str, Any] | None = None
        self.approval: dict[str, Any] | None = None

    def take(self, event: dict[str, Any]) -> str | None:
        """Feed one event; returns user-facing text to stream now (or None)."""
        seq = event.get("seq")
        if isinstance(seq, int) and seq <= self.after_seq:
            return None
        kind = event.get("type")
        if kind == "done":
            if self.skip:
                self.skip -= 1
                self.text, self.response, self.error = [], None, None
                return None
            self.done = event
        elif self.skip:
            return None
        elif kind == "delta":
            self.text.append(str(event.get("content", "")))
            return str(event.get("content", ""))
        elif kind == "response":
            self.response = str(event.get("content", ""))
        elif kind == "error":
            self.error = event
        elif kind == "question":
            self.question = event
        elif kind == "approval_request":
            self.approval = event
        return None

    @property
    def answer(self) -> str:
        return self.response if self.response is not None else "".join(self.text)

    @property
    def failed(self) -> bool:
        """The turn ended in an error without any answer."""
        return self.done is not None and self.done.get("status") == "error" and not self.answer

    @property
    def usage(self) -> tuple[int, int]:
        usage = (self.done or {}).get("usage") or {}
        return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


class HttpTurn:
    """A turn submitted over HTTP and followed to its ``done``."""

    def __init__(self, session: Session, subscriber: StreamSubscriber, watch: TurnWatch) -> None:
        self.session = session
        self._subscriber = subscriber
        self.watch = watch
        self.finished = False

    @classmethod
    async def start(cls, app: App, session: Session, content: str) -> HttpTurn:
        subscriber = StreamSubscriber()
        session.channel.subscribers.add(subscriber)
        state = await app.session_state(session)
        ahead = int(state["queued"]) + (1 if state["running"] else 0)  # turns whose done comes first
        try:
            ack = await session.submit(content)
        except BaseException:
            session.channel.subscribers.discard(subscriber)
            raise
        return cls(session, subscriber, TurnWatch(int(ack.get("seq") or 0), ahead))

    async def follow(self) -> AsyncIterator[str | None]:
        """User-facing text as it streams; ``None`` after KEEPALIVE_SECONDS of silence (send a
        keep-alive). Ends at the turn's ``done``. Closed early (the client went away): the turn stops."""
        watch = self.watch
        try:
            while watch.done is None:
                try:
                    frame = await asyncio.wait_for(self._subscriber.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                if frame is None:
                    return  # the server is shutting down (or the session was deleted)
                text = watch.take(json.loads(frame))
                if (watch.question is not None or watch.approval is not None) and watch.done is None:
                    await self.session.stop()  # these clients cannot answer here: end the turn
                if text:
                    yield text
            self.finished = True
        finally:
            self.close()
            if not self.finished:
                await asyncio.shield(self.session.stop())

    async def wait(self) -> None:
        """Follow the turn to its end without streaming."""
        async for _ in self.follow():
            pass

    def close(self) -> None:
        self.session.channel.subscribers.discard(self._subscriber)

    def final_text(self) -> str:
        """The answer; when the team asked a question, the answer says where to reply."""
        watch = self.watch
        if watch.approval is not None:
            tool = watch.approval.get("tool", "")
            return (
                f"{watch.answer}\n\n[The team asked for approval to run {tool}. Approvals are answered through "
                f"the session API: POST /v1/sessions/{self.session.id}/approvals/<approval_id>, or in the browser "
                "client. This request's turn was ended.]"
            ).strip()
        if watch.question is not None:
            return (
                f"{watch.answer}\n\n[The team asked: {watch.question.get('content', '')!s} — answer questions "
                f"through the session API: POST /v1/sessions/{self.session.id}/answers. This request's turn "
                "was ended.]"
            ).strip()
        return watch.answer

    def error_message(self) -> tuple[str, str | None]:
        error = self.watch.error or {}
        return str(error.get("message", "the turn failed")), error.get("code")

    def error_status(self) -> int:
        """The HTTP status of a failed turn: 504 when the model timed out, 502 otherwise."""
        return 504 if self.error_message()[1] == "model_timeout" else 502
