"""Options parsed the way the programs parse them: every abbreviation resolved, checked and spelled out.

The attacks of issue 11 (``git blame --conte=/etc/shadow``...) and, table-driven, every option of
every allowed program that takes a file, in full and in every abbreviation, with ``=`` and as the
next word, plus clustered short options. Checked against the real git binary: every option we let
take the next word really takes it (otherwise git would read that word as a path we never confined).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from backend.tools.terminal import parse_explicit_command
from backend.tools.terminal_policy import CommandRefusedError, TerminalPolicy, build_policy
from backend.tools.terminal_programs import SPECS, long_names

OUTSIDE = "/etc/shadow"


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> TerminalPolicy:
    work = tmp_path_factory.mktemp("work")
    (work / "README.md").write_text("hello\n")
    return build_policy(work)


def refused(policy: TerminalPolicy, command: str) -> str:
    with pytest.raises(CommandRefusedError) as info:
        policy.check(command)
    return str(info.value)


def prefixes(option: str, spec: object = None) -> list[str]:
    """``--contents`` -> ``--c``, ``--co``, ... ``--contents`` (what getopt_long would accept), minus
    prefixes that are themselves another allowed option (``--ignore-rev`` of ``--ignore-revs-file``)."""
    exact = set().union(*(long_names(t) for t in SPECS.values()))
    return [option[:n] for n in range(3, len(option) + 1) if option[:n] == option or option[:n] not in exact]


ATTACKS = [
    ("git blame {opt}=/etc/shadow README.md", "--contents"),
    ("git blame {opt} /etc/shadow README.md", "--contents"),
    ("git blame {opt}=/etc/shadow README.md", "--ignore-revs-file"),
    ("git blame {opt}=/proc/self/stat README.md", "--ignore-revs-file"),
    ("git log {opt}=out.txt", "--output"),
    ("git grep {opt} x", "--open-files-in-pager"),
    ("git grep {opt}=vi x", "--open-files-in-pager"),
    ("git {opt}=/tmp log", "--exec-path"),
    ("git {opt}=/ status", "--git-dir"),
    ("git {opt}=/ status", "--work-tree"),
    ("git log {opt}=/ -1", "--git-dir"),
    ("git diff {opt} a b", "--no-index"),
    ("git log {opt}", "--ext-diff"),
]


@pytest.mark.parametrize("command", [template.format(opt=p) for template, option in ATTACKS for p in prefixes(option)])
def test_every_abbreviation_of_a_dangerous_git_option_is_refused(policy: TerminalPolicy, command: str) -> None:
    """--conte=, --cont=, --ignore-revs-fil=, --out=, --open-files-in-p ... all refused."""
    refused(policy, command)


@pytest.mark.parametrize(
    "text",
    [
        "!git blame --conte=/etc/shadow README.md",
        "!git blame --cont=/etc/shadow README.md",
        "执行命令: git blame --conte=/etc/shadow README.md",
        "执行命令：git blame --ignore-revs-fil=/proc/self/stat README.md",
    ],
)
def test_the_reported_attacks_are_refused_through_the_explicit_modes(policy: TerminalPolicy, text: str) -> None:
    """The exact inputs of the report, as a user (or the model) types them."""
    command = parse_explicit_command(text)
    assert command is not None
    message = refused(policy, command)
    assert "outside the workdir" in message or "not supported" in message or "ambiguous" in message


def _path_cases() -> list[str]:
    cases = []
    for prog, spec in SPECS.items():
        tail = " README.md" if prog.startswith("git") else " x"
        for option in sorted(spec.paths):
            if option.startswith("--"):
                for abbreviation in prefixes(option):
                    cases.append(f"{prog} {abbreviation}={OUTSIDE}{tail}")
                    cases.append(f"{prog} {abbreviation} {OUTSIDE}{tail}")
            else:
                cases.append(f"{prog} {option}{OUTSIDE}{tail}")  # attached: -f/etc/shadow
                cases.append(f"{prog} {option} {OUTSIDE}{tail}")
                flags = sorted(f for f in spec.flags if len(f) == 2)
                if flags and not spec.separate:
                    cases.append(f"{prog} {flags[0]}{option[1]}{OUTSIDE}{tail}")  # clustered: -if/etc/shadow
                if spec.short_equals:
                    cases.append(f"{prog} {option}={OUTSIDE}{tail}")  # rg: -f=/etc/shadow means /etc/shadow
                    cases.append(f"{prog} {flags[0]}{option[1]}={OUTSIDE}{tail}")
    return cases


@pytest.mark.parametrize("command", _path_cases())
def test_every_path_option_of_every_program_is_confined_in_every_spelling(policy: TerminalPolicy, command: str) -> None:
    """Full, abbreviated, =, next-word and clustered spellings of each file-taking option: confined."""
    message = refused(policy, command)
    assert any(why in message for why in ("outside the workdir", "ambiguous", "abbreviation of")), message


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git log --onel -1", "--oneline"),
        ("git blame --conte=README.md README.md", "--contents=README.md"),
        ("ls --col=never", "--color=never"),
        ("grep --fixed-str x README.md", "--fixed-strings"),
        ("head --lin 3 README.md", "--lines=3"),
    ],
)
def test_abbreviations_are_executed_spelled_in_full(policy: TerminalPolicy, command: str, expected: str) -> None:
    """The program never sees an abbreviation: what was checked is exactly what runs."""
    plan = policy.check(command)
    assert expected in plan.argv
    assert not any(w.startswith("--") and w not in expected and w.split("=")[0] not in _all_long() for w in plan.argv)


def _all_long() -> set[str]:
    names: set[str] = set()
    for spec in SPECS.values():
        names |= long_names(spec)
    return names | {"--no-ext-diff", "--no-textconv", "--no-config", "--ignore-submodules", "--"}


@pytest.mark.parametrize("command", ["git log --no-", "ls --s", "grep --in x README.md", "git grep --fi x"])
def test_ambiguous_abbreviations_are_refused(policy: TerminalPolicy, command: str) -> None:
    """A prefix of several options is refused with the candidates named, never guessed."""
    assert "ambiguous" in refused(policy, command)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("sub", sorted(s.split()[1] for s in SPECS if s.startswith("git ")))
def test_git_takes_the_next_word_for_every_option_we_let_take_it(sub: str, tmp_path: Path) -> None:
    """Against the real git: an option we treat as consuming the next word really does, so that word
    can never reach git as an unconfined path or revision."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x\n")
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "add", "f"], cwd=tmp_path, check=True, env=env)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *identity, "commit", "-qm", "x"], cwd=tmp_path, check=True, env=env)
    spec = SPECS[f"git {sub}"]
    for option in sorted((spec.values | spec.paths) - spec.flags):
        argv = ["git", sub, option, "ZZMARKER"]
        result = subprocess.run(argv, check=False, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=30)
        output = result.stdout + result.stderr
        for sign in ("ambiguous argument 'ZZMARKER'", "pathspec 'ZZMARKER'", "no such path 'ZZMARKER'"):
            assert sign not in output, f"git {sub} {option} does not take the next word: {output[:200]}"


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is not installed")
def test_ripgrep_reads_the_file_after_an_equals_sign(tmp_path: Path) -> None:
    """Against the real rg: '-f=FILE' reads FILE (the '=' is dropped), which is why the policy confines FILE."""
    (tmp_path / "patterns").write_text("needle\n")
    (tmp_path / "haystack").write_text("a needle here\n")
    run = subprocess.run(
        ["rg", "--no-config", "-f=patterns", "haystack"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "needle" in run.stdout
