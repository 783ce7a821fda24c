"""Persistence. The only package that touches SQL (SQLite by default, PostgreSQL for clusters)."""

from __future__ import annotations

from pathlib import Path

from .db import Database, Dialect, Tx
from .events import EventRepo, EventRow
from .leases import Lease, LeaseRepo
from .questions import QuestionRepo, QuestionRow
from .reminders import ReminderRepo, ReminderRow
from .sessions import SessionRepo, SessionRow
from .state import InboxItem, StateRepo
from .todos import TodoRepo, TodoRow
from .workflows import WorkflowRepo

__all__ = [
    "Database",
    "Dialect",
    "EventRepo",
    "EventRow",
    "InboxItem",
    "Lease",
    "LeaseRepo",
    "QuestionRepo",
    "QuestionRow",
    "ReminderRepo",
    "ReminderRow",
    "SessionRepo",
    "SessionRow",
    "StateRepo",
    "Store",
    "TodoRepo",
    "TodoRow",
    "Tx",
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
        self.workflows = WorkflowRepo(self.db)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()
