"""Persistence. The only package that touches SQL."""

from __future__ import annotations

from pathlib import Path

from .db import Database
from .events import EventRepo, EventRow
from .questions import QuestionRepo, QuestionRow
from .reminders import ReminderRepo, ReminderRow
from .sessions import SessionRepo, SessionRow
from .state import InboxItem, StateRepo
from .todos import TodoRepo, TodoRow
from .workflows import WorkflowRepo

__all__ = [
    "Database",
    "EventRepo",
    "EventRow",
    "InboxItem",
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
    "WorkflowRepo",
]


class Store:
    """The database plus one repository per table group."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.sessions = SessionRepo(self.db)
        self.events = EventRepo(self.db)
        self.state = StateRepo(self.db)
        self.todos = TodoRepo(self.db)
        self.reminders = ReminderRepo(self.db)
        self.questions = QuestionRepo(self.db)
        self.workflows = WorkflowRepo(self.db)

    def open(self) -> None:
        self.db.open()

    def close(self) -> None:
        self.db.close()
