"""Sandbox capacity (issue 12): a global cap on containers, and a capped /dev/shm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backend.errors import SandboxUnavailableError
from backend.sandbox import SandboxManager

from .conftest import new_namespace, sandbox_settings

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def small(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SandboxManager]:
    """A manager allowed two containers."""
    data: Path = tmp_path_factory.mktemp("capacity")
    mgr = SandboxManager(
        sandbox_settings(data, SANDBOX_MAX_CONTAINERS="2", SANDBOX_SHM_SIZE="8m"), namespace=new_namespace()
    )
    await mgr.start()
    try:
        yield mgr
    finally:
        await mgr.close()


async def test_beyond_sandbox_max_containers_a_clear_error(small: SandboxManager) -> None:
    """Two sessions get sandboxes, the third a clear refusal; once one is removed the third works."""
    for session in ("cap-a", "cap-b"):
        assert (await small.exec(session, "echo ok")).exit_code == 0
    with pytest.raises(SandboxUnavailableError, match="SANDBOX_MAX_CONTAINERS"):
        await small.exec("cap-c", "echo no")
    assert small.health()["refused_at_limit"] == 1
    await small.remove("cap-a")
    assert (await small.exec("cap-c", "echo now")).exit_code == 0


async def test_dev_shm_is_capped(small: SandboxManager) -> None:
    """/dev/shm is a private tmpfs of SANDBOX_SHM_SIZE: writing past it fails inside, not on the host."""
    result = await small.exec(
        "cap-b", "df -k /dev/shm | tail -1; head -c 16000000 /dev/zero > /dev/shm/fill; echo rc=$?"
    )
    assert " 8192 " in result.output, result.output
    assert "rc=0" not in result.output, result.output
