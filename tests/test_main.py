"""Start-up: fail fast on bad configuration, calibrate against the server's tokenizer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend.errors import SettingsError, TeamSpecError
from backend.main import start_app
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer


async def test_bad_team_fails_before_anything_starts(make_settings: Callable[..., Settings]) -> None:
    """A typo in TEAM stops start-up with a message listing the presets."""
    with pytest.raises(TeamSpecError, match="shipped presets"):
        await start_app(make_settings(TEAM="nonexistent"))


async def test_no_endpoint_and_no_embedded_model_is_a_clear_error(make_settings: Callable[..., Settings]) -> None:
    """With LLM_EMBEDDED=0 and no endpoint, start-up names the variables to set."""
    settings = make_settings().model_copy(update={"llm_base_url": None, "llm_model": None})
    with pytest.raises(SettingsError, match="LLM_BASE_URL"):
        await start_app(settings)


async def test_server_tokenizer_calibration(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """CONTEXT_TOKENIZER=server measures the server's /tokenize at start-up (never below the setting)."""
    running = await RunningServer(make_settings(CONTEXT_TOKENIZER="server", CONTEXT_SAFETY_MARGIN="0.05")).start()
    try:
        assert running.runtime is not None
        assert running.runtime.app.factory.safety_margin >= 0.05
        assert fake_model.tokenize_calls and "helpful" in fake_model.tokenize_calls[0]
    finally:
        await running.stop()
