"""The fixed prompt (system message + tool schemas) each agent sends before the user says anything."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from backend.context.tokens import TokenCounter
from backend.llm.client import build_model_client
from backend.settings import Settings, resolve_endpoint
from backend.team.builder import TeamFactory
from backend.team.spec import load_team_spec
from backend.team.tools import SessionTool, compact_parameters
from backend.tools import default_registry

#: issue 16: every agent of `default` at most 1,000 tokens, `solo` at most 1,500 (4096-token models)
LIMITS = {"default": 1000, "solo": 1500}


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter.load()


def factory_for(team: str, settings: Settings, counter: TokenCounter) -> TeamFactory:
    endpoint = resolve_endpoint(settings)
    assert endpoint is not None
    return TeamFactory(
        spec=load_team_spec(team),
        registry=default_registry(),
        model_client=build_model_client(endpoint, settings),
        settings=settings,
        counter=counter,
    )


@pytest.mark.parametrize("team", sorted(LIMITS))
def test_fixed_prompt_fits_small_models(
    team: str, make_settings: Callable[..., Settings], counter: TokenCounter
) -> None:
    """Each shipped team's agents stay within the fixed-prompt budget issue 16 sets for 4096-token models."""
    sizes = factory_for(team, make_settings(TEAM=team), counter).fixed_prompt_tokens()
    assert set(sizes) == {a.name for a in load_team_spec(team).agents}
    assert all(0 < tokens <= LIMITS[team] for tokens in sizes.values()), sizes


def test_fixed_prompt_counts_tools(make_settings: Callable[..., Settings], counter: TokenCounter) -> None:
    """The measure includes the tool schemas: the same agent without function calling is much smaller."""
    with_tools = factory_for("solo", make_settings(), counter).fixed_prompt_tokens()["assistant"]
    without = factory_for("solo", make_settings(LLM_FUNCTION_CALLING="0"), counter).fixed_prompt_tokens()["assistant"]
    assert without < with_tools - 500


def test_compact_schema_keeps_meaning() -> None:
    """Compacting drops titles and nullable wrappers but the argument model still validates as before."""
    spec = default_registry().get("update_todo")
    schema = SessionTool(spec, None).schema  # type: ignore[arg-type]
    params = schema["parameters"]
    assert "title" not in str({k: v for k, v in params["properties"].items() if k != "title"})
    assert params["properties"]["priority"] == {"type": "string", "description": "low, normal or high"}
    assert params["required"] == ["todo_id"] and "additionalProperties" not in params
    assert spec.args_model.model_validate({"todo_id": 1, "priority": None}).model_dump()["priority"] is None
    with pytest.raises(ValidationError):
        spec.args_model.model_validate({"todo_id": 1, "bogus": 2})


def test_compact_parameters_leaves_real_unions() -> None:
    """A union of two real types, or a nullable without a null default, is left as it is."""
    union = {"anyOf": [{"type": "string"}, {"type": "integer"}], "default": None, "title": "X"}
    assert compact_parameters(union) == {"anyOf": [{"type": "string"}, {"type": "integer"}], "default": None}
    nullable = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": "a"}
    assert compact_parameters(nullable) == nullable
