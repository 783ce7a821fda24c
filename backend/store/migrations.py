"""Numbered schema migrations. Each is a function taking a cursor; applied ones are recorded."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def run_script(cur: sqlite3.Cursor, script: str) -> None:
    """Run several statements inside the caller's transaction (``executescript`` would COMMIT)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            cur.execute(buffer)
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()):
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]}")


def m001_initial(cur: sqlite3.Cursor) -> None:
    run_script(
        cur,
        """
        CREATE TABLE sessions (
            id          TEXT PRIMARY KEY,
            title       TEXT,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            last_seq    INTEGER NOT NULL DEFAULT 0,
            timezone    TEXT
        );
        -- Append-only timeline: one row per server event, body is the exact JSON sent to clients.
        CREATE TABLE events (
            session_id  TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            type        TEXT NOT NULL,
            ts          REAL NOT NULL,
            body        TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        -- team.save_state() after every turn; seq is the last event the state accounts for.
        CREATE TABLE team_state (
            session_id  TEXT PRIMARY KEY,
            state       TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            updated_at  REAL NOT NULL
        );
        -- Messages the team has not seen yet: user messages, explicit terminal runs, fired
        -- reminders, answers that arrived after a restart. A turn consumes them atomically with
        -- the team state it produces, so a crash mid-turn re-delivers them.
        CREATE TABLE inbox (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id  TEXT NOT NULL,
            kind        TEXT NOT NULL,
            source      TEXT NOT NULL,
            content     TEXT NOT NULL,
            seq         INTEGER,
            consumed    INTEGER NOT NULL DEFAULT 0,
            created_at  REAL NOT NULL
        );
        CREATE INDEX inbox_pending ON inbox (session_id, consumed, id);
        CREATE TABLE todos (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id  TEXT NOT NULL,
            title       TEXT NOT NULL,
            notes       TEXT,
            due         TEXT,
            priority    TEXT,
            status      TEXT NOT NULL DEFAULT 'open',
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE INDEX todos_session ON todos (session_id, id);
        CREATE TABLE reminders (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id  TEXT NOT NULL,
            message     TEXT NOT NULL,
            due_at      REAL NOT NULL,
            timezone    TEXT,
            repeat      TEXT,
            status      TEXT NOT NULL DEFAULT 'scheduled',
            fire_count  INTEGER NOT NULL DEFAULT 0,
            created_at  REAL NOT NULL,
            fired_at    REAL
        );
        CREATE INDEX reminders_due ON reminders (status, due_at);
        CREATE INDEX reminders_session ON reminders (session_id, id);
        CREATE TABLE questions (
            id          TEXT PRIMARY KEY,
            session_id  TEXT NOT NULL,
            question    TEXT NOT NULL,
            options     TEXT,
            status      TEXT NOT NULL DEFAULT 'pending',
            answer      TEXT,
            created_at  REAL NOT NULL,
            answered_at REAL
        );
        CREATE INDEX questions_session ON questions (session_id, status);
        """,
    )


def m002_last_seq_from_events(cur: sqlite3.Cursor) -> None:
    """A session's last seq is MAX(seq) of its events: stop keeping a second copy per event batch."""
    cur.execute("ALTER TABLE sessions DROP COLUMN last_seq")
    cur.execute("CREATE INDEX sessions_activity ON sessions (updated_at)")


def m006_workflows(cur: sqlite3.Cursor) -> None:
    """Workflow definitions (immutable versions), runs, node runs with leases, artifacts."""
    run_script(
        cur,
        """
        CREATE TABLE workflows (
            id          TEXT NOT NULL,
            version     INTEGER NOT NULL,
            name        TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            dsl         TEXT NOT NULL,
            source      TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (id, version)
        );
        CREATE TABLE workflow_runs (
            id               TEXT PRIMARY KEY,
            workflow_id      TEXT NOT NULL,
            version          INTEGER NOT NULL,
            session_id       TEXT,
            status           TEXT NOT NULL,
            inputs           TEXT NOT NULL,
            state            TEXT NOT NULL,
            answer           TEXT,
            error            TEXT,
            steps            INTEGER NOT NULL DEFAULT 0,
            max_steps        INTEGER NOT NULL,
            source           TEXT NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            counter          INTEGER NOT NULL DEFAULT 0,
            created_at       REAL NOT NULL,
            finished_at      REAL
        );
        CREATE INDEX workflow_runs_active ON workflow_runs (status, created_at);
        CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, created_at);
        CREATE TABLE node_runs (
            id            TEXT PRIMARY KEY,
            run_id        TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
            node_id       TEXT NOT NULL,
            node_type     TEXT NOT NULL,
            status        TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            done_seq      INTEGER,
            attempts      INTEGER NOT NULL DEFAULT 0,
            inputs        TEXT,
            output_text   TEXT,
            output_json   TEXT,
            error         TEXT,
            checkpoint    TEXT,
            question_id   TEXT,
            lease_owner   TEXT,
            lease_expires REAL,
            created_at    REAL NOT NULL,
            started_at    REAL,
            finished_at   REAL
        );
        CREATE INDEX node_runs_run ON node_runs (run_id, status, seq);
        CREATE INDEX node_runs_question ON node_runs (question_id);
        CREATE TABLE run_artifacts (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id      TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
            node_run_id TEXT NOT NULL,
            kind        TEXT NOT NULL,
            name        TEXT NOT NULL,
            content     TEXT,
            size        INTEGER NOT NULL,
            created_at  REAL NOT NULL
        );
        CREATE INDEX run_artifacts_run ON run_artifacts (run_id, id);
        """,
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite3.Cursor], None]]] = [
    (1, "initial", m001_initial),
    (2, "last_seq_from_events", m002_last_seq_from_events),
    (6, "workflows", m006_workflows),
]
