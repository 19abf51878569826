"""The per-account event log.

Each event row gets the account's next sequence number inside the transaction that made the
change, so sequence order is commit order and a gap can never hide. Events wait in the session
until the transaction commits; only then are they published (see `commit_and_publish`).

A transaction that records many events (the IMAP watcher storing a batch of mail) opts in to
`event_batch`: events are buffered and written together before the commit, each account's
sequence bumped once by the number of its events, so the guarantees stay the same.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Account, Event, Role, utcnow
from inbox.ports import EventPublisher, StoredEvent
from inbox.schemas import EventRead

_PENDING = "inbox.pending_events"
_BATCH = "inbox.event_batch"
_BATCH_CACHE = "inbox.event_batch_cache"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Buffered:
    account_ids: list[int]
    type: str
    payload: dict[str, Any]
    created_at: datetime


def batch_cache(session: AsyncSession) -> dict[str, Any] | None:
    """A dict that lives as long as the session's `event_batch`, for look-ups the batch repeats;
    None outside a batch."""
    cache: dict[str, Any] | None = session.info.get(_BATCH_CACHE)
    return cache


async def cached_in_batch(session: AsyncSession, key: str, load: Callable[[], Awaitable[T]]) -> T:
    """`load()`, read once per `event_batch` (the audiences of a batch's events do not change
    while it is stored); outside a batch, read every time."""
    cache = batch_cache(session)
    if cache is None:
        return await load()
    if key not in cache:
        cache[key] = await load()
    value: T = cache[key]
    return value


async def staff_ids(session: AsyncSession) -> list[int]:
    """Accounts allowed to see every conversation: active contact managers and admins."""

    async def load() -> list[int]:
        rows = await session.scalars(
            sa.select(Account.id)
            .where(Account.is_active, Account.role.in_([Role.ADMIN, Role.CONTACT_MANAGER]))
            .order_by(Account.id)
        )
        return list(rows)

    return list(await cached_in_batch(session, "staff_ids", load))


async def _lock_accounts(session: AsyncSession, ids: list[int]) -> None:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Lock in id order so two transactions touching the same accounts cannot deadlock.
        await session.execute(
            sa.select(Account.id).where(Account.id.in_(ids)).order_by(Account.id).with_for_update()
        )


async def _insert_events(session: AsyncSession, stored: list[StoredEvent]) -> None:
    await session.execute(
        sa.insert(Event),
        [
            {
                "account_id": e.account_id,
                "seq": e.seq,
                "type": e.type,
                "payload": e.payload,
                "created_at": e.created_at,
            }
            for e in stored
        ],
    )
    session.info.setdefault(_PENDING, []).extend(stored)


async def record_event(
    session: AsyncSession, account_ids: Iterable[int], type_: str, payload: dict[str, Any]
) -> list[StoredEvent]:
    """Append one event to each account's log, in this transaction. Inside `event_batch` the
    event is only buffered (and an empty list returned): its sequence number is given when the
    batch is flushed, before the commit."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    buffer: list[_Buffered] | None = session.info.get(_BATCH)
    if buffer is not None:
        buffer.append(_Buffered(ids, type_, payload, utcnow()))
        return []
    await _lock_accounts(session, ids)
    result = await session.execute(
        sa.update(Account)
        .where(Account.id.in_(ids))
        .values(event_seq=Account.event_seq + 1)
        .returning(Account.id, Account.event_seq)
    )
    now = utcnow()
    stored = [StoredEvent(account_id, seq, type_, payload, now) for account_id, seq in result.all()]
    await _insert_events(session, stored)
    return stored


async def flush_events(session: AsyncSession) -> list[StoredEvent]:
    """Write the events buffered by `event_batch` so far: each account's sequence is bumped once
    by the number of its events (rows locked in id order, as `record_event` does) and the events
    get consecutive numbers in the order they were recorded, in one multi-row insert."""
    buffer: list[_Buffered] | None = session.info.get(_BATCH)
    if not buffer:
        return []
    counts = Counter(account_id for entry in buffer for account_id in entry.account_ids)
    ids = sorted(counts)
    await _lock_accounts(session, ids)
    result = await session.execute(
        sa.update(Account)
        .where(Account.id.in_(ids))
        .values(event_seq=Account.event_seq + sa.case(counts, value=Account.id, else_=0))
        .returning(Account.id, Account.event_seq)
    )
    next_seq = {account_id: seq - counts[account_id] + 1 for account_id, seq in result.all()}
    stored: list[StoredEvent] = []
    for entry in buffer:
        for account_id in entry.account_ids:
            if account_id not in next_seq:
                continue  # no such account (any more): record_event skips it too
            seq = next_seq[account_id]
            next_seq[account_id] = seq + 1
            stored.append(StoredEvent(account_id, seq, entry.type, entry.payload, entry.created_at))
    buffer.clear()
    await _insert_events(session, stored)
    return stored


@contextlib.asynccontextmanager
async def event_batch(session: AsyncSession) -> AsyncIterator[None]:
    """Buffer the events recorded inside, and the staff audiences read, and write the events
    in one go at the end (`flush_events`); the caller then commits and publishes as usual. On
    an error the buffer is dropped with the work it described (the caller rolls back)."""
    if _BATCH in session.info:
        raise RuntimeError("event batches do not nest")
    session.info[_BATCH] = []
    session.info[_BATCH_CACHE] = {}
    try:
        yield
        await flush_events(session)
    finally:
        session.info.pop(_BATCH, None)
        session.info.pop(_BATCH_CACHE, None)


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
