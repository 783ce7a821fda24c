"""Usage and cost: the one implementation behind ``/v1/stats`` and the earlier ``/stats`` view.

Every finished turn that called the model is one usage record (written with its ``done``). A report
sums them per model, per UTC day and per session, and prices them with ``MODEL_PRICES`` (US dollars
per million input / output tokens; a model not in the table costs 0, as local models do).
``/reset-stats`` does not delete anything: it starts the earlier service's view afresh from now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..settings import ModelPrice
from ..store import Store, UsageTotals

#: the scope name of the earlier streaming agent's ``/stats`` view, per tenant
LEGACY_SCOPE = "legacy-stats:{tenant}"


def cost(model: str, prompt_tokens: int, completion_tokens: int, prices: Mapping[str, ModelPrice]) -> float:
    """Dollars for these tokens of ``model`` (0 for a model the table does not list)."""
    price = prices.get(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000


def fold(rows: Iterable[UsageTotals], prices: Mapping[str, ModelPrice], key_name: str) -> list[dict[str, Any]]:
    """Per-(key, model) sums folded per key, priced; in the order the keys first appear."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault(
            row.key,
            {key_name: row.key, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
             "cost": 0.0, "unreported": 0},
        )  # fmt: skip
        entry["requests"] += row.requests
        entry["prompt_tokens"] += row.prompt_tokens
        entry["completion_tokens"] += row.completion_tokens
        entry["total_tokens"] += row.prompt_tokens + row.completion_tokens
        entry["cost"] += cost(row.model, row.prompt_tokens, row.completion_tokens, prices)
        entry["unreported"] += row.unreported
    for entry in out.values():
        entry["cost"] = round(entry["cost"], 8)
    return list(out.values())


def totals(per_model: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "unreported")
    summed: dict[str, Any] = {k: sum(int(e[k]) for e in per_model) for k in keys}
    summed["cost"] = round(sum(float(e["cost"]) for e in per_model), 8)
    return summed


class UsageStats:
    def __init__(self, store: Store, prices: Mapping[str, ModelPrice], model: str = "") -> None:
        self._store = store
        self._prices = dict(prices)
        self._model = model

    def turn_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What one turn of this server's model cost (the earlier streaming agent's ``total_cost``)."""
        return round(cost(self._model, prompt_tokens, completion_tokens, self._prices), 8)

    async def report(self, *, since: float = 0.0, tenant: str | None = None, sessions: int = 100) -> dict[str, Any]:
        """``/v1/stats``: totals, per model, per UTC day, per session (the largest ``sessions``)."""
        repo = self._store.usage
        by_model = fold(await repo.totals("model", since=since, tenant=tenant), self._prices, "model")
        by_day = fold(await repo.totals("day", since=since, tenant=tenant), self._prices, "day")
        by_session = fold(await repo.totals("session_id", since=since, tenant=tenant), self._prices, "session_id")
        by_day.sort(key=lambda e: str(e["day"]))
        return {
            "since": since or None,
            "currency": "USD",
            "totals": totals(by_model),
            "by_model": by_model,
            "by_day": by_day,
            "by_session": by_session[:sessions],
            "prices": {model: price.model_dump() for model, price in self._prices.items()},
        }

    async def legacy(self, tenant: str = "public") -> dict[str, Any]:
        """The earlier streaming agent's ``/stats``: request and token counts and cost since its last reset."""
        since = await self._store.usage.reset_at(LEGACY_SCOPE.format(tenant=tenant))
        report = await self.report(since=since, tenant=tenant, sessions=0)
        t = report["totals"]
        return {
            "total_requests": t["requests"],
            "total_input_tokens": t["prompt_tokens"],
            "total_output_tokens": t["completion_tokens"],
            "total_tokens": t["total_tokens"],
            "total_cost": t["cost"],
            "since": report["since"],
            "models": {e["model"]: {k: v for k, v in e.items() if k != "model"} for e in report["by_model"]},
        }

    async def reset_legacy(self, tenant: str = "public") -> dict[str, Any]:
        at = await self._store.usage.reset(LEGACY_SCOPE.format(tenant=tenant))
        return {"status": "reset", "since": at}
