"""The agents' workdir never holds the data dir, the .env file or the server's code (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.errors import SettingsError
from backend.settings import Settings
from backend.tools.workdir import CODE_DIR, exposure_problem, prepare_workdir, workdir_problem


def settings(data_dir: Path, **extra: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(data_dir), **extra})


def test_the_default_workdir_is_created_under_the_data_dir(tmp_path: Path) -> None:
    """No AGENT_WORKDIR: DATA_DIR/workspace, created, readable by the unprivileged command user."""
    workdir = prepare_workdir(settings(tmp_path / "data"), env_file=None)
    assert workdir == tmp_path / "data" / "workspace" and workdir.is_dir()
    assert workdir.stat().st_mode & 0o005 == 0o005


@pytest.mark.parametrize("which", ["data dir", "env", "code"])
def test_a_workdir_holding_secrets_or_code_refuses_to_start(tmp_path: Path, which: str) -> None:
    """A workdir containing the data dir, the .env file or the server's code is refused, naming it."""
    env_file = tmp_path / ".env"
    env_file.write_text("OPENAI_API_KEY=x\n")
    data = tmp_path / "data"
    workdir = {"data dir": tmp_path, "env": tmp_path, "code": CODE_DIR}[which]
    if which == "env":
        data = tmp_path.parent / f"{tmp_path.name}-data"
    with pytest.raises(SettingsError, match="ALLOW_UNSAFE_WORKDIR"):
        prepare_workdir(settings(data, AGENT_WORKDIR=str(workdir)), env_file=env_file)
    problem = workdir_problem(workdir, data_dir=data, env_file=env_file)
    assert problem is not None and {"data dir": "data dir", "env": ".env", "code": "code"}[which] in problem


def test_an_operator_can_allow_an_unsafe_workdir_explicitly(tmp_path: Path) -> None:
    """ALLOW_UNSAFE_WORKDIR=1 lets it start (with a warning)."""
    chosen = settings(tmp_path / "data", AGENT_WORKDIR=str(tmp_path), ALLOW_UNSAFE_WORKDIR="1")
    assert prepare_workdir(chosen, env_file=None) == tmp_path


def test_a_separate_workdir_is_fine(tmp_path: Path) -> None:
    """A folder of its own passes."""
    (tmp_path / "work").mkdir()
    assert workdir_problem(tmp_path / "work", data_dir=tmp_path / "data", env_file=tmp_path / ".env") is None


def test_a_data_dir_under_usr_would_be_visible_inside_the_confinement(tmp_path: Path) -> None:
    """The confinement binds /usr read-only, so a DATA_DIR under it is refused at start-up."""
    assert "under /usr" in (exposure_problem(data_dir=Path("/usr/src/app/data"), env_file=None) or "")
    assert exposure_problem(data_dir=tmp_path / "data", env_file=None) is None
    with pytest.raises(SettingsError, match="/usr"):
        prepare_workdir(settings(Path("/usr/src/app/data"), AGENT_WORKDIR=str(tmp_path)), env_file=None)
