"""Session leases: which process runs a session's turns, and the epoch that fences its writes.

A lease is one row ``(session_id, owner, epoch, expires_at)``; times come from the database's
clock, so processes on different machines agree. Claiming is one conditional upsert: it succeeds
when there is no row, when the row has expired, or when the claimer already owns it; taking it
from another owner increments the epoch. Every event write checks (under a share lock, inside
its own transaction) that the writer's epoch is still the current one, so a stalled former
owner can never write after a takeover.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .db import Database, Tx


@dataclass(frozen=True, slots=True)
class Lease:
    session_id: str
    owner: str
    epoch: int
    expires_at: float


class LeaseRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, session_id: str, owner: str, ttl: float) -> int | None:
        """Take the lease (or extend our own). The epoch we now hold, or None if someone else does."""
        now = self._db.dialect.now
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                f"INSERT INTO leases (session_id, owner, epoch, expires_at) VALUES (?, ?, 1, {now} + ?) "  # noqa: S608
                "ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, "
                "epoch = CASE WHEN leases.owner = excluded.owner THEN leases.epoch ELSE leases.epoch + 1 END "
                f"WHERE leases.owner = excluded.owner OR leases.expires_at < {now} RETURNING epoch",
                (session_id, owner, ttl),
            )
        return None if row is None else int(row[0])

    async def renew(self, owner: str, ttl: float) -> dict[str, int]:
        """Extend every lease ``owner`` still holds (one statement); session id -> epoch.

        An expired or released lease is not revived: it may be claimed by anyone now."""
        now = self._db.dialect.now
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                f"UPDATE leases SET expires_at = {now} + ? WHERE owner = ? AND expires_at > {now} "  # noqa: S608
                "RETURNING session_id, epoch",
                (ttl, owner),
            )
        return {str(r[0]): int(r[1]) for r in rows}

    async def release(self, session_id: str, owner: str, epoch: int) -> bool:
        """Let the lease expire now (the row stays, so the next epoch is still higher)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE leases SET expires_at = 0 WHERE session_id = ? AND owner = ? AND epoch = ?",
                (session_id, owner, epoch),
            )
        return changed > 0

    async def get(self, session_id: str) -> Lease | None:
        """The lease row; ``expires_at`` is relative to :meth:`live` (use it, not local time)."""
        row = await self._db.fetchone(
            "SELECT session_id, owner, epoch, expires_at FROM leases WHERE session_id = ?", (session_id,)
        )
        return None if row is None else Lease(str(row[0]), str(row[1]), int(row[2]), float(row[3]))

    async def live_owner(self, session_id: str) -> str | None:
        """The process holding an unexpired lease on the session, or None."""
        row = await self._db.fetchone(
            f"SELECT owner FROM leases WHERE session_id = ? AND expires_at > {self._db.dialect.now}",  # noqa: S608
            (session_id,),
        )
        return None if row is None else str(row[0])

    async def unowned(self, session_ids: list[str]) -> list[str]:
        """Of ``session_ids``, those nobody holds an unexpired lease on (one query)."""
        if not session_ids:
            return []
        marks = ",".join("?" for _ in session_ids)
        rows = await self._db.fetchall(
            f"SELECT session_id FROM leases WHERE session_id IN ({marks}) AND expires_at > {self._db.dialect.now}",  # noqa: S608
            tuple(session_ids),
        )
        live = {str(r[0]) for r in rows}
        return [sid for sid in session_ids if sid not in live]

    async def live_owners(self) -> set[str]:
        """Every process that holds at least one unexpired lease."""
        rows = await self._db.fetchall(
            f"SELECT DISTINCT owner FROM leases WHERE expires_at > {self._db.dialect.now}"  # noqa: S608
        )
        return {str(r[0]) for r in rows}

    async def fence(self, tx: Tx, held: Iterable[tuple[str, int]], owner: str) -> set[str]:
        """Inside ``tx``: the sessions of ``held`` whose lease is no longer ``(owner, epoch)``.

        The rows are share-locked until ``tx`` ends, so a concurrent claim waits for this write.
        """
        wanted = dict(held)
        if not wanted:
            return set()
        marks = ",".join("?" for _ in wanted)
        rows = await tx.fetchall(
            f"SELECT session_id, owner, epoch FROM leases WHERE session_id IN ({marks}){self._db.dialect.for_share}",  # noqa: S608
            tuple(wanted),
        )
        current = {str(r[0]): (str(r[1]), int(r[2])) for r in rows}
        return {sid for sid, epoch in wanted.items() if current.get(sid) != (owner, epoch)}
