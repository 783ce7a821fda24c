"""One chat session: its turn queue, its (lazily built) team, and everything it emits.

Turns run strictly one at a time. A user message is acknowledged only after it is committed
(together with its inbox row); a turn's team state, the inbox rows it consumed and its ``done``
event are committed in one transaction. After a cancel or an error the team object is dropped
and rebuilt from the last saved state before the next turn (a team reused after a cancel breaks,
autogen#7007).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autogen_core.tools import ToolSchema

from ..errors import AgentChatError, BusyError, ToolError
from ..store import SessionRow, SpanRow, Tx
from ..team.builder import BuiltTeam, TeamHooks
from ..team.runner import TurnRunner
from ..tools.mcp import McpConnection, valid_schema
from ..tools.mcp_config import tool_name
from ..tools.registry import ToolDeps
from ..tools.terminal import execute_command, parse_explicit_command
from ..workflows.commands import is_run_command
from .admission import Ticket
from .approvals import ApprovalBroker
from .hub import Channel, LeaseLostError, frame_seq
from .questions import QuestionBroker
from .services import Services
from .tracing import TurnTrace
from .turns import NOTE_CHARS, Turn, as_context, describe_error, trim_thread
from .workflow_turn import run_from_reminder, run_workflow_turn

if TYPE_CHECKING:
    from ..context.model_context import ContextReport

logger = logging.getLogger(__name__)

THREAD_KEEP = 12  # group-chat manager messages kept in saved state (the rest is in the contexts)
TITLE_CHARS = 60
CATCH_UP_BATCH = 500


class Session:
    def __init__(self, row: SessionRow, services: Services, *, epoch: int | None = 0) -> None:
        """``epoch``: the lease this process holds (0 with SQLite), or None: another process owns it."""
        self.id = row.id
        self.title = row.title
        self.timezone = row.timezone
        #: who owns it: a caller sees its own sessions, a tenant admin its tenant's (identity/principal.py)
        self.tenant = row.tenant
        self.owner = row.owner
        self.services = services
        #: True when this process runs the session's turns; False: a follower (see cluster.py).
        self.owned = epoch is not None
        fenced = epoch if services.store.shared else None
        self.channel = Channel(row.id, row.last_seq, epoch=fenced)
        self.channel.on_lost = self.lease_lost
        self.promote_lock = asyncio.Lock()
        self._command_lock = asyncio.Lock()
        self._catching_up = False
        self._catch_again = False
        self.questions = QuestionBroker(row.id, services.store, self.emit, timeout=services.settings.question_timeout)
        self.approvals = ApprovalBroker(
            row.id, services.store, self.emit, timeout=services.settings.approval_timeout,
            policy=services.settings.approval_policy, overrides=services.factory.spec.approvals,
            groups={spec.name: spec.group for spec in services.tools.specs()},
        )  # fmt: skip
        self.last_active = time.monotonic()
        self._team: BuiltTeam | None = None
        self._queue: deque[Turn] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._current: Turn | None = None
        self._reports: dict[str, ContextReport] = {}
        self._tool_durations: dict[str, float] = {}
        self._closed = False
        #: a turn's end that was delivered live but could not be stored yet (see _commit)
        self._unstored_done: dict[str, Any] | None = None
        self._compaction: asyncio.Task[None] | None = None
        #: this session's connections to the MCP servers (started lazily, closed with the session)
        self._mcp: dict[str, McpConnection] = {}
        #: the running turn's admission (services.turn_gate) until its first model request goes out
        self._admission: Ticket | None = None

    # --- EventSink ------------------------------------------------------------------------------------
    def emit(self, type_: str, **fields: Any) -> None:
        turn = self._current
        if turn is not None and turn.trace is not None:
            turn.trace.event(type_, fields, time.monotonic())
        if not self.owned:  # only the owner writes the timeline: ask it to emit this
            self.services.cluster.spawn(self._route("emit", {"type": type_, "fields": fields}), f"emit-{self.id}")
            return
        self.services.hub.emit(self.channel, type_, **fields)

    @property
    def deps(self) -> ToolDeps:
        s = self.services
        return ToolDeps(
            session_id=self.id,
            settings=s.settings,
            store=s.store,
            events=self,
            questions=self.questions,
            reminders=s.reminders,
            sandbox=s.sandbox,
            timezone=self.timezone or s.settings.default_timezone,
            workflows=s.workflows,
            approvals=self.approvals,
        )

    @property
    def running(self) -> bool:
        return self._current is not None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return self._current is None and not self._queue and not self.channel.subscribers

    def touch(self) -> None:
        self.last_active = time.monotonic()

    async def set_timezone(self, tz: str | None) -> None:
        if tz and tz != self.timezone:
            self.timezone = tz
            await self.services.store.sessions.set_timezone(self.id, tz)
            if not self.running:
                self._team = None  # tools are rebuilt with the new zone on the next turn

    # --- input ----------------------------------------------------------------------------------------
    async def submit(
        self, content: str, *, client_id: str | None = None, command_id: int | None = None
    ) -> dict[str, Any]:
        """Persist the message (the acknowledgement is sent only after the commit) and queue its turn.

        On a follower the message goes to the owner as a command (its ``user_message`` arrives
        like every other event); ``command_id``: the command this message came in (taken in the
        same transaction as the acknowledgement, so it is acted on once)."""
        if not await self._route("message", {"content": content, "client_id": client_id}):
            return {"message_id": None, "seq": None, "forwarded": True}
        if self._closed:
            raise AgentChatError("this session was closed", code="session_closed")
        if len(self._queue) >= self.services.settings.max_queued_messages:
            raise BusyError(f"{len(self._queue)} messages are already queued; wait for the team to catch up")
        self.touch()
        hub, store = self.services.hub, self.services.store
        workflow = self.services.workflows is not None and is_run_command(content)
        command = None if workflow else parse_explicit_command(content)
        message_id = uuid.uuid4().hex[:12]
        fields: dict[str, Any] = {"content": content, "message_id": message_id}
        if client_id:
            fields["client_id"] = client_id
        seq = 0
        # the first message names the session, in the same transaction (a burst of first messages
        # would otherwise queue one more write transaction each ahead of every session's events)
        title = " ".join(content.split())[:TITLE_CHARS] if self.title is None else None

        async def add_inbox(tx: Tx, body: dict[str, Any]) -> asyncio.Future[int]:
            nonlocal seq
            seq = body["seq"]
            if command_id is not None:
                await store.commands.take(command_id, tx=tx)
            if title is not None:
                await store.sessions.set_title_if_empty(self.id, title, tx=tx)
            # the row's id is needed only after the commit: no trip to the store of its own
            return await store.state.add_inbox_at_commit(self.id, "user", "user", content, seq=seq, tx=tx)

        committed: asyncio.Future[int] = await hub.commit(self.channel, "user_message", add_inbox, **fields)
        inbox_id = await committed
        turn = Turn(
            inbox_id=inbox_id, content=content, command=command, client_id=client_id, workflow=workflow, seq=seq
        )
        waits = self.running or bool(self._queue)
        position = len(self._queue) + 1
        self._queue.append(turn)
        self._ensure_worker()
        if waits:  # queued synchronously here: its seq comes before anything the turn emits
            await hub.emit_now(self.channel, "queued", message_id=message_id, position=position)
        if title is not None and self.title is None:
            self.title = title  # (a title set meanwhile elsewhere stays in the store: the update is guarded)
        return {"message_id": message_id, "seq": seq}

    async def stop(self) -> bool:
        """Cancel the running turn (queued turns stay queued). False when nothing was running
        (on a follower: True, the stop was sent to the owner)."""
        if not await self._route("stop", {}):
            return True
        turn = self._current
        await self.questions.cancel_all()
        self.approvals.cancel_all()  # stop denies what is pending
        if turn is None or turn.finished:
            return False
        turn.token.cancel()
        task = self._turn_task
        if task is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.services.settings.stop_watchdog_seconds, self._watchdog, turn, task)
        return True

    def _watchdog(self, turn: Turn, task: asyncio.Task[None]) -> None:
        """The team did not honour the cancel in time: abandon it (it is rebuilt from saved state)."""
        if not task.done() and not turn.finished:
            logger.warning("session %s: turn did not stop within the watchdog; abandoning the team", self.id)
            task.cancel()

    async def answer(self, question_id: str, content: str) -> None:
        """Route an answer to the waiting tool or workflow, or (after a restart) turn it into the next message."""
        self.touch()
        if not await self._route("answer", {"question_id": question_id, "content": content}):
            return
        if await self.questions.answer(question_id, content):
            return
        workflows = self.services.workflows
        if workflows is not None and await workflows.answer(question_id, content):
            return
        row = await self.questions.answer_offline(question_id, content)
        await self.submit(f'Answer to your earlier question "{row.question}": {content}')

    async def decide_approval(self, approval_id: str, decision: str, note: str | None, by: str) -> None:
        """The first decision on a pending approval, from any client. Decided after a restart (its
        call ended with the interrupted turn): recorded, and the team hears of it as context."""
        self.touch()
        payload = {"approval_id": approval_id, "decision": decision, "note": note, "by": by}
        if not await self._route("approval", payload):
            return
        if await self.approvals.decide(approval_id, decision, note, by):
            return
        row = await self.services.store.approvals.get(approval_id)
        if row is not None:
            verb = "denied" if decision == "deny" else "allowed"
            arguments = json.dumps(row.arguments, ensure_ascii=False)[:300]
            why = f": {note}" if note else ""
            text = f"[After the turn that asked was interrupted, the user {verb} {row.tool} {arguments}{why}]"
            await self.services.store.state.add_inbox(self.id, "note", "user", text)

    async def revoke_grant(self, grant: str) -> None:
        """Revoke an allow_always grant of this session."""
        if not await self._route("approval_revoke", {"grant": grant}):
            return
        await self.approvals.revoke(grant)

    # --- the worker -----------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"session-{self.id}")

    async def _restate_unstored_done(self) -> None:
        """Write the error + done that could only be delivered live (the store accepts writes again)."""
        fields, self._unstored_done = self._unstored_done, None
        if fields is None:
            return
        try:
            await self.services.hub.commit(
                self.channel, "error", None, code="store_unavailable",
                message="the previous turn ended while its end could not be saved; it is stated here now",
            )  # fmt: skip
            await self.services.hub.commit(self.channel, "done", None, **fields)
        except LeaseLostError:
            raise
        except Exception:
            self._unstored_done = fields  # still failing: try again before the next turn
            raise

    async def _work(self) -> None:
        while self._queue and not self._closed:
            if self._unstored_done is not None:
                try:
                    await self._restate_unstored_done()
                except LeaseLostError:
                    raise
                except Exception:
                    logger.warning("session %s: the store still refuses writes", self.id)
            turn = self._queue.popleft()
            self._current = turn
            turn.started = time.monotonic()
            turn.trace = TurnTrace(turn.seq, time.time(), turn.started, model=self.services.model_name)
            if turn.workflow:
                runner = run_workflow_turn(self, turn)
            elif turn.command is not None:
                runner = self._run_command_turn(turn)
            else:
                runner = self._run_model_turn(turn)
            self._turn_task = asyncio.get_running_loop().create_task(runner)
            task = self._turn_task
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():  # this worker was cancelled (shutdown): take the turn with it
                    task.cancel()
                    raise
                # the turn task itself was cancelled (stop watchdog or close)
                if not turn.finished:
                    await self._finish_failed(turn, "cancelled", None)
            except Exception as exc:  # a bug in our turn code: report it, keep the session usable
                logger.exception("session %s: turn crashed", self.id)
                if not turn.finished:
                    await self._finish_failed(turn, "error", exc)
            finally:
                self._current = None
                self._turn_task = None
                self.touch()

    async def _run_command_turn(self, turn: Turn) -> None:
        assert turn.command is not None
        call_id = f"term_{uuid.uuid4().hex[:8]}"
        self.emit(
            "tool_call", id=call_id, agent="terminal", name="run_terminal_command", arguments={"command": turn.command}
        )
        started = time.monotonic()
        try:
            outcome = await execute_command(
                turn.command, settings=self.services.settings, sandbox=self.services.sandbox, session_id=self.id
            )
            text = outcome.text
            is_error = outcome.refused is not None or outcome.exit_code not in (0, None)
        except ToolError as exc:  # cannot run at all (no sandbox, missing workdir)
            text, is_error = exc.message, True
        self.emit(
            "tool_result",
            id=call_id,
            agent="terminal",
            name="run_terminal_command",
            content=text,
            is_error=is_error,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        answer = f"```\n{text}\n```"
        self.emit("response", content=answer, agent="terminal")
        note = f"[The user ran `{turn.command}` directly in the terminal.]\n{text}"
        await self._commit(turn, "ok", state=None, consumed=[turn.inbox_id], notes=[("terminal", note)])

    async def _run_model_turn(self, turn: Turn) -> None:
        # MCP servers may take seconds to start: listed before admission, not while holding a slot.
        mcp_tools = await self._mcp_tools() if self._team is None and self.services.mcp.servers else ()
        ticket = await self._admit(turn)
        if ticket is None:  # stopped while it waited for admission
            await self._finish_failed(turn, "cancelled", None)
            return
        self._admission = ticket
        try:
            await self._model_turn(turn, mcp_tools)
        finally:
            self._admission = None
            ticket.release()  # no-op once the first model request released it

    async def _admit(self, turn: Turn) -> Ticket | None:
        """A slot of the process's turn-start gate (FIFO); None when the turn is stopped while waiting."""
        gate = self.services.turn_gate
        ticket = gate.try_acquire()
        if ticket is not None:
            return ticket
        waiter = asyncio.ensure_future(gate.acquire())
        turn.token.link_future(waiter)  # stop (or close) cancels the wait
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.cancelled() and turn.token.is_cancelled():
                return None
            raise

    def _on_model_request(self) -> None:
        """The turn's first model request is being sent: its start-up work is done, let the next turn in."""
        ticket, self._admission = self._admission, None
        if ticket is not None:
            ticket.release()

    async def _model_turn(self, turn: Turn, mcp_tools: Sequence[tuple[McpConnection, ToolSchema]]) -> None:
        built = await self._ensure_team(mcp_tools)
        pending = await self.services.store.state.pending(self.id)
        context = [item for item in pending if item.id < turn.inbox_id]
        task = built.task([(i.source, as_context(i)) for i in context], turn.content)
        consumed = [i.id for i in context] + [turn.inbox_id]
        runner = TurnRunner(built, self.emit, self._tool_durations)
        outcome = await runner.run(task, turn.token)
        if outcome.status == "ok":
            self.emit("response", content=outcome.response or "", agent=outcome.agent)
            await self.services.hub.flush()  # the answer out before the turn end is saved
            state = await self._save_state(built)
            await self._commit(turn, "ok", state=state, consumed=consumed)
            self._compact_later(built, turn)
        else:
            await self._finish_failed(turn, outcome.status, outcome.error, consumed=consumed)

    async def finish_turn(self, turn: Turn, status: str, *, source: str, note: str) -> None:
        """End a turn that ran no model (workflow mode): ``done`` and a context note for the team."""
        await self._commit(turn, status, state=None, consumed=[turn.inbox_id], notes=[(source, note)])

    async def _finish_failed(
        self, turn: Turn, status: str, error: BaseException | None, *, consumed: list[int] | None = None
    ) -> None:
        """Cancelled or failed: drop the team, keep what the user said as context for next time."""
        self._team = None
        described = None
        if error is not None:
            described = code, message = describe_error(error)
            self.emit("error", code=code, message=message)
        reason = "stopped by the user" if status == "cancelled" else "failed"
        note = f"[The previous turn was {reason} before an answer. The user had said:]\n{turn.content[:NOTE_CHARS]}"
        ids = consumed if consumed is not None else [turn.inbox_id]
        await self._commit(turn, status, state=None, consumed=ids, notes=[("user", note)], error=described)

    async def _commit(
        self,
        turn: Turn,
        status: str,
        *,
        state: str | None,
        consumed: list[int],
        notes: Sequence[tuple[str, str]] = (),
        error: tuple[str, str] | None = None,
    ) -> None:
        if turn.finished:
            return
        turn.finished = True
        store = self.services.store

        prompt, completion = turn.usage["prompt_tokens"], turn.usage["completion_tokens"]
        ran_model = bool(prompt or completion or not turn.usage_reported)
        spans: list[SpanRow] = []
        trace_summary: dict[str, Any] | None = None
        if turn.trace is not None:
            kind = "workflow" if turn.workflow else "terminal" if turn.command is not None else "model"
            spans = turn.trace.finish(status, time.monotonic(), usage=dict(turn.usage), error=error, kind=kind)
            trace_summary = turn.trace.summary(spans)

        async def save(tx: Tx, body: dict[str, Any]) -> None:
            await store.state.commit_turn(self.id, state=state, seq=body["seq"], consumed=consumed, tx=tx)
            for source, text in notes:
                await store.state.add_inbox(self.id, "note", source, text, tx=tx)
            if ran_model:
                await store.usage.record(
                    self.id,
                    model=self.services.model_name or "unknown",
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    reported=turn.usage_reported,
                    tenant=self.tenant,
                    user_id=self.owner,
                    tx=tx,
                )
            await store.traces.add(self.id, turn.seq, spans, tx=tx)

        fields: dict[str, Any] = {
            "status": status,
            "usage": {**turn.usage, "reported": turn.usage_reported},
            "duration_ms": round((time.monotonic() - turn.started) * 1000, 1),
            "instance": self.services.cluster.instance_id,
        }
        if trace_summary is not None:
            fields["trace"] = trace_summary
        try:
            await self.services.hub.commit(self.channel, "done", save, **fields)
            if self.services.otel is not None:
                self.services.otel.export(self.id, spans)
        except LeaseLostError:
            raise
        except Exception as exc:
            # The store refuses writes (disk full, read-only, database down). A turn must still end
            # with done: deliver error + done live, and state them in the timeline as soon as the
            # store accepts writes again (before this session's next turn). The user's message was
            # not consumed, so it reaches the team as context next time: nothing is lost.
            logger.error("session %s: the end of a turn could not be stored: %s", self.id, exc)
            message = (
                f"this turn's end could not be saved ({type(exc).__name__}: {str(exc)[:200]}); it is delivered unsaved"
            )
            self.services.hub.deliver_unstored(self.channel, "error", code="store_unavailable", message=message)
            self.services.hub.deliver_unstored(self.channel, "done", **{**fields, "status": "error"})
            self._unstored_done = {**fields, "status": "error", "restated": True}

    async def traces(self, turn: int | None = None) -> dict[str, Any] | None:
        """The span tree of one turn (``turn``: the seq of the message that started it; None: the
        latest traced turn) and the turns that have traces; None when that turn has none."""
        store = self.services.store
        turns = await store.traces.turns(self.id)
        chosen = turn if turn is not None else (turns[0] if turns else None)
        spans = await store.traces.spans(self.id, chosen) if chosen is not None else []
        if turn is not None and not spans:
            return None
        return {"turn": chosen, "turns": turns, "spans": [s.to_dict() for s in spans]}

    # --- the team -------------------------------------------------------------------------------------
    @property
    def has_team(self) -> bool:
        """True while the team (its agents and their state) is built in memory."""
        return self._team is not None

    async def _ensure_team(self, mcp_tools: Sequence[tuple[McpConnection, ToolSchema]] = ()) -> BuiltTeam:
        """The session's team, built (and restored from saved state) if it is not in memory.

        Each CPU-heavy step ends with a yield to the loop, so one loop iteration runs at most one
        step of each admitted turn (sessions/admission.py) and other sessions' work in between."""
        if self._team is not None:
            return self._team
        built = self.services.factory.build(
            TeamHooks(
                deps=self.deps,
                on_delta=self._on_delta,
                on_result=self._on_result,
                on_context=self._on_context,
                on_tool_timing=self._tool_durations.__setitem__,
                mcp_tools=mcp_tools,
                on_request=self._on_model_request,
                first_delta_out=self.services.hub.flush,
            )
        )
        await asyncio.sleep(0)
        saved = await self.services.store.state.load(self.id)
        if saved is not None:
            state = json.loads(saved[0])
            await asyncio.sleep(0)
            await built.team.load_state(state)
            await asyncio.sleep(0)
        self._team = built
        self._report_left_out(built)
        return built

    async def _mcp_tools(self) -> list[tuple[McpConnection, ToolSchema]]:
        """The MCP servers' tools for this session's team (a server that fails is skipped, with a warning)."""
        tools: list[tuple[McpConnection, ToolSchema]] = []
        catalog = self.services.mcp
        for spec in catalog.servers:
            connection = self._mcp.get(spec.name)
            if connection is None:
                connection = self._mcp[spec.name] = McpConnection(spec, self.services.settings)
            try:
                schemas = await connection.list_tools()
            except ToolError as exc:
                self.emit("warning", code="mcp_unavailable", message=exc.message)
                continue
            for schema in list(schemas):
                reason = valid_schema(schema)
                if reason is not None:
                    schemas.remove(schema)
                    name = tool_name(spec.name, str(schema.get("name", "?")))
                    self.emit("warning", code="mcp_tool_skipped", message=f"{name} is not offered: {reason}")
            catalog.record(spec.name, schemas)
            group = "mcp_trusted" if spec.trusted else "mcp"
            self.approvals.add_groups({tool_name(spec.name, s["name"]): group for s in schemas})
            tools += [(connection, schema) for schema in schemas]
        return tools

    def _report_left_out(self, built: BuiltTeam) -> None:
        for agent, names in built.left_out.items():
            shown = ", ".join(names[:10]) + ("…" if len(names) > 10 else "")
            message = (
                f"{len(names)} MCP tools are not offered to {agent}: its fixed prompt would not leave room "
                f"for the conversation ({shown})"
            )
            self.emit("warning", code="tools_left_out", agent=agent, message=message)

    async def _save_state(self, built: BuiltTeam) -> str:
        state = dict(await built.team.save_state())
        trimmed = trim_thread(state, THREAD_KEEP)
        if trimmed:
            await built.team.load_state(state)  # keep the live team's memory bounded too
        return json.dumps(state, ensure_ascii=False, default=str)

    def _compact_later(self, built: BuiltTeam, finished: Turn) -> None:
        """Fold old turns into the summary now, between turns, rather than before the next reply.

        The task belongs to the session: one at a time, cancelled by close(), and a failure is
        logged with its traceback and counted (``/healthz``), never swallowed."""

        async def compact() -> None:
            for context in built.contexts.values():
                if self._current not in (None, finished) or built is not self._team:
                    return  # a new turn started: it folds for itself
                try:
                    await context.compact()
                except Exception:
                    self.services.counters.compaction_errors += 1
                    logger.exception("session %s: folding the context between turns failed", self.id)

        if self._compaction is not None and not self._compaction.done():
            return  # the previous fold is still running; the next turn folds for itself if needed
        self._compaction = asyncio.get_running_loop().create_task(compact(), name=f"compact-{self.id}")

    # --- hooks from the team --------------------------------------------------------------------------
    def _on_delta(self, agent: str, text: str) -> None:
        turn = self._current
        if turn is not None and turn.trace is not None:
            turn.trace.delta(agent, time.monotonic())
        self.services.hub.emit(self.channel, "delta", agent=agent, content=text)

    def _on_result(
        self, agent: str, prompt_tokens: int, completion_tokens: int, seconds: float, reported: bool = True
    ) -> None:
        """One model call ended. Without the server's usage the counts are ours: the prompt as the
        context counted it (calibrated to the model's tokenizer), the completion counted by the team."""
        turn = self._current
        report = self._reports.get(agent)
        prompt = prompt_tokens if reported or report is None else report.prompt_tokens
        if turn is not None:
            turn.usage["prompt_tokens"] += prompt
            turn.usage["completion_tokens"] += completion_tokens
            if not reported:
                turn.usage_reported = False
            if turn.trace is not None:
                now = time.monotonic()
                turn.trace.model_call(agent, prompt, completion_tokens, seconds, now, reported=reported)
        if report is not None:
            left_out = self._team.left_out.get(agent) if self._team is not None else None
            self.emit(
                "context",
                agent=agent,
                **({"tools_left_out": left_out} if left_out else {}),
                prompt_tokens=report.prompt_tokens,
                server_prompt_tokens=prompt_tokens if reported else None,
                budget=report.budget,
                reserve=report.reserve,
                summarized_messages=report.summarized_messages,
                summary_tokens=report.summary_tokens,
                truncated_items=report.truncated_items,
            )

    def _on_context(self, report: ContextReport) -> None:
        self._reports[report.agent] = report
        if report.folded_now:
            self.emit(
                "summary",
                agent=report.agent,
                folded=report.folded_now,
                summarized_messages=report.summarized_messages,
                summary_tokens=report.summary_tokens,
            )
        for warning in report.warnings:
            self.emit("warning", code="context", message=warning, agent=report.agent)

    # --- things that happen to the session -----------------------------------------------------------
    async def deliver_reminder(
        self, reminder_id: int, message: str, due: str | None, key: str, late: bool, *, command_id: int | None = None
    ) -> None:
        """A reminder fired: every attached client sees it now, others when they resume (seq).

        The event, its inbox row and the command that carried it are stored in one transaction,
        so the reminder is delivered once even across a cluster."""
        store = self.services.store
        if key in await store.events.recent_keys(self.id, "reminder", limit=50):
            if command_id is not None:
                await store.commands.take(command_id)
            return  # already delivered (an older build delivered before recording)
        when = f"{due} (delivered late)" if late else due

        async def add_inbox(tx: Tx, body: dict[str, Any]) -> None:
            if command_id is not None:
                await store.commands.take(command_id, tx=tx)
            await store.state.add_inbox(self.id, "reminder", "reminder", f"[Reminder for {when}: {message}]", tx=tx)

        await self.services.hub.commit(
            self.channel, "reminder", add_inbox, reminder_id=reminder_id, message=message, due=due, late=late, key=key
        )
        await self.reminders_changed()  # the scheduler recorded it before queuing: the list is current
        if is_run_command(message):
            await run_from_reminder(self, message)

    async def reminders_changed(self) -> None:
        rows = await self.services.store.reminders.list(self.id)
        self.emit("reminders", reminders=[row.to_dict() for row in rows])

    async def recover(self) -> None:
        """After a crash or a takeover: close the turn that was running with ``error`` + ``done``
        (its message is kept as context), then run the messages that were queued behind it."""
        store, hub = self.services.store, self.services.hub
        unanswered = [item for item in await store.state.pending(self.id) if item.kind == "user"]
        if not unanswered:
            return
        interrupted, queued = unanswered[0], unanswered[1:]
        logger.warning("session %s: a turn was interrupted (%d queued message(s) follow)", self.id, len(queued))
        hub.emit(
            self.channel,
            "error",
            code="interrupted",
            message="the server running this turn stopped before it finished; your message is kept as context",
        )

        async def close(tx: Tx, body: dict[str, Any]) -> None:
            await store.state.commit_turn(self.id, state=None, seq=body["seq"], consumed=[interrupted.id], tx=tx)
            note = f"[Earlier message that was not answered (server restart):]\n{interrupted.content[:NOTE_CHARS]}"
            await store.state.add_inbox(self.id, "note", "user", note, tx=tx)

        await hub.commit(
            self.channel,
            "done",
            close,
            status="error",
            usage={},
            interrupted=True,
            instance=self.services.cluster.instance_id,
        )
        for item in queued:
            command = parse_explicit_command(item.content)
            self._queue.append(Turn(inbox_id=item.id, content=item.content, command=command, seq=item.seq or 0))
        if queued:
            self._ensure_worker()

    # --- several processes (cluster.py) -----------------------------------------------------------
    async def _route(self, kind: str, payload: dict[str, Any]) -> bool:
        """True: this process owns the session (act here). False: sent to the owner as a command."""
        cluster = self.services.cluster
        if self.owned or await cluster.try_promote(self):
            return True
        await self.services.store.commands.add(self.id, kind, payload, sender=cluster.instance_id)
        cluster.commands_sent += 1
        return False

    async def become_owner(self, epoch: int) -> None:
        """This process now holds the lease: deliver what followers missed, then run the session."""
        await self.catch_up()
        self.channel.last_seq = await self.services.store.events.last_seq(self.id)
        self.channel.epoch = epoch if self.services.store.shared else None
        self.owned = True
        self._closed = False
        await self.recover()
        await self.run_commands()

    def lease_lost(self) -> None:
        """Another process took the lease (ours expired): stop running, become a follower."""
        if not self.owned:
            return
        self.owned = False
        self.channel.epoch = None
        self.channel.last_seq = self.channel.delivered_seq
        self._queue.clear()  # the inbox still has them: the new owner runs them
        if self._current is not None:
            self._current.token.cancel()
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
        self._team = None
        self.services.cluster.spawn(self.catch_up(), f"catch-up-{self.id}")

    async def catch_up(self) -> None:
        """Follower: deliver the events stored after the last one we delivered (no gap, no duplicate)."""
        if self._catching_up:
            self._catch_again = True
            return
        self._catching_up = True
        try:
            while not self.owned:
                self._catch_again = False
                frames = await self.services.store.events.after(self.id, self.channel.last_seq, CATCH_UP_BATCH)
                # last_seq may have moved during the read (a resume's history brought it forward)
                newer = [frame for frame in frames if frame_seq(frame) > self.channel.last_seq]
                if newer and not self.owned:
                    self.channel.last_seq = frame_seq(newer[-1])
                    self.services.hub.publish(self.channel, newer)
                if not self._catch_again and len(frames) < CATCH_UP_BATCH:
                    return
        finally:
            self._catching_up = False

    async def run_commands(self) -> None:
        """Owner: act on the commands other processes sent for this session, in order, once each."""
        store = self.services.store
        async with self._command_lock:
            for command in await store.commands.pending(self.id):
                if not self.owned:
                    return
                data = command.payload
                try:
                    if command.kind == "message":
                        await self.submit(data["content"], client_id=data.get("client_id"), command_id=command.id)
                    elif command.kind == "reminder":
                        await self.deliver_reminder(
                            data["id"], data["message"], data["due"], data["key"], data["late"], command_id=command.id
                        )
                    elif await store.commands.take(command.id):
                        if command.kind == "stop":
                            await self.stop()
                        elif command.kind == "answer":
                            await self.answer(data["question_id"], data["content"])
                        elif command.kind == "approval":
                            await self.decide_approval(data["approval_id"], data["decision"], data["note"], data["by"])
                        elif command.kind == "approval_revoke":
                            await self.revoke_grant(data["grant"])
                        elif command.kind == "emit":
                            self.emit(data["type"], **data["fields"])
                except AgentChatError as exc:  # e.g. busy, unknown question: the sender's clients see it
                    await store.commands.take(command.id)
                    self.emit("error", code=exc.code, message=exc.message)

    # --- lifecycle ------------------------------------------------------------------------------------
    def reset_team(self) -> None:
        self._team = None
        self._reports.clear()

    async def close(self) -> None:
        """Stop everything this session runs (shutdown, eviction, delete)."""
        self._closed = True
        self.questions.detach()
        self.approvals.detach()
        for connection in list(self._mcp.values()):  # a stdio server never outlives its session
            with contextlib.suppress(Exception):
                await connection.close()
        if self._current is not None:
            self._current.token.cancel()
        for task in (self._turn_task, self._worker, self._compaction):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, self.services.settings.stop_watchdog_seconds)
        self._team = None
        if self.owned:
            await self.services.hub.flush()
            await self.services.cluster.release(self.id, self.channel.epoch)
