"""Token counting: the estimate bounds the fake server's count; truncation; offline tiktoken; calibration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
import tiktoken
import tiktoken.load
from autogen_core.models import SystemMessage, UserMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.context import tokens as tokens_module
from backend.context.tokens import (
    CL100K_SHA256,
    CL100K_URL,
    MARKER,
    ServerTokenizer,
    TokenCounter,
    calibrate_margin,
    load_encoding,
    seed_tiktoken_cache,
)
from tests.fakes.model_server import FakeModelServer, count_prompt_tokens

from . import COUNTER, SEARCH_TOOL, call, client, reply, results, text_of, user, wire_body

SYSTEM = [SystemMessage(content="You are a helpful assistant. Answer briefly.")]
CLIENTS = {True: client(include_name=True), False: client(include_name=False)}  # building one costs ~50 ms

# Text that stresses JSON escaping and tokenizer seams: quotes, backslashes, control chars, CJK, emoji.
texts = st.text(
    alphabet=st.sampled_from(
        list("abc XYZ 019 .,;:!?\"\\/{}[]()<>'`~@#$%^&*-_=+|\n\t\r")
        + list("你好世界上下文日本語テスト한국어")
        + ["😀", "ü", "é"]
    ),
    max_size=120,
)


def test_load_returns_the_shared_encoding() -> None:
    """TokenCounter.load reuses one process-wide encoding (loaded once, not per call)."""
    assert TokenCounter.load().encoding is load_encoding()
    assert load_encoding.cache_info().currsize == 1


def test_simple_request_estimate_bounds_the_server_count() -> None:
    """A tool-calling exchange is estimated at or above cl100k over the JSON the client sends."""
    oai = client()
    messages = [
        user("What does the budget do? 上下文"),
        call(("c1", '{"query": "budget"}'), ("c2", '{"query": "summary"}'), thought="Let me look."),
        results(("c1", "It keeps requests in the window."), ("c2", 'It "rolls" forward.\n')),
        reply("It keeps every request inside the window."),
    ]
    estimate = COUNTER.count_request([*SYSTEM, *messages], [SEARCH_TOOL])
    assert estimate >= count_prompt_tokens(wire_body(oai, SYSTEM, messages, [SEARCH_TOOL]))


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.tuples(st.sampled_from(["user", "reply", "call", "thought"]), texts), min_size=1, max_size=8),
    include_name=st.booleans(),
    with_tools=st.booleans(),
)
def test_estimate_bounds_server_count_for_any_text(
    parts: list[tuple[str, str]], include_name: bool, with_tools: bool
) -> None:
    """For arbitrary text (escapes, CJK, emoji) the estimate is >= the fake server's count of the wire JSON."""
    counter = TokenCounter.load(include_name=include_name)
    oai = CLIENTS[include_name]
    messages = []
    for i, (kind, text) in enumerate(parts):
        if kind == "user":
            messages.append(user(text))
        elif kind == "reply":
            messages.append(reply(text))
        else:
            messages.append(call((f"id{i}", text), thought=text if kind == "thought" else None))
            messages.append(results((f"id{i}", text)))
    tools = [SEARCH_TOOL] if with_tools else []
    estimate = counter.count_request([*SYSTEM, *messages], tools)
    assert estimate >= count_prompt_tokens(wire_body(oai, SYSTEM, messages, tools))


def test_counts_are_cached_by_content() -> None:
    """Counting the same message twice hits the cache (the second count does not re-encode)."""
    counter = TokenCounter.load()
    message = user(text_of(500))
    first = counter.count_message(message)
    before = len(counter._cache)
    assert counter.count_message(user(message.content)) == first  # type: ignore[arg-type]
    assert len(counter._cache) == before


def test_truncate_text_keeps_head_and_tail_with_marker() -> None:
    """Oversized text keeps its beginning and end around a visible "[... N tokens truncated ...]" marker."""
    text = "HEAD " + text_of(3000) + " TAIL"
    out = COUNTER.truncate_text(text, 200)
    assert out.startswith("HEAD ") and out.endswith(" TAIL")
    assert "tokens truncated ...]" in out
    assert COUNTER.count_text(out) <= 200 + 2
    assert COUNTER.truncate_text("short", 200) == "short"


def test_marker_only_when_no_room() -> None:
    """With no room at all the text becomes just the marker, naming how much was cut."""
    text = text_of(1000)
    assert COUNTER.truncate_text(text, 5) == MARKER.format(n=COUNTER.count_text(text))


@pytest.mark.parametrize("style", ["words", "cjk", "code"])
@pytest.mark.parametrize("cap_fraction", [0.02, 0.2, 0.7])
def test_truncate_message_respects_cap(style: str, cap_fraction: float) -> None:
    """A truncated message counts at most the cap (or its floor), whatever the text and message kind."""
    for message in (
        user(text_of(4000, style=style)),
        results(("a", text_of(3000, style=style)), ("b", text_of(50, style=style))),
        call(("a", '{"query": "' + text_of(2000, style=style).replace('"', "'") + '"}')),
    ):
        tokens = COUNTER.count_message(message)
        floor = COUNTER.floor(message, tokens)
        cap = max(floor, int(tokens * cap_fraction))
        out = COUNTER.truncate_message(message, cap)
        assert COUNTER.count_message(out) <= cap
        assert type(out) is type(message)


def test_truncated_tool_call_arguments_stay_valid_json() -> None:
    """Cut tool-call arguments are wrapped as a JSON object so the request stays well-formed."""
    import json

    message = call(("a", '{"query": "' + text_of(2000) + '"}'))
    out = COUNTER.truncate_message(message, 200)
    assert isinstance(out.content, list)
    assert "truncated_arguments" in json.loads(out.content[0].arguments)


def test_multiple_results_share_the_cut() -> None:
    """Small results stay intact while the big one is cut, and call ids are preserved."""
    message = results(("a", "small result"), ("b", text_of(3000)))
    out = COUNTER.truncate_message(message, 400)
    assert [r.call_id for r in out.content] == ["a", "b"]  # type: ignore[union-attr]
    assert out.content[0].content == "small result"  # type: ignore[union-attr]
    assert "tokens truncated" in out.content[1].content  # type: ignore[union-attr]


def test_floor_of_small_message_is_its_size() -> None:
    """A message too small to cut has floor == its token count."""
    message = user("hello there")
    assert COUNTER.floor(message) == COUNTER.count_message(message)


def test_seed_tiktoken_cache_makes_cl100k_base_load_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After seeding, tiktoken's cl100k_base loader reads the cache and never touches the network."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))

    def no_network(path: str) -> bytes:
        raise AssertionError(f"network fetch attempted: {path}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    path = seed_tiktoken_cache()
    assert path == tmp_path / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CL100K_SHA256
    ranks = tiktoken.load.load_tiktoken_bpe(CL100K_URL, expected_hash=CL100K_SHA256)
    assert len(ranks) > 100_000
    assert seed_tiktoken_cache() == path  # idempotent


def test_seed_tiktoken_cache_explicit_dir(tmp_path: Path) -> None:
    """An explicit cache_dir is created and used."""
    target = seed_tiktoken_cache(tmp_path / "nested")
    assert target.parent == tmp_path / "nested" and target.is_file()


def test_autogen_count_tokens_works_after_seeding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AutoGen's own count_tokens (tiktoken.get_encoding("cl100k_base")) works offline once seeded."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", lambda path: (_ for _ in ()).throw(AssertionError(path)))
    seed_tiktoken_cache()
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, "cl100k_base", raising=False)
    assert client().count_tokens([UserMessage(content="hello world", source="user")]) > 0


async def test_server_tokenizer_and_calibration_against_fake_server() -> None:
    """ServerTokenizer POSTs /tokenize at the URL root; equal tokenizers keep the configured margin."""
    server = FakeModelServer()
    await server.start()
    try:
        tokenizer = ServerTokenizer(server.base_url)
        assert tokenizer.url.endswith("/tokenize") and "/v1" not in tokenizer.url
        assert await tokenizer.count("hello world") == COUNTER.count_text("hello world")
        margin = await calibrate_margin(COUNTER, tokenizer, ["system prompt", text_of(300)], base_margin=0.1)
        assert margin == pytest.approx(0.1)
    finally:
        await server.stop()


async def test_calibration_scales_margin_for_a_hungrier_tokenizer() -> None:
    """A server tokenizer producing 1.5x the tokens raises the margin to (1 + m) * 1.5 - 1."""

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        text = json.loads(request.content)["content"]
        return httpx.Response(200, json={"tokens": list(range(int(COUNTER.count_text(text) * 1.5)))})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tokenizer = ServerTokenizer("http://model.local/v1", client=http)
        margin = await calibrate_margin(COUNTER, tokenizer, [text_of(1000)], base_margin=0.1)
    assert margin == pytest.approx(1.1 * 1.5 - 1, abs=0.01)


async def test_calibration_failure_keeps_margin() -> None:
    """An unreachable or odd /tokenize leaves the configured margin in place."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "no"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tokenizer = ServerTokenizer("http://model.local", client=http)
        assert await calibrate_margin(COUNTER, tokenizer, ["x"], base_margin=0.2) == 0.2


def test_fingerprint_names_the_counting_rules() -> None:
    """The fingerprint changes with include_name (saved counts are only reused when it matches)."""
    assert TokenCounter.load().fingerprint != TokenCounter.load(include_name=False).fingerprint
    assert tokens_module.ENCODING_NAME in TokenCounter.load().fingerprint
