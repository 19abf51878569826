"""The batch event writer used by mail ingest: the same per-account log as `record_event`, one
sequence bump per account and one insert per batch."""

from __future__ import annotations

import functools

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Account
from inbox.core.access import Actor
from inbox.events.log import (
    drop_events_since,
    event_batch,
    event_mark,
    record_event,
    staff_ids,
    take_pending,
)
from inbox.events.models import Event
from inbox.events.types import Event as EventType


@functools.cache
def _probe_type(type_: str) -> type[EventType]:
    probe: type[EventType] = msgspec.defstruct(
        type_, [("n", int | msgspec.UnsetType, msgspec.UNSET)], bases=(EventType,), tag=type_
    )
    return probe


def probe(type_: str, n: int | msgspec.UnsetType = msgspec.UNSET) -> EventType:
    """An event of any type (these tests are about the log, not the contract)."""
    return _probe_type(type_)(n=n)  # type: ignore[call-arg]


async def _log(session: AsyncSession, account_id: int) -> list[tuple[int, str, object]]:
    rows = await session.execute(
        sa.select(Event.seq, Event.type, Event.payload)
        .where(Event.account_id == account_id)
        .order_by(Event.seq)
    )
    return [(seq, type_, payload) for seq, type_, payload in rows.all()]


async def test_events_are_numbered_at_commit_in_recording_order(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor, admin: Actor
) -> None:
    async with sessionmaker() as session:
        await record_event(session, [cmu.id], probe("before", 0))
        await session.commit()
        assert [e.seq for e in take_pending(session)] == [1]

        await record_event(session, [cmu.id, admin.id], probe("a", 1))
        await record_event(session, [admin.id], probe("b", 2))
        await record_event(session, [cmu.id], probe("c", 3))
        # Nothing is written, and no counter touched, until the commit.
        assert await session.scalar(sa.select(sa.func.count()).select_from(Event)) == 1
        assert take_pending(session) == []
        await session.commit()
        pending = take_pending(session)

    assert [(e.account_id, e.seq, e.type) for e in pending] == [
        (cmu.id, 2, "a"),
        (admin.id, 1, "a"),
        (admin.id, 2, "b"),
        (cmu.id, 3, "c"),
    ]
    async with sessionmaker() as session:
        assert await _log(session, cmu.id) == [
            (1, "before", {"n": 0}),
            (2, "a", {"n": 1}),
            (3, "c", {"n": 3}),
        ]
        assert await _log(session, admin.id) == [(1, "a", {"n": 1}), (2, "b", {"n": 2})]
        rows = await session.execute(sa.select(Account.id, Account.event_seq))
        seqs = {account_id: seq for account_id, seq in rows.all()}
        assert seqs[cmu.id] == 3 and seqs[admin.id] == 2


async def test_a_rolled_back_transaction_records_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    async with sessionmaker() as session:
        await record_event(session, [cmu.id], probe("lost"))
        await session.rollback()
        await session.commit()
        assert take_pending(session) == []
        await record_event(session, [cmu.id], probe("kept"))
        await session.commit()
        assert [(e.seq, e.type) for e in take_pending(session)] == [(1, "kept")]
    async with sessionmaker() as session:
        assert await _log(session, cmu.id) == [(1, "kept", {})]


async def test_a_rolled_back_savepoint_drops_its_events_only(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    async with sessionmaker() as session:
        await record_event(session, [cmu.id], probe("outer"))
        mark = event_mark(session)
        with pytest.raises(RuntimeError, match="boom"):
            async with session.begin_nested():
                await record_event(session, [cmu.id], probe("inner"))
                raise RuntimeError("boom")
        drop_events_since(session, mark)
        async with session.begin_nested():  # a released savepoint does not number anything
            await record_event(session, [cmu.id], probe("kept"))
        assert await session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
        await session.commit()
        assert [(e.seq, e.type) for e in take_pending(session)] == [(1, "outer"), (2, "kept")]


async def test_a_commit_that_fails_publishes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    async with sessionmaker() as session:
        await record_event(session, [cmu.id], probe("doomed"))
        # A row that breaks a constraint only when the commit flushes it.
        session.add(Account(email=f"{cmu.email}", name="Twin", role=cmu.role, password_hash="x"))
        with pytest.raises(sa.exc.IntegrityError):
            await session.commit()
        await session.rollback()
        assert take_pending(session) == []
        await record_event(session, [cmu.id], probe("next"))
        await session.commit()
        assert [(e.seq, e.type) for e in take_pending(session)] == [(1, "next")]


async def test_the_staff_is_read_once_per_batch(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    async with sessionmaker() as session:
        async with event_batch(session):
            assert await staff_ids(session) == [cmu.id]
            await session.execute(sa.update(Account).values(is_active=False))
            assert await staff_ids(session) == [cmu.id]
        assert await staff_ids(session) == []  # outside a batch: read every time
        await session.rollback()
