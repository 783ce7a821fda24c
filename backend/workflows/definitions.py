"""Workflow definitions: validate, save as immutable versions, load ``workflows/*.json`` files."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import WorkflowError, WorkflowNotFoundError, WorkflowValidationError
from ..store.workflows import WorkflowRepo, WorkflowRow
from . import dsl, templates

logger = logging.getLogger(__name__)

#: config keys whose strings are templates, checked at save time
TEMPLATE_KEYS = (
    "template",
    "text",
    "query",
    "query_template",
    "prompt",
    "system_prompt",
    "question",
    "source_url",
    "url",
)
MAX_NAME = 100
MAX_DSL_BYTES = 1024 * 1024


def slug(name: str) -> str:
    """The workflow id for a name: ``Daily Report`` -> ``daily-report``."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return out[:64]


def validate(dsl_doc: Any, *, max_nodes: int) -> dsl.Graph:
    """Everything checked at save time: the graph (see :mod:`.dsl`) and every template's syntax."""
    size = len(json.dumps(dsl_doc, default=str)) if dsl_doc is not None else 0
    if size > MAX_DSL_BYTES:
        raise WorkflowValidationError(f"the definition is {size} bytes; at most {MAX_DSL_BYTES} are allowed")
    graph = dsl.parse(dsl_doc, max_nodes=max_nodes, max_edges=max_nodes * 4)
    for node in graph.nodes.values():
        for key in TEMPLATE_KEYS:
            value = node.config.get(key)
            if isinstance(value, str):
                _check(node.id, key, value, graph)
        if node.kind == "if-else":
            expression = node.config.get("expression")
            if not isinstance(expression, str) or len(expression) > 1000:
                raise WorkflowValidationError(
                    f"node {node.id!r}: config.expression must be a string of at most 1000 characters"
                )
        if node.kind == "code" and str(node.config.get("language") or "python").lower() != "python":
            raise WorkflowValidationError(f"node {node.id!r}: only language 'python' is supported")
        for key in ("assignments", "messages", "input_json", "arguments", "body", "query"):
            _check_nested(node.id, key, node.config.get(key), graph)
    return graph


def _check(node_id: str, key: str, value: str, graph: dsl.Graph) -> None:
    if not templates.has_template(value):
        return
    try:
        templates.check_syntax(value, graph.nodes)
    except WorkflowError as exc:
        raise WorkflowValidationError(f"node {node_id!r}: config.{key}: {exc.message}") from None


def _check_nested(node_id: str, key: str, value: Any, graph: dsl.Graph) -> None:
    if isinstance(value, str):
        _check(node_id, key, value, graph)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_nested(node_id, f"{key}.{k}", v, graph)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_nested(node_id, f"{key}[{i}]", v, graph)


class Definitions:
    """Saving and finding workflows (the repository is ``store.workflows``)."""

    def __init__(self, repo: WorkflowRepo, *, max_nodes: int) -> None:
        self._repo = repo
        self._max_nodes = max_nodes

    async def save(self, name: Any, description: Any, dsl_doc: Any, *, source: str = "api") -> tuple[WorkflowRow, bool]:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise WorkflowValidationError(f"name must be a non-empty string of at most {MAX_NAME} characters")
        workflow_id = slug(name)
        if not workflow_id:
            raise WorkflowValidationError("name must contain at least one letter or digit")
        if description is not None and not isinstance(description, str):
            raise WorkflowValidationError("description must be a string")
        validate(dsl_doc, max_nodes=self._max_nodes)
        return await self._repo.save(workflow_id, name.strip(), description or "", dict(dsl_doc), source)

    async def resolve(self, ref: str, version: int | None = None) -> WorkflowRow:
        """A workflow by id, slug of a name, or name; latest version unless ``version``."""
        row = await self._repo.get(ref, version)
        if row is None:
            row = await self._repo.get(slug(ref), version)
        if row is None and version is None:
            row = await self._repo.find_by_name(ref)
        if row is None:
            suffix = f" version {version}" if version is not None else ""
            raise WorkflowNotFoundError(f"no workflow {ref!r}{suffix}")
        return row

    async def load_dir(self, directory: Path) -> int:
        """Load every ``*.json`` file (``{name, description, dsl}``); a bad file is logged and skipped."""
        created = 0
        for path, text in await asyncio.to_thread(_read_dir, directory):
            try:
                doc = json.loads(text)
                if not isinstance(doc, dict):
                    raise WorkflowValidationError("the file must hold an object {name, description, dsl}")
                _, new = await self.save(
                    doc.get("name") or path.stem, doc.get("description"), doc.get("dsl"), source="file"
                )
                created += int(new)
            except (ValueError, WorkflowError) as exc:
                message = exc.message if isinstance(exc, WorkflowError) else str(exc)
                logger.error("workflow file %s is not loaded: %s", path, message)
        return created


def _read_dir(directory: Path) -> list[tuple[Path, str]]:
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            out.append((path, path.read_text(encoding="utf-8")))
        except OSError as exc:
            logger.error("workflow file %s is not readable: %s", path, exc)
    return out
