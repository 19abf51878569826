"""The per-account event log.

Each event gets the account's next sequence number inside the transaction that made the
change, so sequence order is commit order and a gap can never hide. Events wait in the session
until the transaction commits; only then are they published (see `commit_and_publish`).

Numbers are given at the last moment: `record_event` only buffers, and the buffer is written
just before the commit (`flush_events`, run by a `before_commit` hook whatever path commits).
That is the only place the accounts' counters are locked, all at once, in id order, and with
`FOR NO KEY UPDATE`, which the key-share locks that inserts referencing `account` take do not
conflict with. A transaction holding a counter is then past all its other work and waits only
on counters of higher ids, so two writers can never wait on each other in a cycle, and a
writer holds a counter only for the moment its commit takes.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from inbox.accounts.models import Account, Role
from inbox.core.model import utcnow
from inbox.core.ports import EventPublisher, StoredEvent
from inbox.events.models import Event
from inbox.events.schemas import EventRead
from inbox.events.types import Event as EventType

_BUFFER = "inbox.event_buffer"  # recorded in this transaction, not numbered yet
_FLUSHED = "inbox.flushed_events"  # numbered and written, waiting for the commit
_PENDING = "inbox.pending_events"  # committed, waiting to be published
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


async def record_event(session: AsyncSession, account_ids: Iterable[int], event: EventType) -> None:
    """Append one event (a struct of `inbox.events.types`) to each account's log, in this
    transaction: its tag is the stored `type`, its fields the stored payload. It is numbered and
    written when the transaction commits (or at an explicit `flush_events`), in recording
    order."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    if not session.in_transaction():
        await session.begin()  # so that a rollback before any statement drops the event too
    entry = _Buffered(ids, event.type_name(), event.payload(), utcnow())
    session.info.setdefault(_BUFFER, []).append(entry)


def event_mark(session: AsyncSession) -> int:
    """A point in this transaction's recorded events, to drop what a rolled-back savepoint
    recorded with `drop_events_since`."""
    return len(session.info.get(_BUFFER, []))


def drop_events_since(session: AsyncSession, mark: int) -> None:
    """Forget the events recorded after `mark` (their savepoint was rolled back)."""
    del session.info.get(_BUFFER, [])[mark:]


def _lock_counters(session: Session, ids: list[int]) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # One statement, in id order; NO KEY UPDATE leaves foreign-key checks (KEY SHARE) alone.
        session.execute(
            sa.select(Account.id)
            .where(Account.id.in_(ids))
            .order_by(Account.id)
            .with_for_update(key_share=True)
        )


def _flush(session: Session) -> list[StoredEvent]:
    buffer: list[_Buffered] = session.info.pop(_BUFFER, [])
    if not buffer:
        return []
    counts = Counter(account_id for entry in buffer for account_id in entry.account_ids)
    ids = sorted(counts)
    _lock_counters(session, ids)
    result = session.execute(
        sa.update(Account)
        .where(Account.id.in_(ids))
        .values(event_seq=Account.event_seq + sa.case(counts, value=Account.id, else_=0))
        .returning(Account.id, Account.event_seq)
        .execution_options(synchronize_session=False)
    )
    next_seq = {account_id: seq - counts[account_id] + 1 for account_id, seq in result.all()}
    stored: list[StoredEvent] = []
    for entry in buffer:
        for account_id in entry.account_ids:
            if account_id not in next_seq:
                continue  # no such account (any more)
            seq = next_seq[account_id]
            next_seq[account_id] = seq + 1
            stored.append(StoredEvent(account_id, seq, entry.type, entry.payload, entry.created_at))
    if stored:
        session.execute(
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
    session.info.setdefault(_FLUSHED, []).extend(stored)
    return stored


async def flush_events(session: AsyncSession) -> list[StoredEvent]:
    """Number and write the events recorded so far: each account's counter is bumped once by
    the number of its events and the events get consecutive numbers in recording order, in one
    multi-row insert. The commit does this by itself; call it only as the transaction's last
    write (it locks the counters until the commit)."""
    return await session.run_sync(_flush)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release is not the commit
        session.flush()  # the rows first: the counters must be the last locks taken
        _flush(session)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.setdefault(_PENDING, []).extend(session.info.pop(_FLUSHED, []))


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost: whatever was not committed is gone
        session.info.pop(_BUFFER, None)
        session.info.pop(_FLUSHED, None)


@contextlib.asynccontextmanager
async def event_batch(session: AsyncSession) -> AsyncIterator[None]:
    """Read the staff audiences once for everything recorded inside (mail ingest records the
    same audiences for every message of a batch)."""
    if _BATCH_CACHE in session.info:
        raise RuntimeError("event batches do not nest")
    session.info[_BATCH_CACHE] = {}
    try:
        yield
    finally:
        session.info.pop(_BATCH_CACHE, None)


async def current_seq(session: AsyncSession, account_id: int) -> int:
    """The sequence number of the account's newest event (0 before the first)."""
    seq = await session.scalar(sa.select(Account.event_seq).where(Account.id == account_id))
    return int(seq or 0)


def take_pending(session: AsyncSession) -> list[StoredEvent]:
    """The events this session committed since the last call, in order."""
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
