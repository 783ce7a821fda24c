"""A budgeted excerpt never exceeds its token budget (backend/context/excerpt.py), with the real encoding."""

from __future__ import annotations

import random

import pytest

from backend.context.excerpt import head_excerpt
from backend.context.tokens import load_encoding


@pytest.mark.parametrize("budget", [1, 7, 50, 200])
def test_excerpt_is_a_prefix_within_budget(budget: int) -> None:
    """Mixed ASCII, CJK, emoji and whitespace runs: the excerpt is a prefix and counts at most ``budget``."""
    encoding = load_encoding()
    rng = random.Random(budget)
    alphabet = ["word ", "中文", "🙂", "    ", "\n", "x=1;", "ß", "naïve "]
    for _ in range(20):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(50, 800)))
        excerpt, truncated = head_excerpt(text, budget, encoding)
        assert len(encoding.encode_ordinary(excerpt)) <= budget
        assert text.startswith(excerpt)
        assert truncated == (len(encoding.encode_ordinary(text)) > budget)


def test_short_text_is_whole_and_zero_budget_is_empty() -> None:
    """A text within budget comes back unchanged; a zero budget gives nothing (marked truncated)."""
    encoding = load_encoding()
    assert head_excerpt("hello world", 10, encoding) == ("hello world", False)
    assert head_excerpt("hello world", 0, encoding) == ("", True)
    assert head_excerpt("", 0, encoding) == ("", False)
