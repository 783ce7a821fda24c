"""Settings: validated once, bad values named, endpoint precedence as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.errors import SettingsError
from backend.settings import (
    OPENROUTER_DEFAULT_BASE_URL,
    OPENROUTER_DEFAULT_MODEL,
    Settings,
    load_settings,
    resolve_endpoint,
)


def test_defaults() -> None:
    """With nothing set: loopback, port 8765, ./data, 4096/512 budget, no endpoint (embedded)."""
    s = Settings.from_env({})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8765, Path("./data"))
    assert (s.context_budget, s.context_reserve) == (4096, 512)
    assert s.max_message_bytes == 64 * 1024
    assert resolve_endpoint(s) is None


def test_bad_value_is_named() -> None:
    """A malformed value fails fast with the variable's name and value in the message."""
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"PORT": "eighty"})
    assert "PORT='eighty'" in info.value.message


def test_reserve_must_leave_room() -> None:
    """A reserve of half the budget or more is refused."""
    with pytest.raises(SettingsError, match="CONTEXT_RESERVE"):
        Settings.from_env({"CONTEXT_BUDGET": "1024", "CONTEXT_RESERVE": "600"})


def test_unknown_timezone_is_refused() -> None:
    """DEFAULT_TIMEZONE must be an IANA zone."""
    with pytest.raises(SettingsError, match="DEFAULT_TIMEZONE"):
        Settings.from_env({"DEFAULT_TIMEZONE": "Mars/Olympus"})


def test_llm_base_url_wins_over_everything() -> None:
    """LLM_BASE_URL beats OpenRouter, OpenAI and local settings."""
    s = Settings.from_env(
        {
            "LLM_BASE_URL": "http://127.0.0.1:9000/v1",
            "LLM_MODEL": "qwen",
            "OPENROUTER_API_KEY": "or",
            "OPENAI_API_KEY": "oa",
            "LOCAL_MODEL_BASE_URL": "http://127.0.0.1:8000",
        }
    )
    e = resolve_endpoint(s)
    assert e is not None
    assert (e.base_url, e.model, e.source) == ("http://127.0.0.1:9000/v1", "qwen", "LLM_BASE_URL")


def test_openrouter_names_from_the_earlier_service() -> None:
    """OPENROUTER_API_KEY alone gives OpenRouter's URL and kimi-k2.5; MODEL_NAME overrides the model."""
    e = resolve_endpoint(Settings.from_env({"OPENROUTER_API_KEY": "k"}))
    assert e is not None
    assert (e.base_url, e.model, e.api_key) == (OPENROUTER_DEFAULT_BASE_URL, OPENROUTER_DEFAULT_MODEL, "k")
    e2 = resolve_endpoint(Settings.from_env({"OPENROUTER_API_KEY": "k", "MODEL_NAME": "other/model"}))
    assert e2 is not None and e2.model == "other/model"


def test_openai_key_alias_and_local_gateway_names() -> None:
    """OPENAI_KEY works like OPENAI_API_KEY; LOCAL_MODEL_BASE_URL + LOCAL_MODEL_NAME come last."""
    e = resolve_endpoint(Settings.from_env({"OPENAI_KEY": "k", "OPENAI_BASE_URL": "https://x.example/v1"}))
    assert e is not None and (e.source, e.base_url) == ("OPENAI_KEY", "https://x.example/v1")
    local = resolve_endpoint(
        Settings.from_env({"LOCAL_MODEL_BASE_URL": "http://127.0.0.1:8000", "LOCAL_MODEL_NAME": "ds"})
    )
    assert local is not None and (local.model, local.source) == ("ds", "LOCAL_MODEL_BASE_URL")
    assert local.base_url == "http://127.0.0.1:8000/v1"  # host and port, as the gateway's README wrote it


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://gw.example/openai/v1", "https://gw.example/openai/v1"),
    ],
)
def test_local_gateway_base_url_without_v1(given: str, used: str) -> None:
    local = resolve_endpoint(Settings.from_env({"LOCAL_MODEL_BASE_URL": given}))
    assert local is not None and local.base_url == used


def test_system_prompt_precedence(tmp_path: Path) -> None:
    """SYSTEM_PROMPT, then AGENT_SYSTEM_PROMPT, then backend/config/system_prompt.txt."""
    assert Settings.from_env({"SYSTEM_PROMPT": "a", "AGENT_SYSTEM_PROMPT": "b"}).resolved_system_prompt() == "a"
    assert Settings.from_env({"AGENT_SYSTEM_PROMPT": "b"}).resolved_system_prompt() == "b"
    assert "helpful" in Settings.from_env({}).resolved_system_prompt()


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    """.env fills in values; the real environment overrides them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9100\nTEAM=solo\n")
    s = load_settings({"PORT": "9200"}, dotenv_path=dotenv)
    assert (s.port, s.team) == (9200, "solo")


def test_allowed_origins_is_a_comma_list() -> None:
    """ALLOWED_ORIGINS accepts a comma-separated list."""
    s = Settings.from_env({"ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert s.allowed_origins == ("https://a.example", "https://b.example")
