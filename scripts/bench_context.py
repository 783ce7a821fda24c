#!/usr/bin/env python
"""Micro-benchmark of the context step (no model calls): how long ``get_messages()`` takes.

For each history size it measures, over ``--repeats`` runs (min / median / max):

- **fits**: ``get_messages()`` when the history fits (the common case: sum cached counts, copy list);
- **fold**: ``get_messages()`` on a 4096-token budget when the whole history must be folded into an
  extractive summary (summarizer=None, so no model call): plan, summarize, rebuild storage;
- **add**: the average cost of ``add_message()`` per message (counting its tokens once).

Wall-clock times suffer on a loaded machine; the fold's CPU time (``time.thread_time``) does not.

Usage: ``python scripts/bench_context.py [--sizes 40,160,200,320,640] [--repeats 30] [--json]``.
Prints a Markdown table (or JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

from backend.context import BudgetedChatCompletionContext, TokenCounter

SIZES = (40, 160, 200, 320, 640)
SENTENCE = (
    "The context budget keeps every request inside the model's window, folding older turns into a rolling "
    "summary while the latest messages stay verbatim. "
)
SYSTEM = [SystemMessage(content="You are a helpful assistant with tools. " + SENTENCE * 6)]
TOOLS: list[Any] = [
    {
        "name": "search",
        "description": "Search the notes.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
]


def history(n: int) -> list[LLMMessage]:
    """A realistic mix: user turns, tool calls with results, replies (about 60-250 tokens each)."""
    out: list[LLMMessage] = []
    i = 0
    while len(out) < n:
        out.append(UserMessage(content=f"Question {i}: " + SENTENCE * 2, source="user"))
        if i % 2 == 0 and len(out) + 3 <= n:
            call = FunctionCall(id=f"c{i}", name="search", arguments='{"query": "x"}')
            result = FunctionExecutionResult(content=f"Result {i}: " + SENTENCE * 6, name="search", call_id=f"c{i}")
            out.append(AssistantMessage(content=[call], source="assistant"))
            out.append(FunctionExecutionResultMessage(content=[result]))
        if len(out) < n:
            out.append(AssistantMessage(content=f"Answer {i}: " + SENTENCE * 3, source="assistant"))
        i += 1
    return out[:n]


def make(counter: TokenCounter, budget: int) -> BudgetedChatCompletionContext:
    return BudgetedChatCompletionContext(
        counter=counter,
        budget=budget,
        reserve=512,
        safety_margin=0.1,
        system_messages=SYSTEM,
        tool_schemas=TOOLS,
        summarizer=None,
        agent_name="bench",
    )


def stats_ms(samples: list[float]) -> tuple[float, float, float]:
    return min(samples) * 1e3, statistics.median(samples) * 1e3, max(samples) * 1e3


async def bench_size(counter: TokenCounter, n: int, repeats: int) -> dict[str, Any]:
    messages = history(n)
    big = make(counter, 1_000_000)
    started = time.perf_counter()
    for m in messages:
        await big.add_message(m)
    add_each = (time.perf_counter() - started) / n
    state = await big.save_state()

    fits: list[float] = []
    await big.get_messages()
    for _ in range(repeats):
        t0 = time.perf_counter()
        await big.get_messages()
        fits.append(time.perf_counter() - t0)

    fold: list[float] = []
    fold_cpu: list[float] = []
    folded = 0
    for _ in range(repeats):
        ctx = make(counter, 4096)
        await ctx.load_state(state)  # counts reused from the saved state: not part of the step
        c0, t0 = time.thread_time(), time.perf_counter()
        await ctx.get_messages()
        fold.append(time.perf_counter() - t0)
        fold_cpu.append(time.thread_time() - c0)
        assert ctx.last_report is not None and ctx.last_report.prompt_tokens <= ctx.limit
        folded = ctx.last_report.folded_now
    return {
        "messages": n,
        "history_tokens": big.history_tokens,
        "fits_ms": stats_ms(fits),
        "fold_ms": stats_ms(fold),
        "fold_cpu_median_ms": statistics.median(fold_cpu) * 1e3,
        "folded": folded,
        "add_us_per_message": add_each * 1e6,
    }


def table(rows: list[dict[str, Any]]) -> str:
    def fmt(t: tuple[float, float, float]) -> str:
        return " / ".join(f"{v:.3f}" for v in t)

    lines = [
        "| messages | history tokens | fits: get_messages ms (min / median / max) "
        "| fold: get_messages ms (min / median / max) | fold CPU ms (median) | folded | add_message µs/msg |",
        "|---:|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['messages']} | {r['history_tokens']} | {fmt(r['fits_ms'])} | {fmt(r['fold_ms'])} "
            f"| {r['fold_cpu_median_ms']:.3f} | {r['folded']} | {r['add_us_per_message']:.0f} |"
        )
    return "\n".join(lines)


async def run(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    counter = TokenCounter.load()
    counter.count_text("warm up")
    return [await bench_size(counter, n, repeats) for n in sizes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated history sizes")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = asyncio.run(run(sizes, args.repeats))
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
