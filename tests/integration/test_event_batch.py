"""The batch event writer used by mail ingest: the same per-account log as `record_event`, one
sequence bump per account and one insert per batch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.access import Actor
from inbox.events import event_batch, record_event, staff_ids, take_pending
from inbox.models import Account, Event


async def _log(session: AsyncSession, account_id: int) -> list[tuple[int, str, object]]:
    rows = await session.execute(
        sa.select(Event.seq, Event.type, Event.payload)
        .where(Event.account_id == account_id)
        .order_by(Event.seq)
    )
    return [(seq, type_, payload) for seq, type_, payload in rows.all()]


async def test_a_batch_numbers_events_like_one_by_one(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor, admin: Actor
) -> None:
    async with sessionmaker() as session:
        await record_event(session, [cmu.id], "before", {"n": 0})  # unbuffered, as HTTP does
        await session.commit()
        assert [e.seq for e in take_pending(session)] == [1]

        async with event_batch(session):
            assert await record_event(session, [cmu.id, admin.id], "a", {"n": 1}) == []
            await record_event(session, [admin.id], "b", {"n": 2})
            await record_event(session, [cmu.id], "c", {"n": 3})
            # Nothing is written until the batch ends.
            assert await session.scalar(sa.select(sa.func.count()).select_from(Event)) == 1
        pending = take_pending(session)
        await session.commit()

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
        # After the batch, record_event writes at once again.
        stored = await record_event(session, [cmu.id], "after", {})
        assert [e.seq for e in stored] == [4]
        await session.commit()


async def test_a_failed_batch_records_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(RuntimeError, match="boom"):
            async with event_batch(session):
                await record_event(session, [cmu.id], "lost", {})
                raise RuntimeError("boom")
        await session.rollback()
        assert take_pending(session) == []
        async with event_batch(session):
            await record_event(session, [cmu.id], "kept", {})
        await session.commit()
        assert [(e.seq, e.type) for e in take_pending(session)] == [(1, "kept")]


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
