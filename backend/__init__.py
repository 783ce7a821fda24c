"""WebSocket multi-agent chat server: one AutoGen team per session, a 4096-token budget per call."""

__version__ = "0.1.0"
