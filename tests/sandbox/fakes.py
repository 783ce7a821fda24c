"""Small fakes shared by the sandbox tests."""

from __future__ import annotations

from typing import Any


class NullEvents:
    """An EventSink that records what tools emit."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: str, **fields: Any) -> None:
        self.emitted.append((type_, fields))
