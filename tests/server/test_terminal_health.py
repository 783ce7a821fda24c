"""/healthz says how terminal commands are confined, and why the skill is off when it is (issue 11)."""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
import pytest

from backend.settings import Settings
from backend.tools import terminal
from backend.tools.confinement import NOBODY, Confinement
from tests.conftest import RunningServer


async def health_of(settings: Settings) -> dict[str, object]:
    running = await RunningServer(settings).start()
    try:
        async with httpx.AsyncClient() as http:
            body = (await http.get(running.http + "/healthz")).json()
    finally:
        await running.stop()
    section = body["terminal"]
    assert isinstance(section, dict)
    return section


async def test_healthz_reports_bubblewrap_and_the_unprivileged_uid(make_settings: Callable[..., Settings]) -> None:
    """On a default install the terminal is confined by bubblewrap (as nobody when the server is root)."""
    section = await health_of(make_settings())
    assert section["enabled"] is True and section["confinement"] == "bwrap"
    assert section["uid"] == (NOBODY if os.geteuid() == 0 else None)


async def test_healthz_says_why_the_terminal_is_disabled(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where bubblewrap cannot run, /healthz shows the skill disabled with the reason."""

    async def unavailable(setting: str) -> Confinement:
        return Confinement(mode="unavailable", reason="bubblewrap (bwrap) is not installed")

    monkeypatch.setattr(terminal, "confinement_for", unavailable)
    section = await health_of(make_settings())
    assert section["enabled"] is False and "bwrap" in str(section["reason"])


async def test_healthz_shows_an_operator_opt_out(make_settings: Callable[..., Settings]) -> None:
    """TERMINAL_CONFINEMENT=none is visible in /healthz, not silent."""
    section = await health_of(make_settings(TERMINAL_CONFINEMENT="none"))
    assert section["confinement"] == "none" and "TERMINAL_CONFINEMENT=none" in str(section["reason"])
