"""The embedded model's own tokenizer, read from its GGUF file, as a token-counting encoding.

With the embedded model the context budget counts with SmolLM2's real tokenizer instead of cl100k
plus a margin wide enough for its worst script (which left English prose about half the window:
docs/embedded-model.md). llama.cpp loads only the vocabulary (``vocab_only``: ~80 ms, a few MB);
tokenizing costs ~1.2 µs per token, and counts are cached per message by the ``TokenCounter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class GgufEncoding:
    """``encode_ordinary`` / ``decode`` / ``name`` (what ``TokenCounter`` uses) over a GGUF vocabulary."""

    def __init__(self, path: Path) -> None:
        import llama_cpp  # the embedded extra; only imported when the embedded model is used

        self._llama: Any = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        self.name = f"gguf:{path.name}"

    def encode_ordinary(self, text: str) -> list[int]:
        """Tokens of ``text`` as the model server counts a message's text: no BOS, no special tokens."""
        if not text:
            return []
        tokens: list[int] = self._llama.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False, special=False)
        return tokens

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        data: bytes = self._llama.detokenize(list(tokens))
        return data.decode("utf-8", errors)
