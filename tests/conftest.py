"""Shared fixtures: settings on a tmp dir, the scripted model on port 0, a real server on port 0."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from backend.settings import Settings
from backend.store import Store, open_database
from tests.fakes.model_server import FakeModelServer
from tests.support.client import WsClient
from tests.support.postgres import PgCluster, find_bindir

if TYPE_CHECKING:
    from backend.main import Runtime

#: Variables that would point a test at a real model or a real account.
REAL_MODEL_VARIABLES = (
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_KEY",
    "OPENAI_BASE_URL",
    "LOCAL_MODEL_BASE_URL",
    "LOCAL_MODEL_NAME",
    "MODEL_NAME",
    "AUTH_TOKEN",
    "TEAM",
    "SYSTEM_PROMPT",
    "AGENT_SYSTEM_PROMPT",
)


@pytest.fixture(autouse=True)
def no_real_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach a real model: every endpoint variable is removed from the environment."""
    for name in REAL_MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL server for the whole test session (REQUIRE_POSTGRES=1: must exist)."""
    bindir = find_bindir()
    if bindir is None:
        require("REQUIRE_POSTGRES", "PostgreSQL is not installed (apt-get install postgresql)")
    assert bindir is not None
    cluster = PgCluster(bindir, tcp=True).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL of a fresh, empty database on the test session's PostgreSQL server."""
    return pg_cluster.database()


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def store_engine(request: pytest.FixtureRequest) -> str:
    """Each store test runs against SQLite and against PostgreSQL."""
    return str(request.param)


@pytest.fixture
def make_store(store_engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], Store]:
    """Builds unopened stores on the same data (a second one re-opens what the first wrote)."""
    url = request.getfixturevalue("pg_url") if store_engine == "postgres" else None
    return lambda: Store(open_database(url, tmp_path / "t.db"))


@pytest.fixture
async def store(make_store: Callable[[], Store]) -> AsyncIterator[Store]:
    """A real store (SQLite file or PostgreSQL database) with sessions "s1" and "s2"."""
    store = make_store()
    await store.open()
    await store.sessions.create("s1")
    await store.sessions.create("s2")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModelServer]:
    server = FakeModelServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def base_env(tmp_path: Path, fake: FakeModelServer | None) -> dict[str, str]:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    env = {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATA_DIR": str(tmp_path / "data"),
        "TEAM": "solo",
        "AGENT_WORKDIR": str(workdir),
        "LLM_EMBEDDED": "0",
        "LLM_FUNCTION_CALLING": "1",
        "LLM_TIMEOUT": "10",
        "LLM_MAX_RETRIES": "0",
        "SANDBOX_ENABLED": "0",
        "RATE_LIMIT_MESSAGES": "1000",
        "STOP_WATCHDOG_SECONDS": "3",
        "LOG_LEVEL": "WARNING",
    }
    if fake is not None:
        env["LLM_BASE_URL"] = fake.base_url
        env["LLM_MODEL"] = fake.model
    return env


@pytest.fixture
def make_settings(tmp_path: Path, fake_model: FakeModelServer) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        env = base_env(tmp_path, fake_model)
        env.update(overrides)
        return Settings.from_env(env)

    return make


class RunningServer:
    """A real server on port 0 that a test can kill and start again on the same data dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None

    async def start(self) -> RunningServer:
        from backend.main import start_app  # imported here so pure unit tests need none of it

        self.runtime = await start_app(self.settings)
        # keep the same port across restarts so clients can reconnect
        self.settings = self.settings.model_copy(update={"port": self.runtime.app.port})
        return self

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def client(self, **kwargs: Any) -> WsClient:
        return await WsClient.connect(self.url, **kwargs)


@pytest.fixture
async def server(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    running = await RunningServer(make_settings()).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[WsClient]:
    ws = await server.client()
    try:
        yield ws
    finally:
        await ws.close()


def require(marker_env: str, reason: str) -> None:
    """Skip with a reason, or fail when CI demands the capability (REQUIRE_DOCKER=1 ...)."""
    if os.environ.get(marker_env) == "1":
        pytest.fail(f"{reason} (and {marker_env}=1 forbids skipping)")
    pytest.skip(reason)
