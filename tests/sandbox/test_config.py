"""The hardened container spec and path policy, as pure functions (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.errors import SandboxUnavailableError, ToolError
from backend.sandbox import config
from backend.settings import Settings


def _spec(**env: str) -> dict[str, object]:
    settings = Settings.from_env({"DATA_DIR": "/tmp/x", **env})
    return config.container_kwargs(settings, namespace="ns", instance_id="inst", session_id="sess")


def test_default_spec_is_hardened() -> None:
    """Defaults: no network, read-only root, no capabilities, no-new-privileges, non-root, init, private IPC."""
    spec = _spec()
    assert spec["network_mode"] == "none"
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["user"] == "1000:1000"
    assert spec["init"] is True
    assert spec["ipc_mode"] == "private"
    assert spec["privileged"] is False
    assert spec["entrypoint"] == config.KEEPALIVE


def test_spec_limits_follow_settings() -> None:
    """Memory equals memory+swap (no swap); CPUs, pids and tmpfs sizes come from settings."""
    spec = _spec(SANDBOX_MEMORY="300m", SANDBOX_CPUS="0.5", SANDBOX_PIDS="50", SANDBOX_TMPFS_SIZE="8m")
    assert spec["mem_limit"] == spec["memswap_limit"] == 300 * 1024**2
    assert spec["nano_cpus"] == 500_000_000
    assert spec["pids_limit"] == 50
    tmpfs = spec["tmpfs"]
    assert isinstance(tmpfs, dict)
    assert set(tmpfs) == {"/tmp", "/workspace"}
    assert f"size={8 * 1024**2}" in tmpfs["/workspace"]
    assert "uid=1000" in tmpfs["/workspace"] and "gid=1000" in tmpfs["/workspace"]
    ulimits = {u["name"]: u for u in spec["ulimits"]}  # type: ignore[attr-defined]
    assert ulimits["fsize"]["hard"] == 8 * 1024**2
    assert ulimits["nofile"]["hard"] == 1024


def test_spec_has_no_mounts_and_a_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No volumes, binds or devices; the environment is the fixed minimal one, never the host's."""
    monkeypatch.setenv("AGENTCHAT_CANARY", "leak")
    spec = _spec()
    for key in ("volumes", "mounts", "devices", "binds"):
        assert key not in spec
    assert spec["environment"] == config.BASE_ENV
    assert "AGENTCHAT_CANARY" not in config.BASE_ENV


def test_spec_labels_name_namespace_instance_and_session() -> None:
    """Labels let a restarted server find the containers of its namespace."""
    assert _spec()["labels"] == {
        "agentchat.sandbox": "1",
        "agentchat.namespace": "ns",
        "agentchat.instance": "inst",
        "agentchat.session": "sess",
    }


def test_runtime_is_optional() -> None:
    """SANDBOX_RUNTIME (e.g. gVisor's runsc) is passed only when set."""
    assert "runtime" not in _spec()
    assert _spec(SANDBOX_RUNTIME="runsc")["runtime"] == "runsc"


@pytest.mark.parametrize("user", ["0", "0:0", "1000:0", "root", "sandbox", ""])
def test_root_or_named_user_is_refused(user: str) -> None:
    """The sandbox never runs as root, and users are numeric so the image cannot remap them."""
    with pytest.raises(SandboxUnavailableError):
        config.parse_user(user)


@pytest.mark.parametrize("network", ["host", "container:abc"])
def test_host_network_is_refused(network: str) -> None:
    """SANDBOX_NETWORK may be none, bridge or a named network, never the host's or another container's."""
    with pytest.raises(SandboxUnavailableError):
        config.check_network(network)


def test_namespace_depends_on_data_dir(tmp_path: Path) -> None:
    """Two servers with different data directories get different label namespaces."""
    a, b = config.namespace_for(tmp_path / "a"), config.namespace_for(tmp_path / "b")
    assert a != b
    assert a == config.namespace_for(tmp_path / "a")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("notes.txt", "/workspace/notes.txt"),
        ("a/b/../c.py", "/workspace/a/c.py"),
        ("/workspace/x", "/workspace/x"),
        ("./x", "/workspace/x"),
    ],
)
def test_paths_resolve_inside_workspace(path: str, expected: str) -> None:
    """Relative paths and absolute paths under /workspace map to normalized absolute paths."""
    assert config.resolve_path(path) == expected


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/etc/passwd", "/workspace/../etc", "a/../../x", "/workspacex/y", "", ".", "a\x00b"]
)
def test_paths_outside_workspace_are_refused(path: str) -> None:
    """Escapes with .., other absolute paths, the directory itself and NUL bytes are refused."""
    with pytest.raises(ToolError):
        config.resolve_path(path)


def test_commands_run_under_a_hard_timeout() -> None:
    """Strings go through sh -c, lists are argv; both are wrapped in timeout -s KILL."""
    assert config.wrap_command("echo hi", 2) == ["timeout", "-s", "KILL", "2.000", "/bin/sh", "-c", "echo hi"]
    assert config.wrap_command(["python3", "-"], 1.5)[4:] == ["python3", "-"]
    with pytest.raises(ToolError):
        config.wrap_command([], 1)


@pytest.mark.parametrize(("text", "size"), [("512m", 512 * 1024**2), ("1g", 1024**3), ("64k", 65536), ("100", 100)])
def test_sizes_parse_like_docker(text: str, size: int) -> None:
    """Size strings use Docker's binary units."""
    assert config.parse_size(text) == size
