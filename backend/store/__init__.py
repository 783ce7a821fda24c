"""Persistence. The only package that touches SQL (SQLite by default, PostgreSQL for clusters)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .accounts import KeyRepo, KeyRow, RevokedTokenRepo, UserRepo, UserRow
from .approvals import ApprovalRepo, ApprovalRow
from .audit import AuditRepo, AuditRow
from .commands import Command, CommandRepo
from .db import Database, Dialect, Tx
from .events import EventRepo, EventRow
from .leases import Lease, LeaseRepo
from .notify import Listener, announce_events
from .questions import QuestionRepo, QuestionRow
from .reminders import ReminderRepo, ReminderRow
from .sessions import SessionRepo, SessionRow
from .state import InboxItem, StateRepo
from .todos import TodoRepo, TodoRow
from .traces import SpanRow, TraceRepo
from .usage import UsageRepo, UsageTotals
from .workflows import WorkflowRepo

__all__ = [
    "ApprovalRepo",
    "ApprovalRow",
    "AuditRepo",
    "AuditRow",
    "Command",
    "CommandRepo",
    "Database",
    "Dialect",
    "EventRepo",
    "EventRow",
    "InboxItem",
    "KeyRepo",
    "KeyRow",
    "Lease",
    "LeaseRepo",
    "Listener",
    "QuestionRepo",
    "QuestionRow",
    "ReminderRepo",
    "ReminderRow",
    "RevokedTokenRepo",
    "SessionRepo",
    "SessionRow",
    "SpanRow",
    "StateRepo",
    "Store",
    "TodoRepo",
    "TodoRow",
    "TraceRepo",
    "Tx",
    "UsageRepo",
    "UsageTotals",
    "UserRepo",
    "UserRow",
    "WorkflowRepo",
    "open_database",
]


def open_database(url: str | None, path: Path, *, synchronous: str = "NORMAL") -> Database:
    """PostgreSQL when ``url`` is a ``postgresql://`` URL, otherwise the SQLite file at ``path``."""
    if url:
        from .postgres import PostgresDatabase

        return PostgresDatabase(url)
    from .sqlite import SqliteDatabase

    return SqliteDatabase(path, synchronous=synchronous)


class Store:
    """One database plus one repository per table group."""

    def __init__(self, db: Database | Path, *, synchronous: str = "NORMAL") -> None:
        self.db: Database = open_database(None, db, synchronous=synchronous) if isinstance(db, Path) else db
        self.sessions = SessionRepo(self.db)
        self.events = EventRepo(self.db)
        self.state = StateRepo(self.db)
        self.todos = TodoRepo(self.db)
        self.reminders = ReminderRepo(self.db)
        self.questions = QuestionRepo(self.db)
        self.leases = LeaseRepo(self.db)
        self.commands = CommandRepo(self.db)
        self.workflows = WorkflowRepo(self.db)
        self.usage = UsageRepo(self.db)
        self.traces = TraceRepo(self.db)
        self.approvals = ApprovalRepo(self.db)
        self.keys = KeyRepo(self.db)
        self.users = UserRepo(self.db)
        self.revoked_tokens = RevokedTokenRepo(self.db)
        self.audit = AuditRepo(self.db)

    async def open(self) -> None:
        await self.db.open()

    @property
    def shared(self) -> bool:
        """True when several processes may use this database at once (PostgreSQL)."""
        return self.db.dialect.name == "postgres"

    async def announce_events(self, tx: Tx, last: dict[str, int]) -> None:
        """Inside ``tx``: announce new events to the other processes (PostgreSQL only)."""
        await announce_events(self.db, tx, last)

    def listener(
        self,
        *,
        on_event: Callable[[str, int], None],
        on_command: Callable[[str], None],
        on_connect: Callable[[], None],
    ) -> Listener | None:
        """A LISTEN connection for this process (None with SQLite: one process, nothing to hear)."""
        url = getattr(self.db, "url", None)
        if not self.shared or url is None:
            return None
        return Listener(url, on_event=on_event, on_command=on_command, on_connect=on_connect)

    async def close(self) -> None:
        await self.db.close()
