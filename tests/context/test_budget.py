"""The pure fitting algorithm: grouping, water levels, and plans that always fit or raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.context.budget import (
    MIN_SUMMARY_TOKENS,
    ContextOverflowError,
    Group,
    Item,
    Kind,
    Plan,
    group_items,
    has_orphans,
    plan_fit,
    request_limit,
    water_level,
)


def items(*spec: tuple[str, int]) -> list[Item]:
    return [Item(tokens=t, kind=k, floor=min(t, 20)) for k, t in spec]  # type: ignore[arg-type]


def fits(plan: Plan, its: list[Item], fixed: int, limit: int) -> bool:
    kept = sum(min(it.tokens, plan.caps.get(i, it.tokens)) for i, it in enumerate(its) if i not in plan.fold)
    return fixed + plan.summary_limit + kept <= limit and plan.projected == fixed + plan.summary_limit + kept


def test_request_limit_applies_reserve_and_margin() -> None:
    """limit * (1 + margin) never exceeds budget - reserve, and is the largest such integer."""
    for budget, reserve, margin in [(4096, 512, 0.1), (1024, 128, 0.0), (8192, 1024, 0.33), (2048, 256, 0.07)]:
        limit = request_limit(budget, reserve, margin)
        assert limit * (1 + margin) <= budget - reserve
        assert (limit + 1) * (1 + margin) > budget - reserve
    assert request_limit(100, 200, 0.1) == 0


def test_group_items_pairs_calls_with_results() -> None:
    """A call and the result message after it form one group; lone calls/results are orphans."""
    kinds: list[Kind] = ["user", "call", "result", "assistant", "result", "call", "user", "call"]
    assert group_items(kinds) == [
        Group(0, 1, True),
        Group(1, 3, True),
        Group(3, 4, True),
        Group(4, 5, False),
        Group(5, 6, False),
        Group(6, 7, True),
        Group(7, 8, False),
    ]
    assert has_orphans(kinds)
    assert not has_orphans(["user", "call", "result", "assistant"])
    assert has_orphans(["user", "call"])
    assert has_orphans(["result"])


def test_water_level() -> None:
    """The level is the largest common cap that fits; None when even the floors do not."""
    assert water_level([(100, 10), (50, 10)], 1000) == 100
    assert water_level([(100, 10), (50, 10)], 90) == 45
    assert water_level([(100, 10), (50, 10)], 20) == 10
    assert water_level([(100, 10), (50, 10)], 19) is None
    assert water_level([], 0) == 0


def test_fitting_history_is_left_alone() -> None:
    """A request under the limit yields a plan that changes nothing."""
    its = items(("user", 100), ("assistant", 100))
    plan = plan_fit(its, fixed=200, summary_tokens=0, limit=1000, summary_cap=250, recent=4)
    assert not plan.changes_history and plan.summary_limit == 0 and plan.projected == 400


def test_folds_oldest_groups_outside_recent_window() -> None:
    """Over the limit, whole groups are folded oldest first; the recent window is kept."""
    its = items(
        ("user", 300), ("call", 50), ("result", 400), ("assistant", 100),
        ("user", 300), ("call", 50), ("result", 400), ("assistant", 100),
        ("user", 300),
    )  # fmt: skip
    plan = plan_fit(its, fixed=300, summary_tokens=0, limit=1600, summary_cap=300, recent=4)
    assert plan.fold == (0, 1, 2, 3, 4)  # the call/result pair at 5-6 is in the recent window
    assert plan.summary_limit == 300 and not plan.caps
    assert fits(plan, its, 300, 1600)


def test_orphans_fold_even_when_it_fits() -> None:
    """A tool result without its call (or a call without its result) is folded away."""
    its = items(("result", 50), ("user", 50), ("call", 20), ("user", 40))
    plan = plan_fit(its, fixed=100, summary_tokens=0, limit=1000, summary_cap=200, recent=4)
    assert plan.fold == (0, 2)
    assert fits(plan, its, 100, 1000)


def test_oversized_tool_result_is_truncated_not_the_user_message() -> None:
    """A huge result in the current turn is capped; the latest user message is untouched."""
    its = items(("user", 300), ("call", 40), ("result", 20_000))
    plan = plan_fit(its, fixed=300, summary_tokens=0, limit=3000, summary_cap=700, recent=4)
    assert plan.fold == ()
    assert set(plan.caps) == {2}
    assert 0 not in plan.caps
    assert fits(plan, its, 300, 3000)
    assert plan.warnings


def test_huge_user_message_is_truncated_with_warning() -> None:
    """When the latest user message alone exceeds the room it is capped, and the plan says so."""
    its = items(("user", 200), ("assistant", 100), ("user", 50_000))
    plan = plan_fit(its, fixed=300, summary_tokens=0, limit=3000, summary_cap=700, recent=4)
    assert 2 in plan.caps and plan.caps[2] <= 3000 - 300
    assert any("latest message" in w for w in plan.warnings)
    assert fits(plan, its, 300, 3000)


def test_fixed_part_too_big_raises() -> None:
    """System message + tools alone over the limit is a clear context_overflow error."""
    with pytest.raises(ContextOverflowError) as info:
        plan_fit(items(("user", 10)), fixed=5000, summary_tokens=0, limit=3000, summary_cap=700, recent=4)
    assert info.value.code == "context_overflow"


def test_summary_shrinks_before_items_hit_their_floor() -> None:
    """With a big summary and a big current turn, the summary limit drops below the cap."""
    its = items(("user", 1500), ("call", 40), ("result", 900))
    plan = plan_fit(its, fixed=400, summary_tokens=700, limit=3000, summary_cap=700, recent=4)
    assert fits(plan, its, 400, 3000)
    assert MIN_SUMMARY_TOKENS <= plan.summary_limit < 700 or plan.caps


def test_compact_trigger_folds_below_limit() -> None:
    """With a lower trigger (compact) folding starts at the high-water mark, not at the limit."""
    its = items(*[("user", 200), ("assistant", 200)] * 6)
    assert not plan_fit(its, fixed=100, summary_tokens=0, limit=3000, summary_cap=500, recent=4).fold
    plan = plan_fit(its, fixed=100, summary_tokens=0, limit=3000, summary_cap=500, recent=4, trigger=2250)
    assert plan.fold and fits(plan, its, 100, 3000)


kinds_st = st.sampled_from(["user", "assistant", "call", "result", "system"])


@settings(max_examples=300, deadline=None)
@given(
    spec=st.lists(st.tuples(kinds_st, st.integers(5, 9000), st.integers(5, 60)), max_size=40),
    fixed=st.integers(0, 4000),
    summary=st.integers(0, 1500),
    limit=st.integers(200, 8000),
    ratio=st.floats(0.05, 0.5),
    recent=st.integers(1, 8),
)
def test_any_plan_fits_or_raises(
    spec: list[tuple[Kind, int, int]], fixed: int, summary: int, limit: int, ratio: float, recent: int
) -> None:
    """Whatever the history, a plan fits the limit, keeps groups whole, and never folds the core."""
    its = [Item(tokens=t, kind=k, floor=min(t, f)) for k, t, f in spec]
    cap = max(MIN_SUMMARY_TOKENS, int(limit * ratio))
    summary = min(summary, cap)
    try:
        plan = plan_fit(its, fixed=fixed, summary_tokens=summary, limit=limit, summary_cap=cap, recent=recent)
    except ContextOverflowError:
        valid_groups = [g for g in group_items([it.kind for it in its]) if g.valid]
        core = {valid_groups[-1]} if valid_groups else set()
        core |= {g for g in valid_groups if its[g.start].kind == "user"}.intersection(
            [max((g for g in valid_groups if its[g.start].kind == "user"), key=lambda g: g.start, default=None)]
        )
        core_floor = sum(it.floor for g in core for it in its[g.start : g.end])
        assert fixed + core_floor > limit  # only raised when even the floors cannot fit
        return
    assert fits(plan, its, fixed, limit)
    assert plan.summary_limit <= max(cap, summary)
    groups = group_items([it.kind for it in its])
    folded = set(plan.fold)
    for g in groups:
        members = set(range(g.start, g.end))
        assert members <= folded or not (members & folded)  # groups fold together
        if not g.valid:
            assert members <= folded  # orphans never reach the request
    for i, c in plan.caps.items():
        assert i not in folded and c >= its[i].floor
    users = [i for i, it in enumerate(its) if it.kind == "user"]
    if users:
        assert users[-1] not in folded  # the latest user message is always kept
        if users[-1] in plan.caps:
            assert any("latest message" in w for w in plan.warnings)
    valid = [g for g in groups if g.valid]
    if valid:
        assert not set(range(valid[-1].start, valid[-1].end)) & folded  # the last group is kept
