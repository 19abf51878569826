"""The durable send queue: each queued message is delivered once, retried when it may succeed
later, failed when it cannot, and never sent twice after a crash mid-send."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.access import Actor
from inbox.events import MemoryPublisher
from inbox.messages import SendContext, do_send_message
from inbox.models import Channel, DeliveryStatus, Event, Message, OutboxJob, OutboxState
from inbox.outbox import Sender, claim_due
from inbox.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from inbox.prospects import do_create_prospect
from inbox.schemas import MessageCreate, ProspectCreate

Maker = async_sessionmaker[AsyncSession]


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


class FakeChannel:
    """Records deliveries; fails as scripted."""

    def __init__(
        self,
        failures: list[Exception] | None = None,
        lookup: DeliveryReceipt | DeliveryLookup = DeliveryLookup.NOT_DELIVERED,
    ) -> None:
        self.delivered: list[OutboundEnvelope] = []
        self.failures = list(failures or [])
        self.lookup = lookup

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(envelope)
        return DeliveryReceipt(external_id=f"ext-{envelope.message_id}")

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        return self.lookup


async def queue_messages(maker: Maker, actor: Actor, count: int) -> list[int]:
    ids = []
    async with maker() as s:
        p = await do_create_prospect(
            s, actor, ProspectCreate(first_name="Pat", emails=["pat@example.com"]), region="US"
        )
        for n in range(count):
            m = await do_send_message(
                s,
                actor,
                p.conversation_id,
                MessageCreate(channel=Channel.EMAIL, body_text=f"message {n}"),
                context=SendContext(email_domain="inbox.test"),
            )
            ids.append(m.id)
        await s.commit()
    return ids


def sender(maker: Maker, channel: FakeChannel, clock: FakeClock, worker: str = "w1") -> Sender:
    return Sender(
        maker, {Channel.EMAIL: channel, Channel.SMS: channel}, MemoryPublisher(), clock, worker
    )


async def message_states(maker: Maker) -> dict[int, tuple[DeliveryStatus, str]]:
    async with maker() as s:
        rows = await s.execute(sa.select(Message.id, Message.status, Message.error))
        return {i: (st, err) for i, st, err in rows.all()}


async def test_each_queued_message_is_delivered_once_and_marked_sent(
    sessionmaker: Maker, cmu: Actor
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 3)
    channel, clock = FakeChannel(), FakeClock()
    s = sender(sessionmaker, channel, clock)
    assert await s.run_once() == 3
    assert await s.run_once() == 0
    assert sorted(e.message_id for e in channel.delivered) == ids
    assert all(e.headers["Message-ID"].endswith("@inbox.test>") for e in channel.delivered)
    assert {st for st, _ in (await message_states(sessionmaker)).values()} == {DeliveryStatus.SENT}
    async with sessionmaker() as session:
        updates = await session.scalar(
            sa.select(sa.func.count()).where(Event.type == "message.updated")
        )
        external = set(await session.scalars(sa.select(Message.external_id)))
    assert updates == 3
    assert external == {f"ext-{i}" for i in ids}
    assert len(s.publisher.published) == 3  # type: ignore[attr-defined]


async def test_a_transient_failure_is_retried_with_backoff(sessionmaker: Maker, cmu: Actor) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    channel, clock = FakeChannel([TransientDeliveryError("421 try later")]), FakeClock()
    s = sender(sessionmaker, channel, clock)
    await s.run_once()
    assert (await message_states(sessionmaker))[message_id] == (
        DeliveryStatus.QUEUED,
        "deferred: 421 try later",
    )
    assert await s.run_once() == 0, "not due again before its backoff"
    clock.at += timedelta(minutes=2)
    assert await s.run_once() == 1
    assert (await message_states(sessionmaker))[message_id] == (DeliveryStatus.SENT, "")
    async with sessionmaker() as session:
        job = await session.scalar(sa.select(OutboxJob))
    assert job is not None and job.attempts == 2 and job.state is OutboxState.DONE


async def test_a_permanent_failure_is_recorded_with_the_reason(
    sessionmaker: Maker, cmu: Actor
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    channel = FakeChannel([PermanentDeliveryError("550 no such user")])
    await sender(sessionmaker, channel, FakeClock()).run_once()
    assert (await message_states(sessionmaker))[message_id] == (
        DeliveryStatus.FAILED,
        "550 no such user",
    )
    assert channel.delivered == []


async def _crash_mid_send(maker: Maker, clock: FakeClock) -> None:
    """A sender claims the job and dies before recording anything."""
    async with maker() as session:
        assert (
            len(await claim_due(session, "dead-worker", clock.now(), lease=timedelta(seconds=30)))
            == 1
        )
    clock.at += timedelta(seconds=31)


async def test_after_a_crash_a_message_the_channel_already_took_is_not_sent_again(
    sessionmaker: Maker, cmu: Actor
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    await _crash_mid_send(sessionmaker, clock)
    channel = FakeChannel(lookup=DeliveryReceipt(external_id="went-out"))
    assert await sender(sessionmaker, channel, clock).run_once() == 1
    assert channel.delivered == []
    assert (await message_states(sessionmaker))[message_id][0] is DeliveryStatus.SENT


async def test_after_a_crash_a_message_the_channel_never_got_is_sent(
    sessionmaker: Maker, cmu: Actor
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    await _crash_mid_send(sessionmaker, clock)
    channel = FakeChannel(lookup=DeliveryLookup.NOT_DELIVERED)
    await sender(sessionmaker, channel, clock).run_once()
    assert [e.message_id for e in channel.delivered] == [message_id]


async def test_after_a_crash_an_unknowable_send_fails_visibly_instead_of_sending_twice(
    sessionmaker: Maker, cmu: Actor
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    await _crash_mid_send(sessionmaker, clock)
    channel = FakeChannel(lookup=DeliveryLookup.UNKNOWN)
    await sender(sessionmaker, channel, clock).run_once()
    status, error = (await message_states(sessionmaker))[message_id]
    assert status is DeliveryStatus.FAILED and "not sent again" in error
    assert channel.delivered == []


async def test_a_job_still_within_its_lease_is_left_to_its_sender(
    sessionmaker: Maker, cmu: Actor
) -> None:
    await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    async with sessionmaker() as session:
        await claim_due(session, "busy-worker", clock.now(), lease=timedelta(seconds=30))
    assert await sender(sessionmaker, FakeChannel(), clock).run_once() == 0


async def test_concurrent_senders_deliver_each_message_exactly_once(
    sessionmaker: Maker, cmu: Actor
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 30)
    channel, clock = FakeChannel(), FakeClock()
    senders = [sender(sessionmaker, channel, clock, f"w{i}") for i in range(3)]

    async def drain(s: Sender) -> None:
        while await s.run_once():
            pass

    await asyncio.gather(*(drain(s) for s in senders))
    counts = Counter(e.message_id for e in channel.delivered)
    assert sorted(counts) == ids
    assert set(counts.values()) == {1}
