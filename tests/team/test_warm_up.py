"""Start-up warm-up: the first user's first turn does not pay the process's first-time costs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.context.tokens import TokenCounter
from backend.settings import Settings
from tests.team.test_fixed_prompt import factory_for

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from openai.types.chat import ChatCompletionChunk
from backend.llm.client import warm_up_parsers
assert not ChatCompletionChunk.__pydantic_complete__, "the SDK no longer defers its builds: drop the warm-up"
warm_up_parsers()
assert ChatCompletionChunk.__pydantic_complete__
print("ok")
"""


def test_warm_up_parsers_builds_the_chunk_validator_the_sdk_defers() -> None:
    """In a fresh interpreter the SDK's chunk model is unbuilt; warm_up_parsers builds it."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


@pytest.mark.parametrize("team", ["solo", "default"])
async def test_team_warm_up_builds_and_round_trips_a_throwaway_team(
    team: str, make_settings: Callable[..., Settings]
) -> None:
    """TeamFactory.warm_up builds a team and round-trips its state with no store and no events."""
    factory = factory_for(team, make_settings(TEAM=team), TokenCounter.load())
    await factory.warm_up()  # no store (None) and a discarding sink: anything stored or emitted would fail
    assert factory.fixed_prompt_tokens()  # the factory is still usable afterwards
