"""Wire protocol v1: parse client frames into typed requests and encode server events.

Pure: no sockets, no AutoGen, no database. Every client frame is parsed here exactly once, and
every malformed or unknown frame is rejected here with a :class:`ProtocolError` whose message is
what the client sees in the ``error`` event.
"""

from __future__ import annotations

import functools
import json
import time
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import ProtocolError

PROTOCOL_VERSION = 1
MAX_CONTENT_CHARS = 32_000
SESSION_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"

#: Integers must fit a signed 64-bit column in both stores (SQLite raised OverflowError on 2**63).
MAX_INT = 2**63 - 1
#: Deepest JSON nesting a frame may have (real frames nest 2-3 levels).
MAX_DEPTH = 32

SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN)]
Seq = Annotated[int, Field(ge=0, le=MAX_INT)]
RowId = Annotated[int, Field(ge=1, le=MAX_INT)]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _check_tz(value: str | None) -> str | None:
    """A time zone is validated where it arrives: an IANA name this machine knows, or an error."""
    if value is None or value in _zones():
        return value
    raise ValueError(f"unknown time zone {value[:64]!r} (use an IANA name such as Europe/Paris)")


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_check_tz)]
Content = Annotated[str, Field(min_length=1, max_length=MAX_CONTENT_CHARS)]
Title = Annotated[str, Field(min_length=1, max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)


class MessageRequest(_Request):
    """Start a turn (queued if one is running). No session_id: a new session is created."""

    type: Literal["message"] = "message"
    content: Content
    session_id: SessionId | None = None
    client_id: Annotated[str, Field(max_length=100)] | None = None
    tz: TimeZone | None = None
    #: True for a frame that was plain text: it continues the connection's current session.
    plain: bool = False


class StopRequest(_Request):
    type: Literal["stop"]
    session_id: SessionId | None = None


class AnswerRequest(_Request):
    type: Literal["answer"]
    question_id: Annotated[str, Field(min_length=1, max_length=64)]
    content: Content
    session_id: SessionId | None = None


class ApprovalRequest(_Request):
    """The user's decision on a pending tool call (the first decision wins)."""

    type: Literal["approval"]
    approval_id: Annotated[str, Field(min_length=1, max_length=64)]
    decision: Literal["allow", "allow_always", "deny"]
    note: Annotated[str, Field(max_length=2000)] | None = None
    session_id: SessionId | None = None


class ApprovalRevokeRequest(_Request):
    """Revoke an allow_always grant (its key, as listed in ``approval_grants``)."""

    type: Literal["approval_revoke"]
    grant: Annotated[str, Field(min_length=1, max_length=200)]
    session_id: SessionId | None = None


class ResumeRequest(_Request):
    type: Literal["resume"]
    session_id: SessionId
    last_seq: Seq = 0
    tz: TimeZone | None = None


class HistoryRequest(_Request):
    type: Literal["history"]
    session_id: SessionId | None = None
    after_seq: Seq = 0
    limit: Annotated[int, Field(ge=1, le=10_000)] = 2_000


class SessionsRequest(_Request):
    type: Literal["sessions"]


class NewSessionRequest(_Request):
    type: Literal["new"]
    title: Title | None = None
    tz: TimeZone | None = None


class DeleteRequest(_Request):
    type: Literal["delete"]
    session_id: SessionId


class ResetRequest(_Request):
    type: Literal["reset"]
    session_id: SessionId | None = None


class RenameRequest(_Request):
    type: Literal["rename"]
    title: Title
    session_id: SessionId | None = None


class PingRequest(_Request):
    type: Literal["ping"]


class ToolsRequest(_Request):
    type: Literal["tools"]


class AuthRequest(_Request):
    type: Literal["auth"]
    token: Annotated[str, Field(max_length=512)]


class TodoListRequest(_Request):
    type: Literal["todo_list"]
    session_id: SessionId | None = None
    status: Literal["open", "done", "all"] = "all"


class TodoAddRequest(_Request):
    type: Literal["todo_add"]
    title: Title
    notes: Annotated[str, Field(max_length=4000)] | None = None
    due: Annotated[str, Field(max_length=100)] | None = None
    priority: Literal["low", "normal", "high"] | None = None
    session_id: SessionId | None = None


class TodoUpdateRequest(_Request):
    type: Literal["todo_update"]
    todo_id: RowId
    title: Title | None = None
    notes: Annotated[str, Field(max_length=4000)] | None = None
    due: Annotated[str, Field(max_length=100)] | None = None
    priority: Literal["low", "normal", "high"] | None = None
    status: Literal["open", "done"] | None = None
    session_id: SessionId | None = None


class TodoCompleteRequest(_Request):
    type: Literal["todo_complete"]
    todo_id: RowId
    session_id: SessionId | None = None


class TodoDeleteRequest(_Request):
    type: Literal["todo_delete"]
    todo_id: RowId
    session_id: SessionId | None = None


class ReminderListRequest(_Request):
    type: Literal["reminder_list"]
    session_id: SessionId | None = None


class ReminderAddRequest(_Request):
    type: Literal["reminder_add"]
    when: Annotated[str, Field(min_length=1, max_length=200)]
    message: Annotated[str, Field(min_length=1, max_length=2000)]
    repeat: Annotated[str, Field(max_length=100)] | None = None
    session_id: SessionId | None = None


class ReminderCancelRequest(_Request):
    type: Literal["reminder_cancel"]
    reminder_id: RowId
    session_id: SessionId | None = None


class SandboxRequest(_Request):
    type: Literal["sandbox_status", "sandbox_stats", "sandbox_logs", "sandbox_reset"]
    session_id: SessionId | None = None
    tail: Annotated[int, Field(ge=1, le=10_000)] = 200


Request = (
    MessageRequest
    | StopRequest
    | AnswerRequest
    | ApprovalRequest
    | ApprovalRevokeRequest
    | ResumeRequest
    | HistoryRequest
    | SessionsRequest
    | NewSessionRequest
    | DeleteRequest
    | ResetRequest
    | RenameRequest
    | PingRequest
    | ToolsRequest
    | AuthRequest
    | TodoListRequest
    | TodoAddRequest
    | TodoUpdateRequest
    | TodoCompleteRequest
    | TodoDeleteRequest
    | ReminderListRequest
    | ReminderAddRequest
    | ReminderCancelRequest
    | SandboxRequest
)

_ADAPTER: TypeAdapter[Request] = TypeAdapter(Annotated[Request, Field(discriminator="type")])
REQUEST_TYPES: frozenset[str] = frozenset(
    t for model in Request.__args__ for t in model.model_fields["type"].annotation.__args__
)


def parse_frame(frame: str | bytes) -> Request:
    """Turn one client frame into a typed request.

    * A frame that is not a JSON object is a chat message (so ``websocat`` users can just type),
      unless it starts with ``{``: then the client meant JSON and gets an error instead.
    * Binary frames are refused.
    """
    if isinstance(frame, bytes):
        raise ProtocolError("binary frames are not supported; send UTF-8 text", code="bad_frame")
    stripped = frame.strip()
    if not stripped:
        raise ProtocolError("empty message", code="bad_request")
    data: Any
    try:
        data = json.loads(stripped)
    except RecursionError:
        raise ProtocolError(f"JSON nested deeper than {MAX_DEPTH} levels", code="bad_json") from None
    except ValueError:
        if stripped.startswith("{"):
            raise ProtocolError("malformed JSON frame", code="bad_json") from None
        data = None
    if isinstance(data, dict) and _too_deep(data, MAX_DEPTH):
        raise ProtocolError(f"JSON nested deeper than {MAX_DEPTH} levels", code="bad_json")
    if not isinstance(data, dict):
        return _validate({"type": "message", "content": stripped, "plain": True})
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError('every JSON frame needs a string "type"', code="bad_request")
    if kind not in REQUEST_TYPES:
        raise ProtocolError(f"unknown message type {kind[:40]!r}", code="unknown_type")
    return _validate(data)


def _too_deep(value: Any, budget: int) -> bool:
    if budget < 0:
        return True
    if isinstance(value, dict):
        return any(_too_deep(v, budget - 1) for v in value.values())
    if isinstance(value, list):
        return any(_too_deep(v, budget - 1) for v in value)
    return False


def _validate(data: dict[str, Any]) -> Request:
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise ProtocolError(f"{data.get('type')}: {where}: {first['msg']}", code="bad_request") from None


# --- server events --------------------------------------------------------------------------------

#: Event types that belong to a session's timeline: they get a ``seq`` and are persisted.
TIMELINE_EVENTS = frozenset(
    {
        "user_message",
        "queued",
        "delta",
        "agent_message",
        "handoff",
        "tool_call",
        "tool_result",
        "response",
        "done",
        "error",
        "warning",
        "question",
        "question_closed",
        "reminder",
        "context",
        "todos",
        "reminders",
        "summary",
        "reset",
        "workflow_run",
        "node_run",
        "file",
        "approval_request",
        "approval_result",
        "approval_grants",
    }
)


def event(type_: str, session_id: str | None = None, seq: int | None = None, **fields: Any) -> dict[str, Any]:
    """Build a server event. Timeline events get their seq from the session's event log."""
    body: dict[str, Any] = {"type": type_, "session_id": session_id, "seq": seq, "ts": round(time.time(), 3)}
    body.update(fields)
    return body


def error_event(code: str, message: str, session_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return event("error", session_id, None, code=code, message=message, **fields)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def encode(body: dict[str, Any]) -> str:
    """One server event as compact JSON (one shared encoder: ``json.dumps`` with options builds a
    new ``JSONEncoder`` on every call)."""
    return _ENCODER.encode(body)


_json_str = json.encoder.encode_basestring  # what ``encode`` uses for a str (ensure_ascii=False)


def encode_delta(session_id: str, seq: int, ts: float, agent: str, content: str) -> str:
    """``encode`` of a ``delta`` event, byte for byte, without building and walking a dict: the
    hot path (one call per delta frame)."""
    return (
        f'{{"type":"delta","session_id":{_json_str(session_id)},"seq":{seq},"ts":{ts!r},'
        f'"agent":{_json_str(agent)},"content":{_json_str(content)}}}'
    )
