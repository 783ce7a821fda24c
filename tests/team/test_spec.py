"""Team presets are validated data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.errors import TeamSpecError
from backend.team.spec import load_team_spec


def test_shipped_presets_load() -> None:
    """`default` is a real multi-agent swarm; `solo` is one agent holding every tool."""
    default = load_team_spec(None)
    assert default.kind == "swarm" and len(default.agents) >= 2 and default.entry_agent == "assistant"
    assert any(a.handoffs for a in default.agents)
    solo = load_team_spec("solo")
    assert solo.kind == "round_robin" and [a.tools for a in solo.agents] == [("*",)]


def test_user_team_file(tmp_path: Path) -> None:
    """TEAM may be a path to the user's own JSON file."""
    path = tmp_path / "team.json"
    path.write_text(json.dumps({"name": "mine", "kind": "round_robin", "agents": [{"name": "a"}, {"name": "b"}]}))
    spec = load_team_spec(str(path))
    assert [a.name for a in spec.agents] == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "x", "kind": "swarm", "agents": [{"name": "a", "handoffs": ["ghost"]}]}, "ghost"),
        ({"name": "x", "kind": "round_robin", "agents": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"name": "x", "kind": "round_robin", "agents": []}, "agents"),
        ({"name": "x", "kind": "graph", "agents": [{"name": "a"}]}, "kind"),
        ({"name": "x", "kind": "round_robin", "agents": [{"name": "a b"}]}, "name"),
    ],
)
def test_bad_team_files_are_refused(tmp_path: Path, data: dict[str, object], needle: str) -> None:
    """Invalid presets fail at start-up with a message naming the problem."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TeamSpecError, match=needle):
        load_team_spec(str(path))


def test_unknown_preset_lists_the_shipped_ones() -> None:
    """A typo in TEAM says which presets exist."""
    with pytest.raises(TeamSpecError, match="default, solo"):
        load_team_spec("defualt")
