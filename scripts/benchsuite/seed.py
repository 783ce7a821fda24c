"""Stored sessions for the restore scenarios: a real team state, built with the gateway's own
factory in this process, cloned into many sessions written straight through ``backend.store``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .common import SCRIPTS

GATEWAY_ENV = {
    "LLM_BASE_URL": "http://127.0.0.1:9/v1",
    "LLM_MODEL": "fake-model",
    "TEAM": "solo",
    "LLM_EMBEDDED": "0",
    "SANDBOX_ENABLED": "0",
    "LLM_FUNCTION_CALLING": "1",
}


def _bench_context() -> Any:
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    import bench_context  # scripts/bench_context.py: the context micro-benchmark and its history()

    return bench_context


class StateFactory:
    """The gateway's TeamFactory, built like ``backend.main.start_app`` builds it."""

    def __init__(self, data_dir: Path) -> None:
        from backend.context.tokens import TokenCounter, seed_tiktoken_cache
        from backend.llm.client import build_model_client
        from backend.settings import Settings, resolve_endpoint
        from backend.team.builder import TeamFactory
        from backend.team.spec import load_team_spec
        from backend.tools import default_registry

        self.settings = Settings.from_env({**GATEWAY_ENV, "DATA_DIR": str(data_dir)})
        seed_tiktoken_cache()
        self.counter = TokenCounter.load()
        endpoint = resolve_endpoint(self.settings)
        assert endpoint is not None
        self.client = build_model_client(endpoint, self.settings)
        self.factory = TeamFactory(
            spec=load_team_spec(self.settings.team),
            registry=default_registry(),
            model_client=self.client,
            settings=self.settings,
            counter=self.counter,
        )

    def build(self) -> Any:
        from backend.team.builder import TeamHooks
        from backend.tools.registry import ToolDeps

        class _Sink:
            def emit(self, type_: str, **fields: Any) -> None:
                pass

        deps = ToolDeps(session_id="seed", settings=self.settings, store=None, events=_Sink())
        hooks = TeamHooks(
            deps=deps,
            on_delta=lambda agent, text: None,
            on_result=lambda agent, p, c, s: None,
            on_context=lambda report: None,
            on_tool_timing=lambda call, s: None,
        )
        return self.factory.build(hooks)

    async def state_json(self, messages: int) -> tuple[str, dict[str, int]]:
        """A saved team state whose assistant context holds ``messages`` history messages (the mix of
        ``scripts/bench_context.py``); returns (json, facts about its size)."""
        built = self.build()
        context = next(iter(built.contexts.values()))
        history = _bench_context().history(messages)
        for message in history:
            await context.add_message(message)
        added = len(history)
        state = await built.team.save_state()
        facts = {
            "history_messages": added,
            "history_tokens": context.history_tokens,
            "stored_tokens": context.stored_tokens,
            "fixed_tokens": context.fixed_tokens,
            "limit": context.limit,
        }
        return json.dumps(state, ensure_ascii=False, default=str), facts

    async def close(self) -> None:
        await self.client.close()


def seed_sessions(db_path: Path, state: str, count: int) -> list[str]:
    """Write ``count`` sessions, each with ``state`` as its saved team state, in one transaction."""
    return asyncio.run(_seed(db_path, state, count))


async def _seed(db_path: Path, state: str, count: int) -> list[str]:
    from backend.store import Store

    store = Store(db_path)
    await store.open()
    ids = [uuid.uuid4().hex for _ in range(count)]
    now = time.time()
    try:
        async with store.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO sessions (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [(sid, "bench", now, now) for sid in ids],
            )
            await tx.executemany(
                "INSERT INTO team_state (session_id, state, seq, updated_at) VALUES (?, ?, 0, ?)",
                [(sid, state, now) for sid in ids],
            )
    finally:
        await store.close()
    return ids
