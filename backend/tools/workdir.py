"""The agents' workdir: a folder of its own, never one that holds the server's secrets or code.

The terminal and file tools read inside AGENT_WORKDIR. If that folder contained the data dir (every
conversation), the ``.env`` file (API keys) or the server's code, one policy bug would expose them;
so the default is ``DATA_DIR/workspace`` and start-up refuses such a workdir unless the operator
sets ``ALLOW_UNSAFE_WORKDIR=1``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import SettingsError
from ..settings import Settings

logger = logging.getLogger(__name__)

#: the server's code: the folder holding the ``backend`` package
CODE_DIR = Path(__file__).resolve().parents[2]


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def workdir_problem(workdir: Path, *, data_dir: Path, env_file: Path | None, code_dir: Path = CODE_DIR) -> str | None:
    """Why ``workdir`` must not be the agents' workdir, or None. All paths are compared resolved."""
    work = workdir.resolve()
    if _contains(work, data_dir.resolve()):
        return f"it contains the data dir {data_dir} (every stored conversation)"
    if env_file is not None and env_file.exists() and _contains(work, env_file.resolve()):
        return f"it contains {env_file} (the server's API keys and secrets)"
    if _contains(work, code_dir.resolve()) and (code_dir / "backend").is_dir():
        return f"it contains the server's code ({code_dir})"
    return None


#: what the terminal's confinement shows every command besides the workdir (read-only system dirs)
CONFINED_SYSTEM_DIRS = (Path("/usr"), Path("/bin"), Path("/sbin"), Path("/lib"), Path("/lib32"), Path("/lib64"))


def exposure_problem(*, data_dir: Path, env_file: Path | None) -> str | None:
    """Why the data dir or ``.env`` would be visible inside the confinement (under ``/usr``...), or None."""
    for path, what in ((data_dir, "the data dir"), (env_file, "the .env file")):
        if path is None or (what == "the .env file" and not path.exists()):
            continue
        for system in CONFINED_SYSTEM_DIRS:
            if _contains(system.resolve(), path.resolve()):
                return (
                    f"{what} ({path}) is under {system}, which every confined terminal command can read; "
                    "keep DATA_DIR and .env outside /usr and the /lib, /bin directories"
                )
    return None


def prepare_workdir(settings: Settings, *, env_file: Path | None = Path(".env")) -> Path:
    """Check AGENT_WORKDIR (create the default one); raise SettingsError for an unsafe one."""
    workdir = settings.agent_workdir
    problem = workdir_problem(workdir, data_dir=settings.data_dir, env_file=env_file)
    problem = problem or exposure_problem(data_dir=settings.data_dir, env_file=env_file)
    if problem is not None:
        if not settings.allow_unsafe_workdir:
            raise SettingsError(
                f"AGENT_WORKDIR={workdir} is not safe for the agents: {problem}. Point AGENT_WORKDIR at a "
                "folder of its own (the default is DATA_DIR/workspace), or set ALLOW_UNSAFE_WORKDIR=1"
            )
        logger.warning("AGENT_WORKDIR=%s: %s (allowed by ALLOW_UNSAFE_WORKDIR=1)", workdir, problem)
    if workdir.resolve() == (settings.data_dir / "workspace").resolve():
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o755)  # noqa: S103 (commands run as an unprivileged user must read it)
    return workdir
