"""One WebSocket connection: read frames, dispatch typed requests, deliver events.

A connection watches any number of sessions (``resume``/``message`` attach it) and has a
*current* session used when a request names none. ``deliver`` never awaits: frames go into an
outbox that one writer task drains in order (a tick's worth of frames per wake-up). A client too
slow to keep up (outbox over ``MAX_WRITE_BUFFER``) is closed with 1013 and can ``resume``. Every
close goes through the writer, after the frames before it, with its documented code (1008 for
rate limit and authentication, 1013 for a slow client).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import protocol as p
from ..errors import AgentChatError, AuthError, ForbiddenError, ProtocolError
from ..identity.principal import ANONYMOUS, Principal
from ..protocol import encode, error_event
from .audit import AUDITED_COMMANDS, record_command
from .http import token_matches
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from ..sessions.session import Session
    from .app import App

logger = logging.getLogger(__name__)

MAX_WRITE_BUFFER = 8 * 1024 * 1024
#: stored events sent per page when a client resumes (the next page waits for the outbox to drain)
REPLAY_PAGE = 500
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
#: How long a close may wait for the frames before it to be written.
CLOSE_GRACE_SECONDS = 5.0


class Connection:
    def __init__(self, ws: WebSocket, app: App, *, authenticated: bool, principal: Principal = ANONYMOUS) -> None:
        self.ws = ws
        self.app = app
        self.authenticated = authenticated
        #: who this socket acts as (AUTH_MODE=keys: the key or signed-in user; else the local principal)
        self.principal = principal
        self._recheck = app.settings.effective_auth_mode == "keys"
        self.current: str | None = None
        self.watching: dict[str, Session] = {}
        s = app.settings
        self.limiter = TokenBucket(s.rate_limit_messages, s.rate_limit_window)
        self.address = app.client_address(ws)
        self._closing = False
        self._close: tuple[int, str] | None = None
        self._outbox: deque[str] = deque()
        self._pending = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set by the writer whenever the outbox is empty
        self._auth_timer: asyncio.TimerHandle | None = None

    # --- Subscriber -----------------------------------------------------------------------------------
    def deliver(self, frame: str) -> None:
        if self._closing:
            return
        if self._pending > MAX_WRITE_BUFFER:  # checked before adding: a frame into a short outbox always goes
            self._outbox.clear()
            self._pending = 0
            self._close_soon(TRY_AGAIN_LATER, "client too slow; reconnect and resume")
            return
        self._pending += len(frame)
        self._outbox.append(frame)
        self._wake.set()

    async def _until_drained(self) -> None:
        """Wait until the writer has sent everything queued so far (backpressure for replays)."""
        while self._outbox and not self._closing:
            self._drained.clear()
            await self._drained.wait()

    def reply(self, body: dict[str, Any]) -> None:
        self.deliver(encode(body))

    def _close_soon(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._close = (code, reason)
            self._wake.set()

    async def _writer(self) -> None:
        """Send the outbox in order; then, once closing, the close frame."""
        send = self.ws.send
        outbox = self._outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                frame = outbox.popleft()
                self._pending -= len(frame)
                await send({"type": "websocket.send", "text": frame})
            self._drained.set()
            if self._close is not None:
                code, reason = self._close
                await send({"type": "websocket.close", "code": code, "reason": reason})
                return

    # --- main loop ------------------------------------------------------------------------------------
    async def run(self) -> None:
        writer = asyncio.get_running_loop().create_task(self._writer())
        if not self.authenticated:
            timeout = self.app.settings.auth_timeout
            self._auth_timer = asyncio.get_running_loop().call_later(timeout, self._auth_expired)
        receive = self.ws.receive
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                if self._closing:
                    continue  # read until the peer answers our close
                text = message.get("text")
                await self.handle(text if text is not None else message.get("bytes") or b"")
                if writer.done():
                    break
        except (WebSocketDisconnect, OSError):
            pass
        finally:
            if self._auth_timer is not None:
                self._auth_timer.cancel()
            self.detach_all()
            await self._finish_writer(writer)

    async def _finish_writer(self, writer: asyncio.Task[None]) -> None:
        """Let a pending close go out (bounded), then stop the writer; a peer gone first is fine."""
        if self._closing and not writer.done():
            await asyncio.wait({writer}, timeout=CLOSE_GRACE_SECONDS)
        if not writer.done():
            writer.cancel()
            await asyncio.wait({writer})
        if writer.cancelled():
            return
        exc = writer.exception()
        if exc is not None and not isinstance(exc, (WebSocketDisconnect, OSError)):
            logger.error("WebSocket writer failed", exc_info=exc)

    def detach_all(self) -> None:
        for session in self.watching.values():
            session.channel.subscribers.discard(self)
            session.touch()
        self.watching.clear()

    def _auth_expired(self) -> None:
        self._auth_timer = None
        if not self.authenticated:
            self.reply(error_event("unauthorized", "authentication timed out"))
            self._close_soon(POLICY_VIOLATION, "authentication timeout")

    async def handle(self, frame: str | bytes) -> None:
        if not self.limiter.allow():
            if self.limiter.strikes >= self.app.settings.rate_limit_strikes:
                self._close_soon(POLICY_VIOLATION, "rate limit exceeded")
                return
            self.reply(error_event("rate_limited", "too many messages; slow down", self.current))
            return
        session_id = self.current
        command: str | None = None
        code: str | None = None
        started = time.monotonic()
        try:
            request = p.parse_frame(frame)
            command = request.type
            session_id = getattr(request, "session_id", None) or self.current
            if not self.authenticated:
                code = await self._authenticate(request)
                return
            if self._recheck and not await self.app.sessions.services.accounts.still_valid(self.principal):
                code = "unauthorized"
                self.reply(error_event("unauthorized", "this connection's credentials are no longer valid"))
                self._close_soon(POLICY_VIOLATION, "unauthorized")
                return
            handler = getattr(self, "on_" + request.type, None) or self.on_sandbox
            await handler(request)
        except AgentChatError as exc:
            code = exc.code
            self.reply(error_event(exc.code, exc.message, session_id))
        except Exception:
            code = "internal_error"
            # A bug in one frame's handler must not close the connection (protocol.md promises an
            # error frame and an open socket): log it once with an id the client also gets.
            request_id = secrets.token_hex(6)
            self.app.counters.internal_errors += 1
            logger.exception("internal error handling a frame (request %s)", request_id)
            message = f"internal error (request {request_id}); the connection stays open"
            self.reply(error_event("internal_error", message, session_id, request_id=request_id))
        finally:
            if self._recheck and command in AUDITED_COMMANDS:
                caller = self.principal if self.authenticated else None
                await record_command(
                    self.app,
                    caller,
                    address=self.address,
                    command=command,
                    session_id=session_id or self.current,
                    code=code,
                    started=started,
                )

    async def _authenticate(self, request: p.Request) -> str | None:
        """The first frame of an unauthenticated socket; returns the error code it ended with."""
        throttle = self.app.auth_throttle
        if throttle.blocked(self.address):
            self.reply(error_event("unauthorized", "too many failed authentications; try again later"))
            self._close_soon(POLICY_VIOLATION, "too many failed authentications")
            return "unauthorized"
        if isinstance(request, p.AuthRequest) and await self._credential_ok(request.token):
            self.authenticated = True
            if self._auth_timer is not None:
                self._auth_timer.cancel()
                self._auth_timer = None
            self.reply(p.event("auth", ok=True))
            return None
        if isinstance(request, p.AuthRequest):
            throttle.failed(self.address)
        self.reply(error_event("unauthorized", 'send {"type":"auth","token":...} first'))
        self._close_soon(POLICY_VIOLATION, "unauthorized")
        return "unauthorized"

    async def _credential_ok(self, token: str) -> bool:
        """The ``auth`` frame's credential: AUTH_TOKEN, or in keys mode an API key or login token."""
        if not self._recheck:
            return token_matches(self.app.settings.auth_token, token)
        try:
            caller = await self.app.sessions.services.accounts.authenticate(token)
            caller.check_tenant_header(self.ws.headers.get("x-tenant-id"))
        except (AuthError, ForbiddenError):
            return False
        self.principal = caller
        return True

    # --- helpers --------------------------------------------------------------------------------------
    async def session(self, session_id: str | None) -> Session:
        sid = session_id or self.current
        if sid is None:
            raise AgentChatError("no session: send a message or resume one first", code="no_session")
        return await self.app.sessions.get(sid, self.principal)

    def attach(self, session: Session) -> None:
        self.watching[session.id] = session
        session.channel.subscribers.add(self)
        self.current = session.id
        session.touch()

    async def send_session_state(self, session: Session, **extra: Any) -> None:
        self.reply(p.event("session", session.id, **await self.app.session_state(session), **extra))

    # --- handlers: one per request type -------------------------------------------------------------
    async def on_message(self, request: p.MessageRequest) -> None:
        if self._recheck and await self.app.sessions.services.accounts.token_budget_wait(self.principal) > 0:
            raise AgentChatError(
                "your model tokens for today are used up (CALLER_TOKENS_PER_DAY)", code="quota_exceeded"
            )
        if request.session_id or (request.plain and self.current in self.watching):
            session = await self.app.sessions.get(request.session_id or self.current, self.principal)  # type: ignore[arg-type]
            created = False
        else:
            session = await self.app.sessions.create(timezone=request.tz, caller=self.principal)
            created = True
        await session.set_timezone(request.tz)
        if session.id not in self.watching:
            self.attach(session)
            await self.send_session_state(session, created=created)
        self.current = session.id
        await session.submit(request.content, client_id=request.client_id)

    async def on_new(self, request: p.NewSessionRequest) -> None:
        session = await self.app.sessions.create(timezone=request.tz, title=request.title, caller=self.principal)
        self.attach(session)
        await self.send_session_state(session, created=True)

    async def on_resume(self, request: p.ResumeRequest) -> None:
        session = await self.app.sessions.get(request.session_id, self.principal)
        await session.set_timezone(request.tz)
        # Stored history, then live: frames emitted while reading are buffered, none lost or doubled.
        # The history goes out in pages, each after the previous one has left the outbox, so a long
        # session is replayed with bounded memory and never trips the slow-client limit.
        replay = await self.app.hub.replay(session.channel, request.last_seq, limit=REPLAY_PAGE)
        replayed = 0
        try:
            await self.send_session_state(session, replay=len(replay.frames), resumed_from=request.last_seq)
            while True:
                for frame in replay.frames:
                    self.deliver(frame)
                replayed += len(replay.frames)
                if len(replay.frames) < REPLAY_PAGE or self._closing:
                    break
                await self._until_drained()
                await self.app.hub.replay_more(replay, REPLAY_PAGE)
        except BaseException:
            replay.detach()
            raise
        replay.attach(self)
        self.attach(session)
        self.reply(p.event("resumed", session.id, last_seq=session.channel.last_seq, replayed=replayed))

    async def on_stop(self, request: p.StopRequest) -> None:
        session = await self.session(request.session_id)
        if not await session.stop():
            self.reply(p.event("stopped", session.id, running=False))

    async def on_answer(self, request: p.AnswerRequest) -> None:
        await (await self.session(request.session_id)).answer(request.question_id, request.content)

    async def on_approval(self, request: p.ApprovalRequest) -> None:
        session = await self.session(request.session_id)
        await session.decide_approval(request.approval_id, request.decision, request.note, by="user")

    async def on_approval_revoke(self, request: p.ApprovalRevokeRequest) -> None:
        await (await self.session(request.session_id)).revoke_grant(request.grant)

    async def on_history(self, request: p.HistoryRequest) -> None:
        session = await self.session(request.session_id)
        frames = await self.app.timeline(session, request.after_seq, request.limit)
        self.deliver(f'{{"type":"history","session_id":"{session.id}","events":[{",".join(frames)}]}}')

    async def on_sessions(self, request: p.SessionsRequest) -> None:
        self.reply(p.event("sessions", sessions=await self.app.sessions.list(self.principal)))

    async def on_delete(self, request: p.DeleteRequest) -> None:
        await self.session(request.session_id)  # another caller's session: unknown_session
        await self.app.delete_session(request.session_id, requester=self)

    async def on_reset(self, request: p.ResetRequest) -> None:
        session = await self.session(request.session_id)
        fresh = await self.app.sessions.reset(session.id)
        for watcher in fresh.channel.subscribers:
            if isinstance(watcher, Connection):
                watcher.watching[fresh.id] = fresh

    async def on_rename(self, request: p.RenameRequest) -> None:
        session = await self.session(request.session_id)
        await self.app.store.sessions.set_title(session.id, request.title)
        session.title = request.title
        self.reply(p.event("renamed", session.id, title=request.title))

    async def on_ping(self, request: p.PingRequest) -> None:
        self.reply(p.event("pong", self.current))

    async def on_auth(self, request: p.AuthRequest) -> None:
        self.reply(p.event("auth", ok=True))

    async def on_tools(self, request: p.ToolsRequest) -> None:
        self.reply(p.event("tools", tools=await self.app.describe_tools()))

    # todos and reminders: the same functions the model calls, without the model
    async def on_todo_list(self, request: p.TodoListRequest) -> None:
        session = await self.session(request.session_id)
        self.reply(p.event("todos", session.id, todos=await self.app.todos_snapshot(session.id, request.status)))

    async def on_todo_add(self, request: p.TodoAddRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "add_todo", request, self)

    async def on_todo_update(self, request: p.TodoUpdateRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "update_todo", request, self)

    async def on_todo_complete(self, request: p.TodoCompleteRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "complete_todo", request, self)

    async def on_todo_delete(self, request: p.TodoDeleteRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "delete_todo", request, self)

    async def on_reminder_list(self, request: p.ReminderListRequest) -> None:
        session = await self.session(request.session_id)
        self.reply(p.event("reminders", session.id, reminders=await self.app.reminders_snapshot(session.id)))

    async def on_reminder_add(self, request: p.ReminderAddRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "schedule_reminder", request, self)

    async def on_reminder_cancel(self, request: p.ReminderCancelRequest) -> None:
        await self.app.run_client_tool(await self.session(request.session_id), "cancel_reminder", request, self)

    async def on_sandbox(self, request: p.Request) -> None:
        if not isinstance(request, p.SandboxRequest):  # pragma: no cover - every type has a handler
            raise ProtocolError(f"unhandled request type {request.type}")
        session = await self.session(request.session_id)
        action = request.type.removeprefix("sandbox_")
        result = await self.app.sandboxes.action(session.id, action, tail=request.tail)
        self.reply(p.event(request.type, session.id, **result))
