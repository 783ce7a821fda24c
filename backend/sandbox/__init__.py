"""The per-session Docker sandbox. Only this package imports the ``docker`` SDK."""

from __future__ import annotations

from .manager import ExecResult, SandboxManager

__all__ = ["ExecResult", "SandboxManager"]
