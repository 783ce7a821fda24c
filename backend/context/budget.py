"""The fitting algorithm: which messages to fold, which to truncate, how big the summary may be.

Pure arithmetic over small :class:`Item` records (token count, kind, truncation floor); no I/O and
no AutoGen types, so every rule here is unit- and property-tested on plain numbers. The caller
(:mod:`backend.context.model_context`) turns a :class:`Plan` into messages.

The request is ``fixed`` (system messages + tool schemas + per-request overhead) + the summary
message + the kept history. :func:`plan_columns` (or :func:`plan_fit` over :class:`Item` records)
chooses, in this order, the cheapest levers that make
``fixed + summary_limit + sum(kept sizes) <= limit``:

1. fold orphans (a tool result without its call, a call without its result) and the oldest whole
   groups outside the protected region (the last ``recent`` messages and the latest user message
   onward) down to a low-water ``target``;
2. truncate the largest kept items (never the latest user message) down to a common cap, as long as
   that cap stays useful (>= ``MIN_USEFUL_TOKENS``);
3. fold protected groups that are not the core (core = the latest user message's group and the
   last group), oldest first;
4. shrink the summary to ``MIN_SUMMARY_TOKENS``; truncate kept items to their floors;
5. drop the summary from the request; truncate the latest user message (with a warning);
6. raise :class:`ContextOverflowError` when even system + tools + floors cannot fit.

Every lever only removes tokens and each step is a bounded pass over the groups, so a plan either
satisfies the inequality (by construction; the property tests check it) or raises: no loops that
depend on the model, and no over-budget result.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ..errors import AgentChatError

Kind = Literal["system", "user", "assistant", "call", "result"]

MIN_USEFUL_TOKENS = 256  # below this a truncated item is mostly marker; fold other groups first
MIN_SUMMARY_TOKENS = 48  # a summary message smaller than this carries nothing: drop it instead
LOW_WATER = 0.5  # when folding, fold down to this fraction of the limit (hysteresis)
HIGH_WATER = 0.75  # compact() folds proactively above this fraction of the limit


class ContextOverflowError(AgentChatError):
    """Even the system message, the tool schemas and the latest message cut to a marker do not fit."""

    code = "context_overflow"


class Item(NamedTuple):
    """One stored message as the planner sees it."""

    tokens: int  # estimated wire tokens, overhead included
    kind: Kind
    floor: int  # tokens after maximal truncation (content replaced by a marker); <= tokens


class Group(NamedTuple):
    """Messages that are kept or folded together: a call with its results, or one message."""

    start: int
    end: int  # exclusive
    valid: bool  # False for an orphan (result without call, call without result)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do to the history. ``fold`` and ``caps`` index the stored history."""

    fold: tuple[int, ...] = ()  # indices to fold into the summary, ascending
    caps: Mapping[int, int] = field(default_factory=dict)  # index -> max tokens after truncation
    summary_limit: int = 0  # max tokens of the summary message in the request (0: none)
    projected: int = 0  # fixed + summary_limit + kept sizes: an upper bound of the request
    warnings: tuple[str, ...] = ()

    @property
    def changes_history(self) -> bool:
        return bool(self.fold or self.caps)


def request_limit(budget: int, reserve: int, safety_margin: float) -> int:
    """Largest estimate ``e`` with ``e * (1 + safety_margin) <= budget - reserve``."""
    available = budget - reserve
    if available <= 0:
        return 0
    limit = math.floor(available / (1.0 + safety_margin))
    while limit > 0 and limit * (1.0 + safety_margin) > available:  # float rounding guard
        limit -= 1
    return limit


def _spans(kinds: Sequence[Kind]) -> list[tuple[int, int, bool]]:
    spans: list[tuple[int, int, bool]] = []
    append = spans.append
    i, n = 0, len(kinds)
    while i < n:
        kind = kinds[i]
        if kind == "call":
            if i + 1 < n and kinds[i + 1] == "result":
                append((i, i + 2, True))
                i += 2
                continue
            append((i, i + 1, False))
        else:
            append((i, i + 1, kind != "result"))
        i += 1
    return spans


def group_items(kinds: Sequence[Kind]) -> list[Group]:
    """Split the history into groups; a call followed by its result message is one group."""
    return [Group(*span) for span in _spans(kinds)]


def has_orphans(kinds: Sequence[Kind]) -> bool:
    """True if a result lacks its call or a call lacks its result (cheap check for the fast path)."""
    previous: Kind | None = None
    for kind in kinds:
        if (kind == "result") != (previous == "call"):
            return True
        previous = kind
    return previous == "call"


def water_level(sizes: Sequence[tuple[int, int]], room: int) -> int | None:
    """Largest cap ``c >= 0`` with ``sum(min(t, max(c, f))) <= room`` over (tokens, floor) pairs.

    Returns ``None`` if even every item at its floor exceeds ``room``; a cap at or above the
    largest item means nothing needs truncating.
    """
    if sum(min(t, f) for t, f in sizes) > room:
        return None
    top = max((t for t, _ in sizes), default=0)
    if sum(t for t, _ in sizes) <= room:
        return top
    lo, hi = 0, top  # invariant: lo fits, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sum(min(t, max(mid, f)) for t, f in sizes) <= room:
            lo = mid
        else:
            hi = mid
    return lo


def plan_fit(items: Sequence[Item], **options: Any) -> Plan:
    """:func:`plan_columns` over item records (convenient for tests and small callers)."""
    return plan_columns([it.tokens for it in items], [it.kind for it in items], [it.floor for it in items], **options)


def plan_columns(
    tokens: Sequence[int],
    kinds: Sequence[Kind],
    floors: Sequence[int],
    *,
    fixed: int,
    summary_tokens: int,
    limit: int,
    summary_cap: int,
    recent: int,
    trigger: int | None = None,
    target: int | None = None,
) -> Plan:
    """Decide how to make ``fixed + summary + history`` fit ``limit`` (see the module docstring).

    The history is given as columns (token counts, kinds, floors per message), as the context stores
    it. ``summary_tokens`` is the current summary message's size (0: none). Nothing is folded unless
    the request exceeds ``trigger`` (default ``limit``) or orphans exist; when folding, fold down to
    ``target`` (default ``LOW_WATER * limit``) but never into the protected region.
    """
    trigger = limit if trigger is None else trigger
    target = math.floor(LOW_WATER * limit) if target is None else target
    prefix = list(itertools.accumulate(tokens, initial=0))
    total = fixed + summary_tokens + prefix[-1]
    if total <= min(trigger, limit) and not has_orphans(kinds):  # nothing to do
        return Plan(summary_limit=summary_tokens, projected=total)

    groups = _spans(kinds)
    valid = [gi for gi, g in enumerate(groups) if g[2]]
    user_gi = next((gi for gi in range(len(groups) - 1, -1, -1) if kinds[groups[gi][0]] == "user"), None)
    core = {gi for gi in (user_gi, valid[-1] if valid else None) if gi is not None}
    user_index = groups[user_gi][0] if user_gi is not None else None

    core_floor = sum(floors[i] for gi in core for i in range(groups[gi][0], groups[gi][1]))
    if fixed + core_floor > limit:
        raise ContextOverflowError(
            f"the system message and tool schemas need {fixed} tokens (plus {core_floor} for the latest "
            f"message cut to a marker) but a request may use only {limit} (from CONTEXT_BUDGET, "
            "CONTEXT_RESERVE and CONTEXT_SAFETY_MARGIN)"
        )

    def group_tokens(gi: int) -> int:
        return prefix[groups[gi][1]] - prefix[groups[gi][0]]

    folded: set[int] = {gi for gi, g in enumerate(groups) if not g[2]}
    n = len(tokens)
    boundary = next((gi for gi in range(len(groups) - 1, -1, -1) if groups[gi][0] <= max(0, n - recent)), 0)
    protected_from = min(boundary, user_gi) if user_gi is not None else boundary
    kept_tokens = prefix[-1] - sum(group_tokens(gi) for gi in folded)

    def summary_room() -> int:  # the summary's size in the request: a new one is <= the cap
        return summary_cap if folded else summary_tokens

    def finish(caps: dict[int, int], summary_limit: int, warnings: Sequence[str] = ()) -> Plan:
        fold = tuple(i for gi in sorted(folded) for i in range(groups[gi][0], groups[gi][1]))
        projected = fixed + summary_limit + kept_tokens - sum(tokens[i] - c for i, c in caps.items())
        return Plan(fold=fold, caps=caps, summary_limit=summary_limit, projected=projected, warnings=tuple(warnings))

    if total <= min(trigger, limit):  # only orphans to fold: the summary may use whatever is left
        return finish({}, min(summary_cap, limit - fixed - kept_tokens))
    # 1. fold the oldest unprotected groups down to the low-water target.
    for gi in range(protected_from):
        if gi in folded or gi in core:
            continue
        if fixed + summary_room() + kept_tokens <= target:
            break
        folded.add(gi)
        kept_tokens -= group_tokens(gi)
    if fixed + summary_room() + kept_tokens <= limit:
        return finish({}, summary_room())

    warnings: list[str] = []

    def kept_indices() -> list[int]:
        return [i for gi, g in enumerate(groups) if gi not in folded for i in range(g[0], g[1]) if i != user_index]

    def user_tokens() -> int:
        return tokens[user_index] if user_index is not None else 0

    def level(summary: int) -> int | None:
        sizes = [(tokens[i], floors[i]) for i in kept_indices()]
        return water_level(sizes, limit - fixed - summary - user_tokens())

    def done(cap: int, summary: int) -> Plan:
        caps = {i: max(cap, floors[i]) for i in kept_indices() if tokens[i] > max(cap, floors[i])}
        if caps:
            warnings.append(f"{len(caps)} oversized message(s) truncated to fit the context window")
        return finish(caps, summary, warnings)

    # 2. truncate the biggest kept items to a common, still useful cap.
    cap = level(summary_room())
    if cap is not None and cap >= MIN_USEFUL_TOKENS:
        return done(cap, summary_room())
    # 3. fold protected groups outside the core, oldest first.
    for gi in range(len(groups)):
        if gi in folded or gi in core:
            continue
        folded.add(gi)
        kept_tokens -= group_tokens(gi)
        if "recent messages folded into the summary to make room" not in warnings:
            warnings.append("recent messages folded into the summary to make room")
        cap = level(summary_room())
        if cap is not None and cap >= MIN_USEFUL_TOKENS:
            return done(cap, summary_room())
    # 4. shrink the summary (still useful), then truncate kept items as far as needed.
    room = summary_room()
    if room:
        useful = sum(min(tokens[i], max(MIN_USEFUL_TOKENS, floors[i])) for i in kept_indices())
        shrunk = limit - fixed - user_tokens() - useful
        if shrunk >= MIN_SUMMARY_TOKENS:
            warnings.append("summary shortened to make room")
            return done(MIN_USEFUL_TOKENS, min(room, shrunk))
        room = MIN_SUMMARY_TOKENS
        cap = level(room)
        if cap is not None:
            warnings.append("summary shortened to make room")
            return done(cap, room)
    # 5. no summary in this request; everything but the latest user message at its floor if needed.
    if summary_room():
        warnings.append("no room for the summary of earlier conversation in this request")
    cap = level(0)
    if cap is not None:
        return done(cap, 0)
    if user_index is None:  # unreachable: without a user message the core floor check covers it
        raise ContextOverflowError("the latest messages cannot fit the context window even when truncated")
    caps = {i: floors[i] for i in kept_indices() if tokens[i] > floors[i]}
    caps[user_index] = limit - fixed - sum(floors[i] for i in kept_indices())
    warnings.append("the latest message is too long for the context window and was truncated")
    return finish(caps, 0, warnings)
