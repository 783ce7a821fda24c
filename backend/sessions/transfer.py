"""Exporting a session to a document and importing one as a new session (docs/export-format.md).

Export: the stored timeline exactly as clients got it, the rolling summaries from the saved team
state, and the todos (:func:`transfer_format.build_document`); Markdown is rendered from the same
document (``transcript.py``).

Import: a checked document (:func:`transfer_format.parse_document`) becomes a NEW session (new id)
whose timeline holds the same events (``seq`` renumbered from 1, original times) and whose todos
are recreated. The raw AutoGen team state is not imported (it may come from another version or
team): the new session's first turn carries one context note instead, the summary plus the most
recent messages that fit IMPORT_CONTEXT_TOKENS, so the team continues the conversation within its
budget. The session row, its events, todos and note are written in ONE transaction: a failure
leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..context.excerpt import head_excerpt
from ..protocol import encode
from ..store import EventRow
from .transcript import render_markdown
from .transfer_format import ImportedSession, build_document, context_note, parse_document, renumbered
from .transfer_format import summaries_from_state as summaries_of

if TYPE_CHECKING:
    from .registry import SessionRegistry
    from .session import Session

logger = logging.getLogger(__name__)

#: the inbox source of the context note (the team reads it as something the user brought in)
NOTE_SOURCE = "user"


async def export_document(session: Session) -> dict[str, Any]:
    """The session as an export document (``format: agentchat-session``, ``version: 1``)."""
    services = session.services
    store = services.store
    await services.hub.flush()  # everything emitted so far is in the timeline
    row = await store.sessions.get(session.id)
    frames = await store.events.after(session.id, 0)
    saved = await store.state.load(session.id)
    todos = [todo.to_dict() for todo in await store.todos.list(session.id)]

    def build() -> dict[str, Any]:
        return build_document(
            session_id=session.id,
            title=row.title if row else session.title,
            timezone=row.timezone if row else session.timezone,
            created_at=row.created_at if row else 0.0,
            exported_at=time.time(),
            events=[json.loads(frame) for frame in frames],
            summaries=summaries_of(json.loads(saved[0])) if saved else [],
            todos=todos,
            budget=services.settings.context_budget,
        )

    return await asyncio.to_thread(build)


async def export_markdown(session: Session) -> str:
    """The session as a Markdown transcript."""
    document = await export_document(session)
    return await asyncio.to_thread(render_markdown, document)


def _timezone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # a zone this machine does not know: the session uses the default
    return name


async def import_document(registry: SessionRegistry, data: Any) -> tuple[Session, dict[str, Any]]:
    """A new session holding the document's history; raises TransferError (nothing is stored)."""
    services = registry.services
    store, settings, counter = services.store, services.settings, services.factory.counter
    imported: ImportedSession = await asyncio.to_thread(parse_document, data)
    session_id = uuid.uuid4().hex

    def encoded() -> list[EventRow]:
        return [
            (session_id, e["seq"], e["type"], float(e["ts"]), encode(e))
            for e in renumbered(imported.events, session_id)
        ]

    rows = await asyncio.to_thread(encoded)
    # on the loop: the tokenizer (the embedded model's) is not shared with threads; bounded work
    note = context_note(
        imported,
        settings.import_context_tokens,
        counter.count_text,
        lambda text, limit: head_excerpt(text, limit, counter.encoding)[0],
    )
    async with store.db.transaction() as tx:
        await store.sessions.create(session_id, timezone=_timezone(imported.timezone), title=imported.title, tx=tx)
        await store.events.append(rows, tx=tx)
        for todo in imported.todos:
            await store.todos.add(
                session_id,
                todo.title,
                notes=todo.notes,
                due=todo.due,
                priority=todo.priority,
                status=todo.status,
                now=todo.created_at or None,
                updated_at=todo.updated_at or None,
                tx=tx,
            )
        if note:
            await store.state.add_inbox(session_id, "note", NOTE_SOURCE, note, tx=tx)
    logger.info("imported session %s as %s (%d events)", imported.source_id, session_id, len(rows))
    session = await registry.get(session_id)
    return session, {
        "imported_from": imported.source_id,
        "events": len(rows),
        "todos": len(imported.todos),
        "context_tokens": counter.count_text(note) if note else 0,
    }
