"""Per-program argument policies for the terminal skill (pure; used by :mod:`terminal_policy`).

Each allowlisted program has a check ``(args, confine) -> argv`` that refuses what it does not
understand. Options are parsed the way the program parses them (GNU ``getopt_long`` and git's
parse-options accept any unique prefix of a long option, so ``--conte`` means ``--contents``):
a long option is resolved to its canonical name against the program's allowlist, an ambiguous or
unknown one is refused, and the command is executed with every option written out in full, so the
program never resolves an abbreviation we did not check. Every argument the program will open as a
file goes through ``confine``, which refuses paths outside the workdir. There are no deny-lists:
``denied`` entries only give a clearer message for options that are not allowed anyway.
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
    short_equals: bool = False  # ``-fVALUE`` may be written ``-f=VALUE`` (ripgrep's parser drops the '=')


def opts(
    flags: str = "",
    values: str = "",
    paths: str = "",
    optional: str = "",
    *,
    deny: Mapping[str, str] | None = None,
    numeric: bool = False,
    separate: bool = False,
    short_equals: bool = False,
) -> Options:
    """Build an :class:`Options` table from space-separated option names; ``deny`` maps why -> names."""
    denied = {name: why for why, names in (deny or {}).items() for name in names.split()}
    return Options(words(flags), words(values), words(paths), words(optional), denied, numeric, separate, short_equals)


@dataclass(slots=True)
class Parsed:
    positionals: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    #: the arguments as they will be executed: every long option spelled in full (canonical)
    argv: list[str] = field(default_factory=list)
    #: how many positionals came before ``--`` (None: no ``--``)
    before_dashdash: int | None = None


def long_names(spec: Options) -> frozenset[str]:
    """Every long option the table allows."""
    return frozenset(n for n in spec.flags | spec.values | spec.paths | spec.optional if n.startswith("--"))


def resolve_long(prog: str, name: str, spec: Options) -> str:
    """The canonical allowlisted long option ``name`` stands for, as getopt_long and git resolve it:
    an exact name, or the unique allowlisted option it is a prefix of. Refused when it names nothing
    allowed, or when it is a prefix of several options (ambiguous), allowed or not."""
    allowed = long_names(spec)
    if name in allowed:
        return name
    if name in spec.denied:
        refuse(f"{prog} {name}: {spec.denied[name]}")
    if len(name) > 2:
        candidates = sorted(n for n in allowed if n.startswith(name))
        denied = sorted(n for n in spec.denied if n.startswith("--") and n.startswith(name))
        if len(candidates) + len(denied) > 1:
            shown = ", ".join(sorted(candidates + denied)[:8])
            refuse(f"{prog}: option {name!r} is ambiguous ({shown}...); spell it in full")
        if denied:
            refuse(f"{prog} {name}: {spec.denied[denied[0]]} (abbreviation of {denied[0]})")
        if candidates:
            return candidates[0]
    refuse(f"{prog}: option {name!r} is not supported here")


def _unknown(prog: str, option: str) -> NoReturn:
    refuse(f"{prog}: option {option!r} is not supported here")


def parse(prog: str, args: list[str], spec: Options, confine: Confiner) -> Parsed:
    """Walk ``args`` like GNU getopt / git's parse-options: options anywhere, ``--`` ends them, long
    options by unique prefix, clustered short options, values attached (``--opt=v``, ``-fv``) or in
    the next word. Every option is checked against the allowlist under its canonical name and
    written out in full in :attr:`Parsed.argv`, so the program never has to resolve an abbreviation
    itself. Path values are confined."""
    out = Parsed()
    emit = out.argv.append
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "--":
            emit(word)
            out.before_dashdash = len(out.positionals)
            out.positionals.extend(args[i:])
            out.argv.extend(args[i:])
            break
        if word == "-" or not word.startswith("-"):
            out.positionals.append(word)
            emit(word)
            continue
        if word.startswith("--"):
            given, eq, value = word.partition("=")
            name = resolve_long(prog, given, spec)
            out.seen.add(name)
            if name in spec.flags:
                if eq:
                    refuse(f"{prog} {name} takes no value")
                emit(name)
                continue
            if name in spec.optional:
                emit(name + eq + value)
                continue
            if not eq:
                if i >= len(args):
                    refuse(f"{prog} {name} needs a value")
                value, i = args[i], i + 1
            if name in spec.paths:
                confine(value)
            emit(f"{name}={value}")
            continue
        if spec.numeric and word[1:].isdigit():
            emit(word)
            continue
        emit(word)
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
                    emit(rest)
                if name in spec.paths:
                    confine(rest[1:] if spec.short_equals and rest.startswith("=") else rest)
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
    short_equals=True,
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
        parsed = parse(prog, args, spec, confine)
        for path in parsed.positionals:
            confine(path)
        return parsed.argv

    return check


def _check_pwd(args: list[str], confine: Confiner) -> list[str]:
    parsed = parse("pwd", args, _PWD, confine)
    if parsed.positionals:
        refuse("pwd takes no arguments")
    return parsed.argv


def _check_echo(args: list[str], confine: Confiner) -> list[str]:
    return args  # echo only prints its arguments


def _check_date(args: list[str], confine: Confiner) -> list[str]:
    parsed = parse("date", args, _DATE, confine)
    for word in parsed.positionals:
        if not word.startswith("+"):
            refuse(f"date {word!r}: a bare date would set the system clock; use +FORMAT or -d DATE")
    return parsed.argv


def _pattern_then_paths(prog: str, spec: Options, pattern_opts: set[str], no_pattern: set[str]) -> Check:
    def check(args: list[str], confine: Confiner) -> list[str]:
        parsed = parse(prog, args, spec, confine)
        paths = parsed.positionals
        if not parsed.seen & pattern_opts and not parsed.seen & no_pattern and paths:
            paths = paths[1:]  # the first word is the pattern, not a file
        for path in paths:
            confine(path)
        return ["--no-config", *parsed.argv] if prog == "rg" else parsed.argv

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
#: After the subcommand. ``--ignore-submodules=all`` keeps status/diff from running git inside a
#: submodule checked out in the workdir (its own ``sub/.git/config`` could define a filter the
#: pre-flight never reads); on the command line it beats ``submodule.*.ignore`` from any config.
_GIT_NO_EXT = dict.fromkeys(("diff", "log", "show"), ("--no-ext-diff", "--no-textconv", "--ignore-submodules=all")) | {
    "blame": ("--no-textconv",),
    "grep": ("--no-textconv",),
    "status": ("--ignore-submodules=all",),
}
_NOT_ALLOWED = {
    "writes files": "--output --output-directory -o",
    _RUNS: "--ext-diff --textconv --exec-path --upload-pack --receive-pack --exec --open-files-in-pager -O",
    "runs a pager or an editor": "--paginate --edit",
    "reaches outside the workdir": "--no-index --orderfile --git-dir --work-tree --resolve-git-dir",
    "runs gpg": "--show-signature",
    "changes git configuration": "--config-env",
    "runs git inside submodules, whose own config is not inspected": "--ignore-submodules --submodule",
}
#: What git's revision walker and diff machinery accept in log/show/diff/shortlog (allowlist).
_REV_FLAGS = (
    "--all --branches --tags --remotes --reverse --merges --no-merges --first-parent --boundary --left-right "
    "--cherry-pick --cherry-mark --ancestry-path --topo-order --date-order --author-date-order "
    "--simplify-by-decoration --full-history --dense --sparse --parents --children --regexp-ignore-case "
    "--extended-regexp --fixed-strings --perl-regexp --all-match --invert-grep --no-walk --walk-reflogs "
    "--mailmap --no-mailmap --use-mailmap --log-size --source --follow --oneline --abbrev-commit "
    "--no-abbrev-commit --no-decorate --graph --relative-date --no-expand-tabs --no-notes "
    "-i -E -F -P -g"
)
_REV_VALUES = "--since --after --until --before --author --committer --grep --max-count --skip --date --encoding -n"
#: attached values only (``--format=%h``): checked against git, which does not take the next word
_REV_OPTIONAL = "--decorate --pretty --expand-tabs --format --min-parents --max-parents"
_DIFF_FLAGS = (
    "--patch --no-patch --raw --stat --shortstat --numstat --summary --name-only --name-status --full-index "
    "--binary --check --exit-code --quiet --minimal --patience --histogram --ignore-all-space "
    "--ignore-space-change --ignore-space-at-eol --ignore-blank-lines --ignore-cr-at-eol --no-renames "
    "--no-prefix --no-color --pickaxe-all --pickaxe-regex --full-diff --text --ita-invisible-in-index "
    "--no-relative --compact-summary --cumulative --no-ext-diff --no-textconv -p -u -s -w -b -z -a -R"
)
_DIFF_VALUES = "--diff-filter --src-prefix --dst-prefix --inter-hunk-context -S -G -l"
_DIFF_OPTIONAL = (
    "--unified -U --color --word-diff --color-words --relative --find-renames --find-copies --break-rewrites --dirstat "
    "--stat-width --abbrev -M -C -B"
)
_GIT_TABLES: dict[str, Options] = {
    "status": opts(
        "-s -b -v -z --short --branch --show-stash --long --verbose --no-column --ahead-behind "
        "--no-ahead-behind --renames --no-renames",
        optional="-u --untracked-files --porcelain --ignored --find-renames --column",
    ),
    "log": opts(
        f"{_REV_FLAGS} {_DIFF_FLAGS}",
        f"{_REV_VALUES} {_DIFF_VALUES} -L",
        optional=f"{_REV_OPTIONAL} {_DIFF_OPTIONAL}",
        numeric=True,
    ),
    "show": opts(
        f"{_REV_FLAGS} {_DIFF_FLAGS}",
        f"{_REV_VALUES} {_DIFF_VALUES} -L",
        optional=f"{_REV_OPTIONAL} {_DIFF_OPTIONAL}",
        numeric=True,
    ),
    "diff": opts(f"{_DIFF_FLAGS} --cached --staged --merge-base", _DIFF_VALUES, optional=_DIFF_OPTIONAL),
    "shortlog": opts(
        f"-s -n -e -c -w --summary --numbered --email --committer {_REV_FLAGS}",
        f"--group {_REV_VALUES}",
        optional=_REV_OPTIONAL,
        numeric=True,
    ),
    "blame": opts(
        "-b -c -e -f -l -n -p -s -t -w --root --show-stats --score-debug --show-name --show-number --porcelain "
        "--line-porcelain --show-email --incremental --minimal --color-lines --color-by-age --reverse "
        "--first-parent --progress --no-progress --no-textconv",
        "-L --ignore-rev --date",
        "--contents --ignore-revs-file",
        optional="--abbrev -M -C",
    ),
    "grep": opts(
        "-a -c -E -F -G -h -H -i -I -l -L -n -o -P -p -q -v -w -W -z --text --count --extended-regexp "
        "--fixed-strings --basic-regexp --perl-regexp --ignore-case --files-with-matches "
        "--files-without-match --name-only --line-number --column --only-matching --show-function --quiet "
        "--invert-match --word-regexp --function-context --null --full-name --cached --untracked --index "
        "--recursive --no-recursive --exclude-standard --no-exclude-standard --break --heading --all-match "
        "--and --or --not --no-color --no-textconv",
        "-A -B -C -e -m --after-context --before-context --context --regexp --max-count --max-depth --threads",
        "-f --file",
        optional="--color",
        numeric=True,
    ),
    "ls-files": opts(
        "-c -d -m -o -i -s -u -k -t -v -f -z --cached --deleted --modified --others --ignored --stage "
        "--unmerged --killed --directory --no-empty-directory --eol --full-name --error-unmatch --debug "
        "--deduplicate --exclude-standard --sparse",
        "-x --exclude --format",
        "-X --exclude-from",
        optional="--abbrev",
    ),
    "rev-parse": opts(
        "-q --verify --quiet --show-toplevel --show-prefix --show-cdup --is-inside-work-tree "
        "--is-inside-git-dir --is-bare-repository --is-shallow-repository --symbolic --symbolic-full-name "
        "--all --git-dir --absolute-git-dir --git-common-dir --show-object-format",
        "--default",
        optional="--abbrev-ref --short --branches --tags --remotes",
    ),
    "describe": opts(
        "--tags --all --long --always --contains --first-parent --exact-match --debug",
        "--candidates --match --exclude",
        optional="--dirty --broken --abbrev",
    ),
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
_GIT_TABLES = {
    sub: opts(
        " ".join(t.flags),
        " ".join(t.values),
        " ".join(t.paths),
        " ".join(t.optional),
        deny=_NOT_ALLOWED,
        numeric=t.numeric,
    )
    for sub, t in _GIT_TABLES.items()
}
_LIST_ONLY = ("branch", "tag")
_LISTING = {"-l", "--list", "-n", "--contains", "--no-contains", "--merged", "--no-merged", "--points-at"}
#: words that are patterns, not paths: the first positional of git grep unless -e/-f gave one
_GIT_PATTERN_OPTIONS = {"-e", "-f", "--regexp", "--file"}


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
    parsed = parse(f"git {sub}", rest, _GIT_TABLES[sub], confine)
    if sub in _LIST_ONLY:
        if parsed.positionals and not parsed.seen & _LISTING:
            refuse(f"git {sub} NAME would create a {sub}; only listing is allowed (add --list to filter)")
    else:
        words_ = parsed.positionals
        if sub == "grep" and not parsed.seen & _GIT_PATTERN_OPTIONS and parsed.before_dashdash != 0:
            words_ = words_[1:]  # the pattern (before any --; after -- every word is a path)
        for word in words_:
            confine(word)  # a path, or a revision (HEAD~2, HEAD:file), which realpath keeps inside
    prefix = [part for item in GIT_CONFIG_OVERRIDES for part in ("-c", item)]
    return [*prefix, *args[:i], sub, *_GIT_NO_EXT.get(sub, []), *parsed.argv]


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

#: The option tables, for tests and documentation (find has its own expression grammar).
SPECS: dict[str, Options] = {
    "pwd": _PWD,
    "cat": _CAT,
    "head": _HEAD_TAIL,
    "tail": _HEAD_TAIL,
    "wc": _WC,
    "ls": _LS,
    "date": _DATE,
    "grep": _GREP,
    "rg": _RG,
    "tree": _TREE,
    **{f"git {sub}": table for sub, table in _GIT_TABLES.items()},
}
