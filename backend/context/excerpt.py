"""A budgeted excerpt: the beginning of a text, cut to at most N tokens of the counting encoding.

Pure (the encoding is passed in). Used for uploaded files: the team gets a reference to the file
and this excerpt, never the whole file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str: ...


def head_excerpt(text: str, max_tokens: int, encoding: Encoding) -> tuple[str, bool]:
    """``(excerpt, truncated)``: ``text`` if it fits in ``max_tokens``, else its beginning cut at a
    token boundary, re-counted so the excerpt itself never exceeds ``max_tokens``."""
    if max_tokens <= 0:
        return "", bool(text)
    tokens = encoding.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text, False
    keep = max_tokens
    while keep > 0:
        excerpt = encoding.decode(tokens[:keep], errors="ignore")
        if len(encoding.encode_ordinary(excerpt)) <= max_tokens:
            return excerpt, True
        keep -= max(1, keep // 16)
    return "", True
