"""The real embedded model behind the real server: a streamed turn that fits the window by the
model server's own count, and the zero-configuration start-up a new user gets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from backend.llm.embedded import EmbeddedModel
from backend.settings import Settings
from tests.conftest import RunningServer, base_env
from tests.fakes.proxy import RecordingProxy
from tests.support.client import UNIT, WsClient, of_type, text_of
from tests.support.process import ServerProcess

from .test_embedded import embedded_settings, llama_server_pids

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

BUDGET, RESERVE = 4096, 512


async def test_real_turn_fits_by_the_model_servers_own_count(tmp_path: Path) -> None:
    """A real streamed turn on SmolLM2; the server's prompt_tokens <= budget - reserve; estimate recorded."""
    model = EmbeddedModel(embedded_settings(tmp_path / "model"))
    endpoint = await model.start()
    proxy = RecordingProxy(endpoint.base_url.removesuffix("/v1"))
    await proxy.start()
    env = base_env(tmp_path, None) | {
        "LLM_BASE_URL": proxy.base_url,
        "LLM_MODEL": endpoint.model,
        "LLM_FUNCTION_CALLING": "0",
        "CONTEXT_TOKENIZER": "server",
        "LLM_TIMEOUT": "120",
    }
    running = await RunningServer(Settings.from_env(env)).start()
    ws = await running.client()
    try:
        events = await ws.turn("What is the capital of France? Answer in one sentence.", timeout=24 * UNIT)
        assert of_type(events, "done")[0]["status"] == "ok", of_type(events, "error")
        assert of_type(events, "delta"), "the reply did not stream"
        assert text_of(events).strip() == of_type(events, "response")[0]["content"].strip() != ""
        ours = of_type(events, "context")[-1]["prompt_tokens"]

        # Ask the model server itself: the exact request our server sent, without streaming.
        sent = dict(proxy.bodies[-1], stream=False, max_tokens=1)
        sent.pop("stream_options", None)
        async with httpx.AsyncClient(timeout=120) as http:
            answer = (await http.post(endpoint.base_url + "/chat/completions", json=sent)).json()
        theirs = answer["usage"]["prompt_tokens"]
        assert proxy.bodies[-1]["max_tokens"] == RESERVE
        assert theirs <= BUDGET - RESERVE
        assert ours >= theirs, "our estimate (with its margin) must not undercount the server"
        record = {"ours": ours, "server_prompt_tokens": theirs, "ratio": round(ours / theirs, 3)}
        (tmp_path / "estimate.json").write_text(json.dumps(record))
        print(f"token estimate vs SmolLM2's own count: {record}")
    finally:
        await ws.close()
        await running.stop()
        await proxy.stop()
        await model.stop()


async def test_zero_configuration_start_uses_the_embedded_model(tmp_path: Path) -> None:
    """No endpoint configured: the server starts SmolLM2, /healthz says so, a plain line gets a
    streamed response, and Ctrl+C (SIGINT) leaves no llama_cpp process behind."""
    env = {
        "HOST": "127.0.0.1",
        "PORT": "0",
        "DATA_DIR": str(tmp_path / "data"),  # the workdir is its default, DATA_DIR/workspace
        "SANDBOX_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.to_thread(ServerProcess(env).start, 180.0)
    try:
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"http://127.0.0.1:{proc.port}/healthz")).json()
        assert health["model"]["source"] == "embedded" and health["model"]["reachable"] is True
        assert health["team"] == "solo" and health["embedded"]["running"] is True
        llama_port = health["embedded"]["port"]
        assert llama_server_pids(llama_port)

        ws = await WsClient.connect(proc.ws_url)
        await ws.send_raw("Say hello.")
        events = await ws.recv_until("done", timeout=24 * UNIT)
        await ws.close()
        assert events[-1]["status"] == "ok", of_type(events, "error")
        assert of_type(events, "delta") and of_type(events, "response")[0]["content"].strip()

        code = await asyncio.to_thread(proc.kill, signal.SIGINT)
        assert code == 0
        for _ in range(50):
            if not llama_server_pids(llama_port):
                break
            await asyncio.sleep(0.1)
        assert llama_server_pids(llama_port) == []
    finally:
        proc.stop()
        assert os.environ.get("LLM_BASE_URL") is None
