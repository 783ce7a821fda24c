"""Todo tools through ToolDeps with a real Store: answers, events, validation, session scoping."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend.errors import ToolError
from backend.settings import Settings
from backend.store import Store
from backend.tools import todos
from backend.tools.registry import ToolDeps, ToolRegistry
from backend.tools.todos import add_todo, complete_todo, delete_todo, list_todos, update_todo

TZ = "Asia/Shanghai"
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo(TZ)).timestamp()  # a Wednesday


class Events:
    """A recording EventSink."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: str, **fields: Any) -> None:
        self.emitted.append((type_, fields))

    def last_todos(self) -> list[dict[str, Any]]:
        type_, fields = self.emitted[-1]
        assert type_ == "todos"
        todos_: list[dict[str, Any]] = fields["todos"]
        return todos_


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(todos, "clock", lambda: NOW)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def deps(store: Store, events: Events, tmp_path: Path) -> ToolDeps:
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    return ToolDeps(session_id="s1", settings=settings, store=store, events=events, timezone=TZ)


async def test_add_todo_answers_with_a_compact_line_and_emits(deps: ToolDeps, events: Events) -> None:
    """add_todo returns '#id [ ] title (due ..., priority)' and emits the whole list."""
    answer = await add_todo(deps, "Buy milk", due="friday 9am", priority="high")
    assert answer == "Added #1 [ ] Buy milk (due Fri 11-20 09:00, high)"
    [todo] = events.last_todos()
    assert todo["id"] == 1 and todo["title"] == "Buy milk" and todo["status"] == "open"
    assert todo["due"] == "2026-11-20T09:00+08:00"
    assert todo["priority"] == "high"
    assert set(todo) == {"id", "title", "notes", "due", "priority", "status", "created_at", "updated_at"}
    assert todo["created_at"] == NOW


async def test_due_forms(deps: ToolDeps, store: Store) -> None:
    """Due dates are stored as ISO dates (day only), ISO date-times, or the text when unreadable."""
    await add_todo(deps, "a", due="明天")
    await add_todo(deps, "b", due="下周一下午3点")
    await add_todo(deps, "c", due="end of sprint")
    await add_todo(deps, "d", due="2026-11-01")
    assert [t.due for t in await store.todos.list("s1")] == [
        "2026-11-19",
        "2026-11-23T15:00+08:00",
        "end of sprint",
        "2026-11-01",
    ]
    listing = await list_todos(deps)
    assert "#1 [ ] a (due Thu 11-19)" in listing
    assert "#2 [ ] b (due Mon 11-23 15:00)" in listing
    assert "#3 [ ] c (due end of sprint)" in listing
    assert "#4 [ ] d (due Sun 11-01, overdue)" in listing


async def test_list_todos_shows_open_first_with_counts(deps: ToolDeps) -> None:
    """list_todos: a header with counts, then one line per todo, open ones first."""
    assert await list_todos(deps) == "No todos yet."
    await add_todo(deps, "first", notes="the details of the first task which are quite long indeed")
    await add_todo(deps, "second", priority="low")
    await complete_todo(deps, 1)
    listing = await list_todos(deps)
    assert listing.splitlines() == [
        "Todos: 1 open, 1 done.",
        "#2 [ ] second (low)",
        "#1 [x] first - notes: the details of the first task which are…",
    ]
    assert (await list_todos(deps, status="done")).splitlines()[1:] == [listing.splitlines()[2]]
    assert (await list_todos(deps, status="OPEN")).splitlines()[1:] == [listing.splitlines()[1]]
    assert (await list_todos(deps, status="all")) == listing


async def test_listing_is_capped_for_the_token_budget(deps: ToolDeps) -> None:
    """A long list shows at most MAX_LISTED lines and says how many more there are."""
    for i in range(todos.MAX_LISTED + 7):
        await add_todo(deps, f"task number {i} " + "x" * 150)
    lines = (await list_todos(deps)).splitlines()
    assert len(lines) == todos.MAX_LISTED + 2
    assert lines[-1].startswith("... and 7 more not shown")
    assert all(len(line) <= 100 for line in lines[1:-1])


async def test_update_todo_changes_only_given_fields(deps: ToolDeps, store: Store, events: Events) -> None:
    """update_todo changes the given fields; an empty string clears notes and due."""
    await add_todo(deps, "Buy milk", notes="2 litres", due="friday")
    answer = await update_todo(deps, 1, title="Buy oat milk", notes="", due="", priority="HIGH")
    assert answer == "Updated #1 [ ] Buy oat milk (high)"
    row = await store.todos.get("s1", 1)
    assert row is not None and (row.notes, row.due, row.priority) == (None, None, "high")
    assert events.last_todos()[0]["title"] == "Buy oat milk"
    assert (await update_todo(deps, 1, status="done")).startswith("Updated #1 [x]")


async def test_complete_and_delete(deps: ToolDeps, store: Store, events: Events) -> None:
    """complete_todo marks done (idempotently); delete_todo removes; each change emits the list."""
    await add_todo(deps, "Call Bob")
    assert await complete_todo(deps, 1) == "Completed #1 [x] Call Bob"
    assert events.last_todos()[0]["status"] == "done"
    emitted = len(events.emitted)
    assert await complete_todo(deps, 1) == "Already done: #1 [x] Call Bob"
    assert len(events.emitted) == emitted  # nothing changed, nothing emitted
    assert await delete_todo(deps, 1) == "Deleted #1: Call Bob"
    assert events.last_todos() == []
    assert await store.todos.list("s1") == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: add_todo(d, "   "), "non-empty title"),
        (lambda d: add_todo(d, "x" * 201), "too long"),
        (lambda d: add_todo(d, "ok", priority="urgent"), "use low, normal or high"),
        (lambda d: add_todo(d, "ok", notes="n" * 4001), "too long"),
        (lambda d: update_todo(d, 99, title="x"), "no todo #99"),
        (lambda d: update_todo(d, 1), "Nothing to update"),
        (lambda d: update_todo(d, 1, status="finished"), "use open or done"),
        (lambda d: update_todo(d, 1, title=""), "non-empty title"),
        (lambda d: complete_todo(d, 99), "no todo #99"),
        (lambda d: delete_todo(d, 99), "no todo #99"),
        (lambda d: list_todos(d, status="pending"), "use open or done"),
    ],
)
async def test_bad_arguments_raise_tool_error_and_change_nothing(
    deps: ToolDeps, events: Events, store: Store, call: Any, message: str
) -> None:
    """Bad arguments raise ToolError with a message the model can relay; nothing is stored or emitted."""
    await add_todo(deps, "existing")
    before = (len(events.emitted), await store.todos.list("s1"))
    with pytest.raises(ToolError, match=message):
        await call(deps)
    assert (len(events.emitted), await store.todos.list("s1")) == before


async def test_sessions_are_isolated(deps: ToolDeps, store: Store, tmp_path: Path) -> None:
    """Another session cannot list, change, complete or delete this session's todos."""
    await add_todo(deps, "mine")
    other_events = Events()
    other = ToolDeps(session_id="s2", settings=deps.settings, store=store, events=other_events, timezone=TZ)
    assert await list_todos(other) == "No todos yet."
    for call in (update_todo(other, 1, title="x"), complete_todo(other, 1), delete_todo(other, 1)):
        with pytest.raises(ToolError, match="no todo #1"):
            await call
    assert other_events.emitted == []
    row = await store.todos.get("s1", 1)
    assert row is not None and (row.title, row.status) == ("mine", "open")


async def test_tool_contract_names_and_parameters() -> None:
    """The public tool names and parameters stay what models and clients rely on."""
    registry = ToolRegistry()
    registry.register_all(todos.TOOLS, group="todos")
    params = {spec.name: list(spec.parameters_schema()["properties"]) for spec in registry.specs()}
    assert params == {
        "add_todo": ["title", "notes", "due", "priority"],
        "list_todos": ["status"],
        "update_todo": ["todo_id", "title", "notes", "due", "priority", "status"],
        "complete_todo": ["todo_id"],
        "delete_todo": ["todo_id"],
    }
    assert registry.get("add_todo").parameters_schema()["required"] == ["title"]
