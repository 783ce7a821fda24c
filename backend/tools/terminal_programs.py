"""Per-program argument policies for the terminal skill (pure; used by :mod:`terminal_policy`).

Each allowlisted program has a check ``(args, confine) -> args`` that refuses what it does not
understand. Options are allowlisted by exact name (GNU getopt and git accept unambiguous
abbreviations, so ``--out`` could mean ``--output``: abbreviations are refused). Every argument the
program will open as a file goes through ``confine``, which refuses paths outside the workdir.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from ..errors import ToolError

Confiner = Callable[[str], None]
Check = Callable[[list[str], Confiner], list[str]]


class CommandRefusedError(ToolError):
    """The terminal policy refused a command; the message says why and what to do instead."""

    code = "command_refused"


def refuse(reason: str) -> NoReturn:
    """Raise :class:`CommandRefusedError` with a ``refused: ...`` message."""
    raise CommandRefusedError(f"refused: {reason}")


def words(names: str) -> frozenset[str]:
    """The set of space-separated names in ``names``."""
    return frozenset(names.split())


@dataclass(frozen=True, slots=True)
class Options:
    """A getopt-style option table. Long names include ``--``, short ones ``-``."""

    flags: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()  # take a required value (attached or next word)
    paths: frozenset[str] = frozenset()  # take a value that is a file name: confined
    optional: frozenset[str] = frozenset()  # take an optional value, attached only (--color=auto, -Iseconds)
    denied: Mapping[str, str] = field(default_factory=dict)  # option -> why, for a clearer message
    numeric: bool = False  # accepts -NUM (head -5, grep -3)
    separate: bool = False  # short options with values must stand alone (tree's own parser)


def opts(
    flags: str = "",
    values: str = "",
    paths: str = "",
    optional: str = "",
    *,
    deny: Mapping[str, str] | None = None,
    numeric: bool = False,
    separate: bool = False,
) -> Options:
    """Build an :class:`Options` table from space-separated option names; ``deny`` maps why -> names."""
    denied = {name: why for why, names in (deny or {}).items() for name in names.split()}
    return Options(words(flags), words(values), words(paths), words(optional), denied, numeric, separate)


@dataclass(slots=True)
class Parsed:
    positionals: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def _unknown(prog: str, option: str) -> NoReturn:
    hint = " (spell long options in full; abbreviations are not accepted)" if option.startswith("--") else ""
    refuse(f"{prog}: option {option!r} is not supported here{hint}")


def parse(prog: str, args: list[str], spec: Options, confine: Confiner) -> Parsed:
    """Walk ``args`` like GNU getopt (options anywhere, ``--`` ends them); confine path values."""
    out = Parsed()
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            out.positionals.extend(args[i:])
            break
        if word == "-" or not word.startswith("-"):
            out.positionals.append(word)
            continue
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in spec.denied:
                refuse(f"{prog} {name}: {spec.denied[name]}")
            out.seen.add(name)
            if name in spec.flags:
                if eq:
                    refuse(f"{prog} {name} takes no value")
                continue
            if name in spec.optional:
                continue
            if name in spec.values or name in spec.paths:
                if not eq:
                    if i >= len(args):
                        refuse(f"{prog} {name} needs a value")
                    value, i = args[i], i + 1
                if name in spec.paths:
                    confine(value)
                continue
            _unknown(prog, name)
        if spec.numeric and word[1:].isdigit():
            continue
        for j, letter in enumerate(word[1:], start=1):
            name = "-" + letter
            if name in spec.denied:
                refuse(f"{prog} {name}: {spec.denied[name]}")
            out.seen.add(name)
            if name in spec.flags:
                continue
            rest = word[j + 1 :]
            if name in spec.optional:
                break
            if name in spec.values or name in spec.paths:
                if rest and spec.separate:
                    refuse(f"{prog}: write {name} and its value as separate words ({name} VALUE)")
                if not rest:
                    if i >= len(args):
                        refuse(f"{prog} {name} needs a value")
                    rest, i = args[i], i + 1
                if name in spec.paths:
                    confine(rest)
                break
            _unknown(prog, name)
    return out


# --- simple programs -------------------------------------------------------------------------------
_HELP = "--help --version"
_RUNS = "runs other programs"
_SYMLINKS = "follows symlinks out of the workdir"
_PWD = opts(f"-L -P --logical --physical {_HELP}")
_CAT = opts(
    "-A -b -e -E -n -s -t -T -u -v --show-all --number-nonblank --number --squeeze-blank --show-ends "
    f"--show-tabs --show-nonprinting {_HELP}"
)
_FOLLOW = "would wait for new lines forever; read the file without following it"
_HEAD_TAIL = opts(
    f"-q -v -z --quiet --silent --verbose --zero-terminated {_HELP}",
    "-c -n --bytes --lines",
    deny={_FOLLOW: "-f -F -s --follow --retry --pid --sleep-interval --max-unchanged-stats"},
    numeric=True,
)
_WC = opts(
    f"-c -m -l -L -w --bytes --chars --lines --max-line-length --words {_HELP}",
    "--total",
    deny={"reads file names from a file, which bypasses the workdir check": "--files0-from"},
)
_LS = opts(
    "-a -A -b -B -c -C -d -D -f -F -g -G -h -H -i -k -l -m -n -N -o -p -q -Q -r -R -s -S -t -u -U -v -x -X -Z -1 "
    "--all --almost-all --author --escape --ignore-backups --directory --dired --file-type --full-time "
    "--group-directories-first --no-group --human-readable --si --dereference-command-line "
    "--dereference-command-line-symlink-to-dir --inode --kibibytes --numeric-uid-gid --literal "
    "--hide-control-chars --show-control-chars --quote-name --reverse --recursive --size --context --zero " + _HELP,
    "-I -T -w --block-size --format --hide --ignore --indicator-style --quoting-style --sort --time "
    "--time-style --tabsize --width",
    optional="--color --classify --hyperlink",
    deny={_SYMLINKS: "-L --dereference"},
)
_DATE_SET = "would set the system clock; date can only print dates here"
_DATE = opts(
    f"-u -R --utc --universal --rfc-email --debug {_HELP}",
    "-d --date --rfc-3339",
    "-f -r --file --reference",
    "-I --iso-8601",
    deny={_DATE_SET: "-s --set"},
)
_GREP = opts(
    "-a -b -c -E -F -G -h -H -i -I -l -L -n -o -P -q -r -s -T -U -v -V -w -x -y -z -Z "
    "--text --byte-offset --count --extended-regexp --fixed-strings --basic-regexp --no-filename "
    "--with-filename --ignore-case --no-ignore-case --files-with-matches --files-without-match "
    "--line-number --only-matching --perl-regexp --quiet --silent --recursive --no-messages --initial-tab "
    "--binary --invert-match --word-regexp --line-regexp --null-data --null --line-buffered " + _HELP,
    "-A -B -C -D -d -e -m --after-context --before-context --context --devices --directories --regexp "
    "--max-count --label --include --exclude --exclude-dir --binary-files --group-separator",
    "-f --file --exclude-from",
    "--color --colour",
    deny={_SYMLINKS + "; use -r": "-R --dereference-recursive"},
    numeric=True,
)
_RG = opts(
    "-b -c -F -h -i -I -l -n -N -o -p -P -q -s -S -U -v -V -w -x -H -a -u -0 -. "
    "--auto-hybrid-regex --binary --block-buffered --byte-offset --case-sensitive --column --count "
    "--count-matches --crlf --debug --trace --files --files-with-matches --files-without-match "
    "--fixed-strings --glob-case-insensitive --heading --hidden --ignore-case --ignore-file-case-insensitive "
    "--include-zero --invert-match --json --line-buffered --line-number --line-regexp --max-columns-preview "
    "--mmap --multiline --multiline-dotall --no-config --no-filename --no-heading --no-ignore --no-ignore-dot "
    "--no-ignore-exclude --no-ignore-files --no-ignore-global --no-ignore-messages --no-ignore-parent "
    "--no-ignore-vcs --no-line-number --no-messages --no-mmap --no-pcre2-unicode --no-require-git "
    "--no-unicode --null --null-data --one-file-system --only-matching --passthru --pcre2 --pcre2-version "
    "--pretty --quiet --smart-case --stats --text --trim --type-list --unrestricted --vimgrep "
    "--with-filename --word-regexp --no-context-separator --no-hidden --no-follow --no-text --no-binary "
    "--no-search-zip --no-pre " + _HELP,
    "-A -B -C -E -g -M -m -r -j -t -T -e --after-context --before-context --context --color --colors "
    "--context-separator --dfa-size-limit --encoding --engine --field-context-separator "
    "--field-match-separator --glob --iglob --max-columns --max-count --max-depth --max-filesize "
    "--path-separator --regex-size-limit --regexp --replace --sort --sortr --threads --type --type-add "
    "--type-clear --type-not",
    "-f --file --ignore-file",
    deny={_RUNS: "--pre --pre-glob -z --search-zip --hostname-bin", _SYMLINKS: "-L --follow"},
)
_TREE = opts(
    "-a -d -f -x -q -N -Q -p -u -g -s -h -D -F -v -t -c -U -r -i -A -S -n -C -X -J "
    "--gitignore --matchdirs --metafirst --ignore-case --prune --noreport --si --du --inodes --device "
    "--dirsfirst --filesfirst " + _HELP,
    "-L -P -I --filelimit --sort --charset --timefmt",
    deny={
        _SYMLINKS: "-l",
        "writes files": "-o -R",
        "reads paths from a file, which bypasses the workdir check": "--fromfile",
    },
    separate=True,
)


def _paths_only(prog: str, spec: Options) -> Check:
    def check(args: list[str], confine: Confiner) -> list[str]:
        for path in parse(prog, args, spec, confine).positionals:
            confine(path)
        return args

    return check


def _check_pwd(args: list[str], confine: Confiner) -> list[str]:
    if parse("pwd", args, _PWD, confine).positionals:
        refuse("pwd takes no arguments")
    return args


def _check_echo(args: list[str], confine: Confiner) -> list[str]:
    return args  # echo only prints its arguments


def _check_date(args: list[str], confine: Confiner) -> list[str]:
    for word in parse("date", args, _DATE, confine).positionals:
        if not word.startswith("+"):
            refuse(f"date {word!r}: a bare date would set the system clock; use +FORMAT or -d DATE")
    return args


def _pattern_then_paths(prog: str, spec: Options, pattern_opts: set[str], no_pattern: set[str]) -> Check:
    def check(args: list[str], confine: Confiner) -> list[str]:
        parsed = parse(prog, args, spec, confine)
        paths = parsed.positionals
        if not parsed.seen & pattern_opts and not parsed.seen & no_pattern and paths:
            paths = paths[1:]  # the first word is the pattern, not a file
        for path in paths:
            confine(path)
        return ["--no-config", *args] if prog == "rg" else args

    return check


# --- find ------------------------------------------------------------------------------------------
_FIND_NULLARY = words(
    "-print -print0 -ls -prune -quit -true -false -empty -depth -d -xdev -mount -noleaf -daystart -readable "
    "-writable -executable -nouser -nogroup -not -a -and -o -or -ignore_readdir_race -noignore_readdir_race "
    "! ( ) , -help --help -version --version"
)
_FIND_UNARY = words(
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -regextype -type -xtype -size -mtime "
    "-mmin -atime -amin -ctime -cmin -maxdepth -mindepth -perm -user -group -uid -gid -links -inum -lname "
    "-ilname -fstype -used -printf"
)
_FIND_PATH = words("-newer -anewer -cnewer -samefile")
_FIND_DENIED = {
    **dict.fromkeys(("-exec", "-execdir", "-ok", "-okdir"), "runs other programs"),
    "-delete": "deletes files",
    **dict.fromkeys(("-fprint", "-fprint0", "-fprintf", "-fls"), "writes a file"),
    **dict.fromkeys(("-L", "-follow"), "follows symlinks out of the workdir"),
    "-files0-from": "reads starting points from a file, which bypasses the workdir check",
}


def _check_find(args: list[str], confine: Confiner) -> list[str]:
    i = 0
    while i < len(args) and args[i] in ("-H", "-P", "-L"):
        if args[i] == "-L":
            refuse(f"find -L: {_FIND_DENIED['-L']}")
        i += 1
    while i < len(args) and not (args[i].startswith("-") or args[i] in ("!", "(", ")", ",")):
        confine(args[i])  # a starting point
        i += 1
    while i < len(args):
        word = args[i]
        i += 1
        if word in _FIND_DENIED:
            refuse(f"find {word}: {_FIND_DENIED[word]}")
        if word in _FIND_NULLARY:
            continue
        if word in _FIND_UNARY or word in _FIND_PATH:
            if i >= len(args):
                refuse(f"find {word} needs a value")
            if word in _FIND_PATH:
                confine(args[i])
            i += 1
            continue
        if re.fullmatch(r"-newer[amcBt][amcBt]", word):
            refuse(f"find {word} is not supported; use -newer FILE")
        refuse(f"find: {word!r} is not a supported expression (starting points must come first)")
    return args


# --- git -------------------------------------------------------------------------------------------
GIT_SUBCOMMANDS = sorted(words("status log diff show branch rev-parse ls-files blame grep tag shortlog describe"))
_GIT_GLOBAL_FLAGS = words(
    "--no-pager -P --literal-pathspecs --glob-pathspecs --noglob-pathspecs --icase-pathspecs "
    "--no-optional-locks --no-replace-objects"
)
#: Injected before the subcommand: neutralise hooks, fsmonitor, pagers, signature programs, transports.
GIT_CONFIG_OVERRIDES = sorted(
    words(
        "core.hooksPath=/dev/null core.fsmonitor=false core.pager=cat log.showSignature=false gpg.program=false "
        "gpg.ssh.program=false gpg.x509.program=false protocol.allow=never core.sshCommand=false credential.helper="
    )
)
_GIT_NO_EXT = dict.fromkeys(("diff", "log", "show"), ("--no-ext-diff", "--no-textconv")) | dict.fromkeys(
    ("blame", "grep"), ("--no-textconv",)
)
_GIT_DENIED = {
    **dict.fromkeys(words("--output --output-directory"), "writes files"),
    **dict.fromkeys(words("--ext-diff --textconv --exec-path --upload-pack --receive-pack --exec"), _RUNS),
    **dict.fromkeys(words("--open-files-in-pager --paginate --edit"), "runs a pager or an editor"),
    **dict.fromkeys(
        words("--no-index --orderfile --git-dir --work-tree --resolve-git-dir"), "reaches outside the workdir"
    ),
    "--show-signature": "runs gpg",
    "--config-env": "changes git configuration",
}
_GIT_PATH_LONG = words("--contents --ignore-revs-file --exclude-from --file --pathspec-from-file")
#: Short options (per subcommand) whose value is a file: blame -S, ls-files -X, grep -f.
_GIT_PATH_SHORT = {"blame": "S", "ls-files": "X", "grep": "f"}
_GIT_SHORT_VALUES = {"blame": "LSMC", "ls-files": "xX", "grep": "efABCm"} | dict.fromkeys(
    ("diff", "log", "show"),
    "nSGLUlBMC",  # -n5, -Sstring, -Gregex, -L1,2:file, -U3, -M50%: the rest is a value
)
_GIT_DENIED_SHORT = {"diff": "O", "log": "O", "show": "O", "grep": "O"}
_GIT_LIST_ONLY = {
    "branch": opts(
        "-a -r -v -l -i -q --all --remotes --verbose --list --ignore-case --show-current --no-color --no-column "
        "--no-abbrev --quiet",
        "--contains --no-contains --merged --no-merged --points-at --sort --format",
        optional="--color --column --abbrev",
    ),
    "tag": opts(
        "-l -i --list --ignore-case --no-color --no-column",
        "--contains --no-contains --merged --no-merged --points-at --sort --format",
        optional="-n --color --column",
    ),
}
_LISTING = {"-l", "--list", "-n", "--contains", "--no-contains", "--merged", "--no-merged", "--points-at"}


def _check_git_long(sub: str, word: str, following: list[str], confine: Confiner) -> None:
    name, eq, value = word.partition("=")
    for denied, why in _GIT_DENIED.items():
        if denied.startswith(name) and len(name) > 2:
            refuse(f"git {sub} {name}: {why}" + ("" if denied == name else f" (abbreviation of {denied})"))
    if name in _GIT_PATH_LONG:
        if eq:
            confine(value)
        elif following:
            confine(following[0])


def _check_git_short(sub: str, word: str, following: list[str], confine: Confiner) -> None:
    for j, letter in enumerate(word[1:], start=1):
        if letter in _GIT_DENIED_SHORT.get(sub, ""):
            refuse(f"git {sub} -{letter} is not supported (it reads or runs something outside the workdir)")
        if letter in _GIT_SHORT_VALUES.get(sub, ""):
            value = word[j + 1 :] or (following[0] if following else "")
            if letter in _GIT_PATH_SHORT.get(sub, "") and value:
                confine(value)
            return


def _check_git(args: list[str], confine: Confiner) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--version" and len(args) == 1:
            return ["--version"]
        if args[i] not in _GIT_GLOBAL_FLAGS:
            refuse(
                f"git {args[i]}: only these options may come before the subcommand: "
                f"{', '.join(sorted(_GIT_GLOBAL_FLAGS))}"
            )
        i += 1
    if i >= len(args):
        refuse(f"git needs a read-only subcommand: {', '.join(GIT_SUBCOMMANDS)}")
    sub, rest = args[i], args[i + 1 :]
    if sub not in GIT_SUBCOMMANDS:
        refuse(f"git {sub} is not allowed; only read-only subcommands: {', '.join(GIT_SUBCOMMANDS)}")
    if sub in _GIT_LIST_ONLY:
        parsed = parse(f"git {sub}", rest, _GIT_LIST_ONLY[sub], confine)
        if parsed.positionals and not parsed.seen & _LISTING:
            refuse(f"git {sub} NAME would create a {sub}; only listing is allowed (add --list to filter)")
    else:
        _check_git_words(sub, rest, confine)
    prefix = [part for item in GIT_CONFIG_OVERRIDES for part in ("-c", item)]
    return [*prefix, *args[:i], sub, *_GIT_NO_EXT.get(sub, []), *rest]


def _check_git_words(sub: str, rest: list[str], confine: Confiner) -> None:
    """Confine every positional word: a path, or a revision (``HEAD~2``, ``HEAD:file``), which realpath
    keeps inside the workdir. The pattern of ``git grep`` is not a path."""
    pattern_pending = sub == "grep" and not any(w in ("-e", "-f") or w.startswith(("--regexp", "--file")) for w in rest)
    after_dashdash = False
    for k, word in enumerate(rest):
        following = rest[k + 1 :]
        if after_dashdash or word == "-" or not word.startswith("-"):
            if pattern_pending and not after_dashdash:
                pattern_pending = False
            else:
                confine(word)
        elif word == "--":
            after_dashdash = True
        elif word.startswith("--"):
            _check_git_long(sub, word, following, confine)
        else:
            _check_git_short(sub, word, following, confine)


CHECKS: dict[str, Check] = {
    "pwd": _check_pwd,
    "echo": _check_echo,
    "date": _check_date,
    "ls": _paths_only("ls", _LS),
    "cat": _paths_only("cat", _CAT),
    "head": _paths_only("head", _HEAD_TAIL),
    "tail": _paths_only("tail", _HEAD_TAIL),
    "wc": _paths_only("wc", _WC),
    "tree": _paths_only("tree", _TREE),
    "grep": _pattern_then_paths("grep", _GREP, {"-e", "-f", "--regexp", "--file"}, {"-V", "--help", "--version"}),
    "rg": _pattern_then_paths(
        "rg",
        _RG,
        {"-e", "-f", "--regexp", "--file"},
        {"--files", "--type-list", "--pcre2-version", "-V", "--version", "-h", "--help"},
    ),
    "find": _check_find,
    "git": _check_git,
}
