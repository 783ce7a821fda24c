"""An llm node's request fits the same context budget as a chat turn."""

from __future__ import annotations

from typing import Any

import pytest

from backend.context.budget import request_limit
from backend.context.tokens import TokenCounter
from backend.errors import WorkflowError
from backend.llm.oneshot import OneShotModel
from backend.settings import Settings


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter.load()


def _model(counter: TokenCounter) -> tuple[OneShotModel, int]:
    settings = Settings.from_env({"LLM_EMBEDDED": "0"})
    client: Any = None  # fit() never calls the model
    return OneShotModel(client, counter, settings, 0.1), request_limit(
        settings.context_budget, settings.context_reserve, 0.1
    )


def test_a_prompt_that_fits_is_sent_as_is(counter: TokenCounter) -> None:
    """A short system + user prompt is unchanged."""
    model, _ = _model(counter)
    messages = model.fit([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}])
    assert [m.content for m in messages] == ["Be brief.", "Say hi"]


def test_an_oversized_prompt_is_cut_to_the_budget(counter: TokenCounter) -> None:
    """A 20,000-word prompt is truncated (with a marker) until the request fits CONTEXT_BUDGET - reserve."""
    model, limit = _model(counter)
    messages = model.fit([{"role": "system", "content": "Summarize."}, {"role": "user", "content": "word " * 20_000}])
    assert counter.count_messages(messages) <= limit
    assert messages[0].content == "Summarize."
    assert len(str(messages[1].content)) < 20_000


def test_a_system_prompt_alone_over_budget_is_an_error(counter: TokenCounter) -> None:
    """When only a system prompt is too big there is nothing to cut: a clear node error."""
    model, _ = _model(counter)
    with pytest.raises(WorkflowError, match="the budget allows"):
        model.fit([{"role": "system", "content": "word " * 20_000}])
