"""Hostile repository internals in the workdir (an unpacked archive, not a clone): git is refused.

Every repository here is planted with real ``git init`` and hand-written config files; each attack of
issue 11 (commondir + filter, include, bare repository with core.worktree outside, a linked worktree,
aliases, credential helpers, pagers) must be refused before git starts, and nothing it would run runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from backend.settings import Settings
from backend.tools.terminal import execute_command
from backend.tools.terminal_policy import risky_git_config

ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}


def git(where: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=where, check=True, env=ENV, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / "README.md").write_text("hello\n")
    git(work, "add", "README.md")
    git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return work


async def run(work: Path, command: str) -> str | None:
    settings = Settings.from_env({"DATA_DIR": str(work.parent / "data"), "AGENT_WORKDIR": str(work)})
    outcome = await execute_command(command, settings=settings)
    return outcome.refused


async def test_a_clean_repository_still_works(repo: Path) -> None:
    """Control: a normal repository runs git status and log."""
    assert await run(repo, "git status") is None
    assert await run(repo, "git log --oneline") is None


async def test_commondir_with_a_filter_runs_nothing(repo: Path, tmp_path: Path) -> None:
    """A commondir whose config defines filter.x.clean, plus `* filter=x`: refused, the filter never runs."""
    pwned = tmp_path / "pwned"
    common = repo / "common"
    common.mkdir()
    (common / "config").write_text(f'[filter "x"]\n\tclean = touch {pwned}\n\tsmudge = touch {pwned}\n')
    (repo / ".git" / "commondir").write_text("../common\n")
    (repo / ".gitattributes").write_text("* filter=x\n")
    refused = await run(repo, "git status")
    assert refused is not None and "filter" in refused
    assert not pwned.exists()


async def test_commondir_outside_the_workdir_is_refused(repo: Path, tmp_path: Path) -> None:
    """commondir may not point out of the workdir at all."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo / ".git" / "commondir").write_text(f"{outside}\n")
    refused = await run(repo, "git log")
    assert refused is not None and "commondir" in refused


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ("[include]\n\tpath = /etc/gitconfig-evil\n", "include"),
        ('[includeIf "gitdir:/"]\n\tpath = ../evil\n', "include"),
        ("[core]\n\tfsmonitor = touch /tmp/x\n", "core.fsmonitor"),
        ("[core]\n\thooksPath = /tmp\n", "core.hookspath"),
        ("[core]\n\tpager = sh -c id\n", "core.pager"),
        ("[core]\n\tsshCommand = id\n", "core.sshcommand"),
        ("[pager]\n\tlog = sh -c id\n", "pager.log"),
        ("[alias]\n\tst = !id\n", "alias.st"),
        ("[credential]\n\thelper = !id\n", "credential.helper"),
        ('[diff "x"]\n\ttextconv = id\n', "diff.x.textconv"),
        ('[diff "x"]\n\tcommand = id\n', "diff.x.command"),
        ("[diff]\n\texternal = id\n", "diff.external"),
        ('[merge "x"]\n\tdriver = id\n', "merge.x.driver"),
        ('[filter "x"]\n\tprocess = id\n', "filter.x.process"),
        ("[core]\n\tworktree = /etc\n", "core.worktree"),
        ("[blame]\n\tignoreRevsFile = /etc/shadow\n", "blame.ignorerevsfile"),
        ("[mailmap]\n\tfile = /etc/shadow\n", "mailmap.file"),
        ("[diff]\n\torderFile = /etc/shadow\n", "diff.orderfile"),
        ("[core]\n\texcludesFile = /etc/shadow\n", "core.excludesfile"),
        ("[core]\n\tattributesFile = /etc/shadow\n", "core.attributesfile"),
        ("[core]\n\talternateRefsCommand = id\n", "core.alternaterefscommand"),
    ],
)
async def test_risky_repository_config_is_refused(repo: Path, config: str, named: str) -> None:
    """Each key that could run a program or move the work tree refuses git, naming the key."""
    with (repo / ".git" / "config").open("a") as handle:
        handle.write(config)
    refused = await run(repo, "git status")
    assert refused is not None and named in refused, refused


async def test_worktree_config_is_read_too(repo: Path) -> None:
    """config.worktree is part of the chain."""
    (repo / ".git" / "config.worktree").write_text("[core]\n\tpager = id\n")
    assert await run(repo, "git log") is not None


async def test_a_bare_repository_with_its_worktree_outside_is_refused(tmp_path: Path) -> None:
    """The workdir is itself a bare repository whose core.worktree is /etc: git diff never runs."""
    work = tmp_path / "bare"
    work.mkdir()
    git(work, "init", "-q", "--bare")
    with (work / "config").open("a") as handle:
        handle.write("[core]\n\tworktree = /etc\n\tbare = false\n")
    refused = await run(work, "git diff")
    assert refused is not None and "core.worktree" in refused


async def test_a_linked_worktree_pointing_elsewhere_is_refused(tmp_path: Path, repo: Path) -> None:
    """A .git file (gitdir: elsewhere) means a repository outside the workdir."""
    work = tmp_path / "linked"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    refused = await run(work, "git status")
    assert refused is not None and "elsewhere" in refused


#: Config files that git reads differently from a naive line parser: a BOM, a value holding U+001C or
#: U+2028 (Python's splitlines/strip treat them as line breaks/space, git does not), backslash-newline
#: continuations inside and outside quotes, comments, odd spacing.
HIDDEN_KEYS = [
    '\ufeff[filter "x"]\n\tclean = id\n',
    "[core]\n\tfoo = a\x1c[x]\n\tpager = id\n",
    "[core]\n\tfoo = a\u2028[x]\n\tpager = id\n",
    '[core]\n\tfoo = "a\\\n[x]"\n\tpager = id\n',
    "[core]\n\tfoo = a\\\n[x]\n\tpager = id\n",
    "[core]\n\tfoo = a ; x \\\n\tpager = id\n",
    "[core]\n# x \\\n\tpager = id\n",
    "[core];c\n\tfsmonitor = id\n",
    "[core]\r\n\thooksPath = hooks\r\n",
    "[CORE]\n\tSSHCOMMAND=id\n",
    '[diff\t"a"]\n\ttextconv = id\n',
    "[filter.x]\n\tprocess = id\n",
    '[merge "m"] driver = id\n',
    "[credential]\n\thelper = id\n",
]


@pytest.mark.parametrize("config", HIDDEN_KEYS)
def test_the_config_scan_sees_every_key_git_sees(config: str, tmp_path: Path) -> None:
    """Against the real git as the oracle: whatever risky key git reads from a file, the scan reports."""
    path = tmp_path / "config"
    path.write_bytes(config.encode("utf-8"))
    run = subprocess.run(
        ["git", "config", "--file", str(path), "--no-includes", "--list", "--name-only"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    risky = [
        key for key in run.stdout.split() if risky_git_config(f"[{key.rsplit('.', 1)[0]}]\n{key.rsplit('.', 1)[1]}=x\n")
    ]
    assert run.returncode == 0 and risky, "the case must be a config git reads, with a risky key"
    assert risky_git_config(config)


def test_blame_ignore_revs_file_in_config_would_leak_a_line(repo: Path, tmp_path: Path) -> None:
    """Why blame.ignoreRevsFile is refused: real git prints the file's first line in its error."""
    secret = tmp_path / "secret"
    secret.write_text("first-secret-line\n")
    run = subprocess.run(
        ["git", "-c", f"blame.ignoreRevsFile={secret}", "blame", "README.md"],
        cwd=repo, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "first-secret-line" in run.stderr


def plant_nested_submodule(repo: Path) -> None:
    """A submodule checked out with its own .git directory, whose config defines a failing filter."""
    sub = repo / "sub"
    sub.mkdir()
    git(sub, "init", "-q")
    (sub / "f").write_text("a\n")
    git(sub, "add", "f")
    git(sub, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "sub")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=sub, env=ENV, capture_output=True, text=True, check=True)
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head.stdout.strip()},sub")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "gitlink")
    with (sub / ".git" / "config").open("a") as handle:
        handle.write('[filter "x"]\n\tclean = false\n\trequired = true\n')
    (sub / ".gitattributes").write_text("* filter=x\n")
    later = (sub / "f").stat().st_mtime + 3600
    os.utime(sub / "f", (later, later))  # stat-dirty: git must re-read f through the filter


@pytest.mark.parametrize("command", ["git status", "git diff", "git diff HEAD --stat"])
async def test_a_nested_submodule_is_never_entered(repo: Path, command: str) -> None:
    """status/diff would run git inside sub/ with sub/.git/config's filter: --ignore-submodules=all stops it."""
    plant_nested_submodule(repo)
    settings = Settings.from_env({"DATA_DIR": str(repo.parent / "data"), "AGENT_WORKDIR": str(repo)})
    outcome = await execute_command(command, settings=settings)
    assert outcome.refused is None and outcome.exit_code == 0, outcome.output
    assert "filter" not in outcome.output and "--ignore-submodules=all" in outcome.argv


async def test_submodule_options_that_would_enter_it_are_refused(repo: Path) -> None:
    """A user's --ignore-submodules=none or --submodule=diff would undo that: refused."""
    for command in ("git status --ignore-submodules=none", "git diff --submodule=diff", "git diff --ignore-sub=none"):
        assert await run(repo, command) is not None, command
