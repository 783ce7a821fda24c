"""Fixtures for the sandbox tests: a real Docker engine and image, or a skip (a failure with REQUIRE_DOCKER=1)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from backend.sandbox import SandboxManager, engine
from backend.sandbox.config import LABEL_NAMESPACE, LABEL_SANDBOX
from backend.settings import Settings
from tests.conftest import RunningServer, require
from tests.support.client import UNIT

#: Namespaces of test managers start with this, so a session-end sweep can find leftovers.
TEST_NAMESPACE_PREFIX = "pytest-"

#: Small limits keep the limit tests fast; every other setting is the production default.
TEST_SANDBOX_ENV = {
    "SANDBOX_MEMORY": "256m",
    "SANDBOX_PIDS": "64",
    "SANDBOX_TIMEOUT": "10",
    "SANDBOX_OUTPUT_LIMIT": "4096",
    "SANDBOX_TMPFS_SIZE": "32m",
    "LLM_EMBEDDED": "0",
    "LOG_LEVEL": "WARNING",
}


def sandbox_settings(data_dir: Path, **overrides: str) -> Settings:
    """Settings for a test manager; DOCKER_HOST and SANDBOX_IMAGE from the environment are honoured."""
    env = {"DATA_DIR": str(data_dir), **TEST_SANDBOX_ENV}
    for name in ("DOCKER_HOST", "SANDBOX_IMAGE"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(overrides)
    return Settings.from_env(env)


def new_namespace() -> str:
    return f"{TEST_NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"


def _sweep(client: Any) -> None:
    """Remove containers that earlier test runs left behind (only test namespaces)."""
    for container in client.containers.list(all=True, filters={"label": f"{LABEL_SANDBOX}=1"}):
        if container.labels.get(LABEL_NAMESPACE, "").startswith(TEST_NAMESPACE_PREFIX):
            with contextlib.suppress(Exception):
                container.remove(force=True)


def container_exists(client: Any, container_id: str) -> bool:
    return bool(client.containers.list(all=True, filters={"id": container_id}))


@pytest.fixture(scope="session")
def docker_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of the real engine (connected like the manager does) with the sandbox image present.

    Skips when there is none, or fails when REQUIRE_DOCKER=1. Tests use it to look at containers
    from the outside, so they do not import the SDK themselves.
    """
    client, reason = engine.connect(sandbox_settings(tmp_path_factory.mktemp("probe")))
    if client is None:
        require("REQUIRE_DOCKER", f"sandbox tests need the engine and image: {reason}")
    _sweep(client)
    yield client
    _sweep(client)
    client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def manager(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SandboxManager]:
    """One started manager per module (its containers are reused across the module's tests)."""
    settings = sandbox_settings(tmp_path_factory.mktemp("sandbox-data"))
    mgr = SandboxManager(settings, namespace=new_namespace())
    await mgr.start()
    assert mgr.health()["available"], mgr.health()
    try:
        yield mgr
    finally:
        await mgr.close()


@pytest.fixture
async def http(docker_client: Any, make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    """A real server with the sandbox enabled, and an HTTP client of it."""
    running = await RunningServer(make_settings(SANDBOX_ENABLED="1", **TEST_SANDBOX_ENV)).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=8 * UNIT) as client:
            yield client
    finally:
        await running.stop()
