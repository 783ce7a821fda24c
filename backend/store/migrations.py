"""Numbered schema migrations, one SQL script per engine, side by side.

Each entry is ``(version, name, {"sqlite": script, "postgres": script})``; applied versions are
recorded in ``schema_migrations``. The schemas are the same tables with each engine's types (SQLite
``REAL``/``INTEGER PRIMARY KEY AUTOINCREMENT``, PostgreSQL ``DOUBLE PRECISION``/``BIGSERIAL``).
A migration added later must give both scripts.
"""

from __future__ import annotations

_SESSIONS = """
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    title       TEXT,
    created_at  {real} NOT NULL,
    updated_at  {real} NOT NULL,{last_seq}
    timezone    TEXT
);
-- Append-only timeline: one row per server event, body is the exact JSON sent to clients.
CREATE TABLE events (
    session_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    ts          {real} NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
){without_rowid};
-- team.save_state() after every turn; seq is the last event the state accounts for.
CREATE TABLE team_state (
    session_id  TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    updated_at  {real} NOT NULL
);
-- Messages the team has not seen yet: user messages, explicit terminal runs, fired
-- reminders, answers that arrived after a restart. A turn consumes them atomically with
-- the team state it produces, so a crash mid-turn re-delivers them.
CREATE TABLE inbox (
    id          {serial},
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    content     TEXT NOT NULL,
    seq         BIGINT,
    consumed    INTEGER NOT NULL DEFAULT 0,
    created_at  {real} NOT NULL
);
CREATE INDEX inbox_pending ON inbox (session_id, consumed, id);
CREATE TABLE todos (
    id          {serial},
    session_id  TEXT NOT NULL,
    title       TEXT NOT NULL,
    notes       TEXT,
    due         TEXT,
    priority    TEXT,
    status      TEXT NOT NULL DEFAULT 'open',
    created_at  {real} NOT NULL,
    updated_at  {real} NOT NULL
);
CREATE INDEX todos_session ON todos (session_id, id);
CREATE TABLE reminders (
    id          {serial},
    session_id  TEXT NOT NULL,
    message     TEXT NOT NULL,
    due_at      {real} NOT NULL,
    timezone    TEXT,
    repeat      TEXT,
    status      TEXT NOT NULL DEFAULT 'scheduled',
    fire_count  INTEGER NOT NULL DEFAULT 0,
    created_at  {real} NOT NULL,
    fired_at    {real}
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
    created_at  {real} NOT NULL,
    answered_at {real}
);
CREATE INDEX questions_session ON questions (session_id, status);
"""

_SQLITE = {"real": "REAL", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "without_rowid": " WITHOUT ROWID"}
_POSTGRES = {"real": "DOUBLE PRECISION", "serial": "BIGSERIAL PRIMARY KEY", "without_rowid": ""}

# Version 3: the cluster tables. A session's lease names the process that runs its turns and the
# epoch that fences its writes; commands carry message/stop/answer from any process to the owner.
_CLUSTER = """
CREATE TABLE leases (
    session_id  TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_at  {real} NOT NULL
);
CREATE TABLE commands (
    id          {serial},
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    created_at  {real} NOT NULL,
    taken       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX commands_pending ON commands (session_id, taken, id);
"""

# Version 6 (workflows): definitions (immutable versions), runs, node runs with leases, artifacts.
_WORKFLOWS = """
CREATE TABLE workflows (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    dsl         TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  {real} NOT NULL,
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
    created_at       {real} NOT NULL,
    finished_at      {real}
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
    lease_expires {real},
    created_at    {real} NOT NULL,
    started_at    {real},
    finished_at   {real}
);
CREATE INDEX node_runs_run ON node_runs (run_id, status, seq);
CREATE INDEX node_runs_question ON node_runs (question_id);
CREATE TABLE run_artifacts (
    id          {serial},
    run_id      TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    node_run_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    content     TEXT,
    size        INTEGER NOT NULL,
    created_at  {real} NOT NULL
);
CREATE INDEX run_artifacts_run ON run_artifacts (run_id, id);
"""

# Version 4 (approvals): tool calls waiting for the user's decision (re-sent on resume, decided once),
# and the session's "allow always" grants (per tool; for the terminal per program).
_APPROVALS = """
CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    agent       TEXT NOT NULL,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    risk        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    grant_key   TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',
    decided_by  TEXT,
    note        TEXT,
    created_at  {real} NOT NULL,
    expires_at  {real} NOT NULL,
    decided_at  {real}
);
CREATE INDEX approvals_pending ON approvals (session_id, status);
CREATE TABLE approval_grants (
    session_id  TEXT NOT NULL,
    grant_key   TEXT NOT NULL,
    created_at  {real} NOT NULL,
    PRIMARY KEY (session_id, grant_key)
);
"""

# Version 5 (usage): one row per finished turn with the model's token counts, for /v1/stats; and the
# moments the earlier streaming agent's /reset-stats was called (a view starts there; nothing is lost).
_USAGE = """
CREATE TABLE usage_records (
    id                {serial},
    session_id        TEXT NOT NULL,
    tenant            TEXT NOT NULL DEFAULT 'public',
    user_id           TEXT,
    model             TEXT NOT NULL,
    day               TEXT NOT NULL,
    requests          INTEGER NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    reported          INTEGER NOT NULL,
    created_at        {real} NOT NULL
);
CREATE INDEX usage_records_time ON usage_records (tenant, created_at);
CREATE TABLE stats_resets (
    scope       TEXT PRIMARY KEY,
    reset_at    {real} NOT NULL
);
"""

# Version 7 (traces): one row per span of a turn (turn, model calls, tool calls, folds, waits,
# handoffs), written with the turn's done; ``turn`` is the seq of the message that started it.
_TRACES = """
CREATE TABLE trace_spans (
    span_id       TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    turn          BIGINT NOT NULL,
    parent_id     TEXT,
    span_type     TEXT NOT NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    {real} NOT NULL,
    ended_at      {real} NOT NULL,
    duration_ms   {real} NOT NULL,
    attributes    TEXT NOT NULL,
    error_code    TEXT,
    error_message TEXT
);
CREATE INDEX trace_spans_turn ON trace_spans (session_id, turn);
"""

# Version 9 (auth): API keys (hash only), users (argon2id hashes), revoked login tokens, the audit log,
# and the owner (tenant, user) of every session. Sessions from before are the ``public`` tenant's.
_AUTH = """
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    user_id       TEXT,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    digest        TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    status        TEXT NOT NULL,
    expires_at    {real},
    last_used_at  {real},
    created_at    {real} NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    {real} NOT NULL
);
CREATE TABLE revoked_tokens (
    jti           TEXT PRIMARY KEY,
    expires_at    {real} NOT NULL
);
CREATE TABLE audit_log (
    id            {serial},
    ts            {real} NOT NULL,
    request_id    TEXT NOT NULL,
    tenant        TEXT,
    actor         TEXT,
    key_id        TEXT,
    address       TEXT NOT NULL,
    action        TEXT NOT NULL,
    method        TEXT,
    path          TEXT,
    session_id    TEXT,
    status        INTEGER NOT NULL,
    latency_ms    {real} NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, ts);
ALTER TABLE sessions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'public';
ALTER TABLE sessions ADD COLUMN owner TEXT;
CREATE INDEX sessions_owner ON sessions (tenant, owner, updated_at);
"""

MIGRATIONS: list[tuple[int, str, dict[str, str]]] = [
    (
        1,
        "initial",
        {
            "sqlite": _SESSIONS.format(last_seq="\n    last_seq    INTEGER NOT NULL DEFAULT 0,", **_SQLITE),
            "postgres": _SESSIONS.format(last_seq="", **_POSTGRES),
        },
    ),
    (
        2,
        "last_seq_from_events",
        {
            # A session's last seq is MAX(seq) of its events: no second copy per event batch.
            "sqlite": "ALTER TABLE sessions DROP COLUMN last_seq;\n"
            "CREATE INDEX sessions_activity ON sessions (updated_at);",
            "postgres": "CREATE INDEX sessions_activity ON sessions (updated_at);",
        },
    ),
    (3, "cluster_leases_commands", {"sqlite": _CLUSTER.format(**_SQLITE), "postgres": _CLUSTER.format(**_POSTGRES)}),
    (4, "approvals", {"sqlite": _APPROVALS.format(**_SQLITE), "postgres": _APPROVALS.format(**_POSTGRES)}),
    (5, "usage", {"sqlite": _USAGE.format(**_SQLITE), "postgres": _USAGE.format(**_POSTGRES)}),
    (6, "workflows", {"sqlite": _WORKFLOWS.format(**_SQLITE), "postgres": _WORKFLOWS.format(**_POSTGRES)}),
    (7, "traces", {"sqlite": _TRACES.format(**_SQLITE), "postgres": _TRACES.format(**_POSTGRES)}),
    (9, "auth", {"sqlite": _AUTH.format(**_SQLITE), "postgres": _AUTH.format(**_POSTGRES)}),
]
