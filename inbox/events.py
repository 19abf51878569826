"""The per-account event log.

Each event row gets the account's next sequence number inside the transaction that made the
change, so sequence order is commit order and a gap can never hide. Events wait in the session
until the transaction commits; only then are they published (see `commit_and_publish`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Account, Event, Role, utcnow
from inbox.ports import EventPublisher, StoredEvent
from inbox.schemas import EventRead

_PENDING = "inbox.pending_events"


async def staff_ids(session: AsyncSession) -> list[int]:
    """Accounts allowed to see every conversation: active contact managers and admins."""
    rows = await session.scalars(
        sa.select(Account.id)
        .where(Account.is_active, Account.role.in_([Role.ADMIN, Role.CONTACT_MANAGER]))
        .order_by(Account.id)
    )
    return list(rows)


async def record_event(
    session: AsyncSession, account_ids: Iterable[int], type_: str, payload: dict[str, Any]
) -> list[StoredEvent]:
    """Append one event to each account's log, in this transaction."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Lock in id order so two transactions touching the same accounts cannot deadlock.
        await session.execute(
            sa.select(Account.id).where(Account.id.in_(ids)).order_by(Account.id).with_for_update()
        )
    result = await session.execute(
        sa.update(Account)
        .where(Account.id.in_(ids))
        .values(event_seq=Account.event_seq + 1)
        .returning(Account.id, Account.event_seq)
    )
    now = utcnow()
    stored = [StoredEvent(account_id, seq, type_, payload, now) for account_id, seq in result.all()]
    await session.execute(
        sa.insert(Event),
        [
            {
                "account_id": e.account_id,
                "seq": e.seq,
                "type": e.type,
                "payload": e.payload,
                "created_at": now,
            }
            for e in stored
        ],
    )
    session.info.setdefault(_PENDING, []).extend(stored)
    return stored


async def current_seq(session: AsyncSession, account_id: int) -> int:
    """The sequence number of the account's newest event (0 before the first)."""
    seq = await session.scalar(sa.select(Account.event_seq).where(Account.id == account_id))
    return int(seq or 0)


def take_pending(session: AsyncSession) -> list[StoredEvent]:
    """The events recorded in this session since the last call, in order."""
    pending: list[StoredEvent] = session.info.pop(_PENDING, [])
    return pending


async def commit_and_publish(session: AsyncSession, publisher: EventPublisher) -> None:
    """Commit, then publish what the transaction recorded. A rollback publishes nothing."""
    await session.commit()
    events = take_pending(session)
    if events:
        await publisher.publish(events)


async def list_events_after(
    session: AsyncSession, account_id: int, after: int, limit: int = 500
) -> list[EventRead]:
    """An account's events with a sequence greater than `after`, oldest first."""
    rows = await session.scalars(
        sa.select(Event)
        .where(Event.account_id == account_id, Event.seq > after)
        .order_by(Event.seq)
        .limit(limit)
    )
    return [
        EventRead(seq=e.seq, type=e.type, payload=e.payload, created_at=e.created_at) for e in rows
    ]


async def do_prune_events(session: AsyncSession, older_than: datetime) -> int:
    """Drop events past the retention; clients behind them get a resync."""
    result = await session.execute(sa.delete(Event).where(Event.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


class MemoryPublisher:
    """Keeps published events in a list: the fake for tests and the one-process default."""

    def __init__(self) -> None:
        self.published: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.published.extend(events)
