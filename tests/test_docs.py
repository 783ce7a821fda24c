"""The docs stay true: every setting and every protocol type is documented."""

from __future__ import annotations

from pathlib import Path

from backend import protocol
from backend.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_in_configuration_md() -> None:
    """docs/configuration.md names every environment variable the server reads."""
    text = (DOCS / "configuration.md").read_text()
    missing = [f.alias for f in Settings.model_fields.values() if f.alias and f"`{f.alias}`" not in text]
    assert missing == []


def test_every_request_and_event_type_is_in_protocol_md() -> None:
    """docs/protocol.md documents every client request type and every timeline event type."""
    text = (DOCS / "protocol.md").read_text()
    missing = [t for t in sorted(protocol.REQUEST_TYPES | protocol.TIMELINE_EVENTS) if f"`{t}`" not in text]
    assert missing == []
