"""Which tool calls need the user's approval (pure: no I/O, no session).

``APPROVAL_POLICY`` (and a team file's ``approvals`` table, per tool) is one of:

* ``never``: no call asks;
* ``risky`` (the default): calls that change things or run code outside the sandbox ask. The
  terminal's reading and listing commands run freely (they are all the host terminal allows);
  git commands that would write (``git branch NAME``, ``git tag NAME``, ``-d``/``-m``…) ask;
  tools of unknown groups (MCP servers not marked trusted) ask; the sandbox, todos, reminders,
  questions and saved workflows (their code nodes run in the sandbox) never ask;
* ``always``: every call asks, except asking the user a question.

``allow_always`` grants are keyed by :func:`grant_key`: the tool, and for the terminal the program
(``run_terminal_command:git``), so allowing ``git`` once and for all does not allow ``cat``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .terminal_policy import tokenize

Policy = Literal["never", "risky", "always"]
POLICIES: tuple[str, ...] = ("never", "risky", "always")

TERMINAL_TOOL = "run_terminal_command"
#: groups whose tools never ask under ``risky`` (the sandbox is already isolated)
SAFE_GROUPS = frozenset({"sandbox", "todos", "reminders", "questions", "workflows", "mcp_trusted"})
#: tools that never ask, whatever the policy
NEVER_ASK = frozenset({"ask_user_question"})
#: git subcommands that write when given a name (``git branch x``) or a write option
_GIT_NAMING = frozenset({"branch", "tag"})
_GIT_WRITE_OPTIONS = frozenset({"-d", "-D", "-m", "-M", "-c", "-C", "-f", "--delete", "--move", "--copy", "--force",
                                "-a", "-s", "-u", "--annotate", "--sign", "--set-upstream-to", "--unset-upstream",
                                "--edit-description"})  # fmt: skip
_GIT_LIST_OPTIONS = frozenset({"-l", "--list", "-v", "-vv", "--verbose", "-r", "--remotes", "--all", "--contains",
                               "--merged", "--no-merged", "--points-at", "--sort", "--format", "--show-current",
                               "--column", "--no-column", "-n"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Assessment:
    ask: bool
    risk: str  # "low" | "high"
    reason: str
    key: str  # what an allow_always grant covers


def grant_key(tool: str, arguments: dict[str, Any]) -> str:
    if tool == TERMINAL_TOOL:
        program = _program(arguments)
        return f"{TERMINAL_TOOL}:{program}" if program else TERMINAL_TOOL
    return tool


def _program(arguments: dict[str, Any]) -> str | None:
    try:
        words = tokenize(str(arguments.get("command", "")))
    except Exception:  # an unparseable command is refused by the terminal policy anyway
        return None
    return words[0].rsplit("/", 1)[-1] if words else None


def terminal_writes(command: str) -> str | None:
    """Why a terminal command would change something (None: it only reads)."""
    try:
        words = tokenize(command)
    except Exception:
        return None  # refused by the terminal policy before it could run
    if len(words) < 2 or words[0] != "git":
        return None
    sub, rest = words[1], words[2:]
    if sub not in _GIT_NAMING:
        return None
    options = [w.split("=", 1)[0] for w in rest if w.startswith("-")]
    if any(o in _GIT_WRITE_OPTIONS for o in options):
        return f"git {sub} with {', '.join(o for o in options if o in _GIT_WRITE_OPTIONS)} changes the repository"
    listing = any(o in _GIT_LIST_OPTIONS for o in options)
    names = [w for w in rest if not w.startswith("-")]
    if names and not listing:
        return f"git {sub} {names[0]} creates a {sub}"
    return None


def assess(tool: str, group: str | None, arguments: dict[str, Any], policy: str) -> Assessment:
    """Does this call need approval under ``policy`` (the tool's own, or the server's)?"""
    key = grant_key(tool, arguments)
    if policy == "never" or tool in NEVER_ASK:
        return Assessment(False, "low", "", key)
    if policy == "always":
        risky = _risky_reason(tool, group, arguments)
        return Assessment(True, "high" if risky else "low", risky or "every tool call asks (policy: always)", key)
    reason = _risky_reason(tool, group, arguments)
    return Assessment(reason is not None, "high" if reason else "low", reason or "", key)


def _risky_reason(tool: str, group: str | None, arguments: dict[str, Any]) -> str | None:
    if tool == TERMINAL_TOOL:
        return terminal_writes(str(arguments.get("command", "")))
    if group in SAFE_GROUPS:
        return None
    if group == "mcp":
        return f"{tool} is a tool of an MCP server that is not marked trusted"
    return f"{tool} is not a built-in tool"


def summarize_arguments(arguments: dict[str, Any], limit: int = 2000) -> str:
    text = json.dumps(arguments, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
