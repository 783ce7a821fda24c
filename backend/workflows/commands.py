"""The chat's explicit workflow mode: ``/run <workflow> [json inputs]``. Pure."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import WorkflowError

_RUN = re.compile(r"^/run(?:\s+(\S+))?\s*(.*)$", re.S)


def is_run_command(text: str) -> bool:
    stripped = text.strip()
    return stripped == "/run" or stripped.startswith(("/run ", "/run\n", "/run\t"))


def parse_run_command(text: str) -> tuple[str, dict[str, Any]]:
    """``/run daily-report {"day": "mon"}`` -> ("daily-report", {"day": "mon"}); WorkflowError if malformed."""
    match = _RUN.match(text.strip())
    if match is None or not match.group(1):
        raise WorkflowError('usage: /run <workflow> [json inputs], e.g. /run score-check {"score": 7}')
    ref, rest = match.group(1), match.group(2).strip()
    if not rest:
        return ref, {}
    try:
        inputs = json.loads(rest)
    except ValueError as exc:
        raise WorkflowError(f"the inputs after the workflow name must be a JSON object: {exc}") from None
    if not isinstance(inputs, dict):
        raise WorkflowError("the inputs after the workflow name must be a JSON object")
    return ref, inputs
