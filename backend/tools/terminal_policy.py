"""What the terminal skill may run: a pure policy, safe by construction.

A command is checked in this order and refused (:class:`CommandRefusedError`) at the first failure:

1. a friendly screen for well-known destructive commands (``rm -rf``, ``mkfs``, fork bombs...); it
   only improves the message: everything it catches is refused by the later steps too;
2. characters: control characters, invisible/bidi format characters, fullwidth look-alikes;
3. shell syntax outside single quotes (``; & | < > ( ) $`` backticks, unquoted globs): there is no
   shell, so these are refused rather than "sanitized";
4. ``shlex`` tokenization, then an allowlist of programs resolved once to absolute paths;
5. a per-program argument policy: allowlisted options (exact names, no abbreviations), and every
   argument that names a file is confined to the workdir by ``realpath`` (symlinks and ``..``
   resolved). Recursive listings never follow symlinks.

The only I/O here is ``realpath``/``which``; running the command is :mod:`backend.tools.terminal`'s job.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import terminal_programs as programs
from .terminal_programs import CommandRefusedError, Confiner, refuse

__all__ = [
    "SAFE_PATH",
    "CommandPlan",
    "CommandRefusedError",
    "TerminalPolicy",
    "build_env",
    "build_policy",
    "check_characters",
    "check_shell_syntax",
    "risky_git_config",
    "screen_dangerous",
    "tokenize",
]

#: Where allowlisted programs are looked up (once, when a policy is built).
SAFE_PATH = "/usr/bin:/bin:/usr/local/bin"
MAX_COMMAND_CHARS = 4096
MAX_ARGS = 256

#: Programs that execute project code or a shell: the sandbox is the place for them.
SANDBOX_PROGRAMS = programs.words(
    "python python3 pytest pip pip3 uv poetry tox nox node npm npx yarn pnpm deno bun ruby perl php "
    "java javac go cargo rustc make cmake gcc cc clang bash sh zsh dash fish ksh busybox env xargs "
    "timeout nohup watch script docker podman"
)

_DANGEROUS_PREFIX = r"(?:^|[;&|(`{]|\$\()\s*(?:(?:sudo|doas|exec|nohup|xargs|command|nice)\s+)*"
_DANGEROUS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), label)
    for pattern, label in (
        (_DANGEROUS_PREFIX + r"(?:rm|rmdir|unlink|shred|srm)\b", "it deletes files"),
        (_DANGEROUS_PREFIX + r"(?:shutdown|reboot|halt|poweroff|init\s+[06]|telinit)\b", "it stops the machine"),
        (_DANGEROUS_PREFIX + r"systemctl\s+(?:poweroff|reboot|halt|kexec|suspend)\b", "it stops the machine"),
        (_DANGEROUS_PREFIX + r"(?:mkfs(?:\.\w+)?|mkswap|fdisk|sfdisk|parted|wipefs|dd)\b", "it overwrites disks"),
        (_DANGEROUS_PREFIX + r"(?:chmod|chown|chgrp)\s+(?:-\w*\s+)*-\w*R", "it changes permissions recursively"),
        (_DANGEROUS_PREFIX + r"chmod\s+[0-7]*777\b", "it makes files world-writable"),
        (_DANGEROUS_PREFIX + r"(?:kill|pkill|killall)\b", "it kills processes"),
        (_DANGEROUS_PREFIX + r"(?:sudo|su|doas)\b", "it escalates privileges"),
        (r"\w*\s*\(\)\s*\{", "it defines a shell function (a fork bomb?)"),
        (r"\b(?:curl|wget|fetch)\b.*\|\s*(?:sudo\s+)?\w*sh\b", "it pipes a download into a shell"),
        (r">\s*/dev/(?:sd|nvme|hd|vd|xvd|mmcblk)", "it writes to a disk device"),
    )
)
_DESTRUCTIVE_PROGRAMS = programs.words(
    "rm rmdir unlink shred srm shutdown reboot halt poweroff init telinit mkfs mkswap fdisk sfdisk parted "
    "wipefs dd chmod chown chgrp kill pkill killall sudo su doas mv cp ln truncate"
)

#: Unquoted characters that mean something to a shell. Inside double quotes only ``$`` and backtick do.
_SHELL_OPERATORS = frozenset(";&|<>()")
_GLOBS = frozenset("*?[")
_ALLOWED_CONTROL = frozenset("\t")
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (zero-width or bidi)",
    "Co": "a private-use character",
    "Cs": "a surrogate",
    "Cn": "an unassigned character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
#: A non-ASCII character that NFKC-folds to one of these is a deceptive look-alike (U+FE54 for ``;``).
_SHELL_SIGNIFICANT_ASCII = frozenset(";&|<>()$`'\"\\*?[]{}~")


@dataclass(frozen=True, slots=True)
class CommandPlan:
    """A command that passed the policy: the exact argv to execute and the program's short name."""

    program: str
    argv: tuple[str, ...]
    command: str


def screen_dangerous(command: str) -> str | None:
    """A friendly refusal for well-known destructive commands, or None. Never the only line of defence."""
    for pattern, label in _DANGEROUS:
        if pattern.search(command):
            return (
                f"refused: this looks destructive ({label}). The terminal skill only runs read-only "
                "inspection commands (ls, cat, grep, git log...) and never through a shell."
            )
    return None


def check_characters(command: str) -> None:
    """Refuse control, invisible, bidi and fullwidth/compatibility look-alike characters."""
    for index, char in enumerate(command):
        if char in _ALLOWED_CONTROL or (" " <= char <= "~"):
            continue
        name = unicodedata.name(char, f"U+{ord(char):04X}")
        category = unicodedata.category(char)
        where = f"at position {index} ({name})"
        if char in "\r\n":
            refuse(f"the command contains a line break {where}; run one command at a time")
        if char == "\0":
            refuse(f"the command contains a NUL byte {where}")
        if category in _REFUSED_CATEGORIES:
            refuse(f"the command contains {_REFUSED_CATEGORIES[category]} {where}")
        if category == "Zs":
            refuse(f"the command contains a non-ASCII space {where}; use a plain space")
        if unicodedata.east_asian_width(char) == "F":
            refuse(f"the command contains a fullwidth character {where}; use the ASCII character")
        folded = unicodedata.normalize("NFKC", char)
        if folded != char and any(c in _SHELL_SIGNIFICANT_ASCII for c in folded):
            refuse(f"the command contains a look-alike of {folded!r} {where}; use the ASCII character")


def check_shell_syntax(command: str) -> None:
    """Refuse shell syntax outside single quotes; quoting rules match ``shlex`` (POSIX mode)."""
    quote = ""
    i = 0
    word_start = True
    while i < len(command):
        char = command[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif quote == '"':
            if char == "\\" and i + 1 < len(command) and command[i + 1] in '"\\':
                i += 1
            elif char == '"':
                quote = ""
            elif char in "$`":
                refuse(f"{char!r} inside double quotes is shell expansion; use single quotes for a literal {char}")
        elif char == "\\":
            i += 1
        elif char in "'\"":
            quote = char
        elif char in _SHELL_OPERATORS:
            operator = {"|": "pipes", "&": "'&'/'&&'", ";": "';'", "<": "redirection", ">": "redirection"}
            what = operator.get(char, "parentheses")
            refuse(
                f"shell syntax ({what}) is not supported: commands run without a shell, one program at a "
                f"time. Quote the character if you mean it literally, e.g. grep 'a{char}b' file"
            )
        elif char in "$`":
            refuse(
                f"{char!r} is shell expansion ($VAR, $(...), backticks), which is not supported: commands run "
                f"without a shell. Use single quotes for a literal {char}"
            )
        elif char in _GLOBS:
            refuse(
                f"unquoted {char!r} is a shell glob, and there is no shell to expand it. Quote patterns "
                "(find . -name '*.py') or list files with ls/find"
            )
        elif char == "~" and word_start:
            refuse("'~' (home directory) is outside the workdir; use paths relative to the workdir")
        word_start = quote == "" and char in " \t"
        i += 1
    if quote:
        refuse(f"unbalanced {quote} quote")


def tokenize(command: str) -> list[str]:
    """Split a command that passed :func:`check_shell_syntax` into argv words."""
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError as exc:
        refuse(f"cannot parse the command: {exc}")


def resolve_programs(names: Iterable[str], search_path: str = SAFE_PATH) -> dict[str, str]:
    """Map each installed program name to a fixed absolute path found on ``search_path`` only."""
    found: dict[str, str] = {}
    for name in names:
        path = shutil.which(name, path=search_path)
        if path is not None and os.path.isabs(path):
            found[name] = path
    return found


def make_confiner(workdir: str, mounts: Mapping[str, str] | None = None) -> Confiner:
    """A function refusing any path whose realpath (relative to ``workdir``) leaves ``workdir``.

    ``mounts``: extra read-only folders the confinement shows at a fixed absolute path (namespace
    path -> host folder, e.g. ``/uploads`` -> the session's upload folder). A path under one of
    them is resolved on the host folder and must stay inside it."""
    root = os.path.realpath(workdir)
    extra = {inside.rstrip("/"): os.path.realpath(host) for inside, host in (mounts or {}).items()}

    def confine(path: str) -> None:
        if path == "-":  # standard input, which is always /dev/null
            return
        if path.startswith("~"):
            refuse(f"{path!r}: '~' (home directory) is outside the workdir")
        if "\0" in path:
            refuse("a path contains a NUL byte")
        for inside, host in extra.items():
            if path == inside or path.startswith(inside + "/"):
                real = os.path.realpath(host + path[len(inside) :])
                if os.path.commonpath([real, host]) != host:
                    refuse(f"{path!r} is outside {inside}")
                return
        real = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([real, root]) != root:
            refuse(f"{path!r} is outside the workdir; the terminal skill can only read files inside the workdir")

    return confine


def _no_confinement(path: str) -> None:
    """Sandbox backend: host paths mean nothing inside the container."""


@dataclass(frozen=True, slots=True)
class TerminalPolicy:
    """The allowlist bound to one workdir. Build it with :func:`build_policy`."""

    workdir: str
    installed: Mapping[str, str]
    confine_paths: bool = True
    _confine: Confiner = field(default=_no_confinement, repr=False)

    def check(self, command: str, *, screen: bool = True, mounts: Mapping[str, str] | None = None) -> CommandPlan:
        """Validate ``command``; return the argv to run or raise :class:`CommandRefusedError`.

        ``screen=False`` skips the friendly dangerous-pattern screen (tests use it to show the
        allowlist alone refuses the same commands). ``mounts``: read-only folders the confinement
        adds at fixed paths (see :func:`make_confiner`); paths under them are accepted too.
        """
        text = command.strip()
        if not text:
            refuse("empty command")
        if len(text) > MAX_COMMAND_CHARS:
            refuse(f"the command is longer than {MAX_COMMAND_CHARS} characters")
        if screen and (message := screen_dangerous(text)):
            raise CommandRefusedError(message)
        check_characters(text)
        check_shell_syntax(text)
        words = tokenize(text)
        if not words:
            refuse("empty command")
        if len(words) > MAX_ARGS:
            refuse(f"too many arguments (more than {MAX_ARGS})")
        name, args = words[0], words[1:]
        self._check_program_name(name, text)
        spec_check = programs.CHECKS[name]
        confine = make_confiner(self.workdir, mounts) if mounts and self.confine_paths else self._confine
        final_args = spec_check(args, confine)
        executable = self.installed[name] if self.confine_paths else name
        return CommandPlan(program=name, argv=(executable, *final_args), command=text)

    def _check_program_name(self, name: str, text: str) -> None:
        base = name.rsplit("/", 1)[-1]
        if base in _DESTRUCTIVE_PROGRAMS:
            refuse(
                f"this looks destructive ({base} changes files, processes or the machine). The terminal "
                "skill only runs read-only inspection commands."
            )
        if base in SANDBOX_PROGRAMS or base.startswith(("python", "pip")):
            refuse(
                f"{base} runs code; that belongs in the sandbox, not on the host. Use the sandbox tools "
                "to run programs, scripts and tests."
            )
        if "/" in name:
            refuse(f"give the program name without a path (e.g. {base!r}); files in the workdir are not run")
        if name not in programs.CHECKS:
            refuse(f"{name!r} is not an allowed program. Allowed: {', '.join(sorted(programs.CHECKS))}")
        if text.split(None, 1)[0] != name:
            refuse("write the program name plainly, without quotes or backslashes")
        if self.confine_paths and name not in self.installed:
            refuse(f"{name!r} is allowed but not installed on this host")


def build_policy(
    workdir: str | os.PathLike[str], *, sandbox: bool = False, search_path: str = SAFE_PATH
) -> TerminalPolicy:
    """Resolve the allowlisted programs once and bind the policy to ``workdir`` (host backend).

    With ``sandbox=True`` program names are left for the sandbox to resolve and host paths are not
    confined (the sandbox has its own filesystem); every other check still applies.
    """
    root = os.path.realpath(workdir)
    if sandbox:
        return TerminalPolicy(workdir=root, installed={}, confine_paths=False)
    installed = resolve_programs(programs.CHECKS, search_path)
    return TerminalPolicy(workdir=root, installed=installed, confine_paths=True, _confine=make_confiner(root))


def build_env(workdir: str) -> dict[str, str]:
    """The complete environment of a host command, built from nothing (the host's is never copied)."""
    root = os.path.realpath(workdir)
    return {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": root,
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_LAZY_FETCH": "1",
        # Never discover a repository above the workdir: git sees only what the workdir holds.
        "GIT_CEILING_DIRECTORIES": os.path.dirname(root) or root,
    }


#: Repository configuration that could make a read-only git command run a program or read outside
#: the workdir. git runs with no system or global config, and ``-c`` overrides neutralise hooks,
#: fsmonitor, pager and transports; a repository that sets any of these is still refused outright.
_RISKY_GIT_KEYS = (
    (re.compile(r"^filter\..+$"), "runs a filter program"),
    (re.compile(r"^diff\.external$"), "runs an external diff program"),
    (re.compile(r"^diff\..+\.(?:textconv|command)$"), "runs a diff driver program"),
    (re.compile(r"^merge\..+\.driver$"), "runs a merge driver program"),
    (re.compile(r"^include(?:if\..+)?\.path$"), "includes configuration from another file"),
    (re.compile(r"^core\.worktree$"), "moves the work tree"),
    (
        re.compile(
            r"^(?:core\.(?:fsmonitor|hookspath|pager|sshcommand|editor|askpass|gitproxy|alternaterefscommand)"
            r"|sequence\.editor|uploadpack\.packobjectshook)$"
        ),
        "runs a program",
    ),
    (re.compile(r"^alias\..+$"), "defines a command alias"),
    (re.compile(r"^credential(?:\..+)?\..+$"), "runs a credential helper"),
    (re.compile(r"^pager\..+$"), "runs a pager"),
    (re.compile(r"^gpg(?:\..+)?\.program$"), "runs a signature program"),
    # Config twins of path options: blame.ignoreRevsFile prints the first line of any file in its
    # error ("invalid object name: <line>"), like --ignore-revs-file.
    (
        re.compile(
            r"^(?:blame\.ignorerevsfile|mailmap\.file|diff\.orderfile|core\.excludesfile|core\.attributesfile)$"
        ),
        "makes git read a file named in the config, which may be outside the workdir",
    ),
)
_GIT_SECTION = re.compile(r'^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_GIT_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*(?:=|$|(?=[;#]))")


#: git's ``isspace``: Python's ``str.strip`` also strips U+001C..U+001F, U+0085, U+2028..., which git
#: keeps inside a value; stripping them would let a value hide a fake section header.
_GIT_SPACE = " \t\n\v\f\r"


def _value_continues(value: str) -> bool:
    """Whether a config value ends with a backslash-newline continuation (outside a comment)."""
    quoted = False
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            if i + 1 == len(value):
                return True
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char in ";#" and not quoted:
            return False
        i += 1
    return False


def risky_git_config(text: str) -> list[str]:
    """Keys in a repository's git config that could make a read-only git command run a program.

    Lines are read as git reads them (a UTF-8 BOM skipped, ``\\n`` the only line break, git's
    whitespace, backslash-newline continuing a value); a line that is neither a section header, a
    key nor a comment is reported too, so a file we cannot read the way git does is never trusted.
    """
    found: list[str] = []
    section = ""
    continued = False
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if continued:
            continued = _value_continues(raw.rstrip("\r"))
            continue
        line = raw.strip(_GIT_SPACE)
        if not line or line[0] in "#;":
            continue
        if header := _GIT_SECTION.match(line):
            name, sub = header.group(1).lower(), header.group(2)
            section = f"{name}.{sub}" if sub is not None else name
            line = line[header.end() :].strip(_GIT_SPACE)
            if not line or line[0] in "#;":
                continue
        key = _GIT_KEY.match(line)
        if key is None:
            found.append(f"line {number} (a line this check cannot read the way git does)")
            continue
        full = f"{section}.{key.group(1).lower()}"
        found.extend(f"{full} ({why})" for pattern, why in _RISKY_GIT_KEYS if pattern.match(full))
        continued = _value_continues(line[key.end() :]) if line[key.end() - 1 : key.end()] == "=" else False
    return found
