"""The durable send queue: each queued message is delivered once, retried when it may succeed
later, failed when it cannot, and never sent twice after a crash mid-send."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.smtp import SmtpChannel, SmtpConfig
from channels.storage import FileAttachmentStore
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import ProspectCreate
from inbox.conversations.messages import SendContext
from inbox.conversations.models import Channel, DeliveryStatus, Message
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.core.access import Actor
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from inbox.events.log import MemoryPublisher
from inbox.events.models import Event
from inbox.outbox import queue as outbox
from inbox.outbox.models import OutboxJob, OutboxState
from inbox.outbox.queue import (
    HAND_OVER_UNKNOWN,
    HandOver,
    Sender,
    TakenOver,
    claim_due,
    start_hand_over,
)
from tests.support.clock import FakeClock
from tests.support.smtp import SmtpServer, smtp_server

Maker = async_sessionmaker[AsyncSession]


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


async def _crash_mid_send(maker: Maker, clock: FakeClock, *, handing_over: bool = True) -> None:
    """A sender claims the job, maybe begins handing it over, and dies before recording."""
    lease = timedelta(seconds=30)
    async with maker() as session:
        [job] = await claim_due(session, "dead-worker", clock.now(), lease=lease)
        if handing_over:
            await start_hand_over(session, job, "dead-worker", clock.now(), lease)
    clock.at += timedelta(seconds=31)


async def test_after_a_crash_a_claimed_job_never_handed_over_is_sent_without_asking(
    sessionmaker: Maker, cmu: Actor
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    await _crash_mid_send(sessionmaker, clock, handing_over=False)
    # A channel that could not tell: it is not asked, the message surely did not go out.
    channel = FakeChannel(lookup=DeliveryLookup.UNKNOWN)
    assert await sender(sessionmaker, channel, clock).run_once() == 1
    assert [e.message_id for e in channel.delivered] == [message_id]
    assert (await message_states(sessionmaker))[message_id] == (DeliveryStatus.SENT, "")
    async with sessionmaker() as session:
        job = await session.scalar(sa.select(OutboxJob))
    assert job is not None and job.attempts == 1 and job.handing_over_at is None


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
    assert (await message_states(sessionmaker))[message_id] == (
        DeliveryStatus.FAILED,
        HAND_OVER_UNKNOWN,
    )
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


async def test_a_job_taken_over_before_its_hand_over_is_left_to_the_new_sender(
    sessionmaker: Maker, cmu: Actor
) -> None:
    """A sender slow to reach a job of its batch finds it claimed by another once its lease
    ran out: it neither sends it nor records anything."""
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock, lease = FakeClock(), timedelta(seconds=30)
    async with sessionmaker() as session:
        [slow] = await claim_due(session, "slow", clock.now(), lease=lease)
    clock.at += timedelta(seconds=31)
    async with sessionmaker() as session:
        [fast] = await claim_due(session, "fast", clock.now(), lease=lease)
    assert not fast.interrupted, "never handed over: nothing to ask the channel"
    async with sessionmaker() as session:
        with pytest.raises(TakenOver):
            await start_hand_over(session, slow, "slow", clock.now(), lease)
        await start_hand_over(session, fast, "fast", clock.now(), lease)
    async with sessionmaker() as session:
        job = await session.scalar(sa.select(OutboxJob))
    assert job is not None and job.locked_by == "fast" and job.handing_over_at is not None
    assert (await message_states(sessionmaker))[message_id][0] is DeliveryStatus.SENDING


class StoppingChannel(FakeChannel):
    """Delivers slowly, and signals when the first delivery began."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        self.started.set()
        await asyncio.sleep(0.2)
        return await super().deliver(envelope)


async def test_a_stopping_sender_finishes_the_message_in_hand_and_gives_back_the_rest(
    sessionmaker: Maker, cmu: Actor
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 4)
    channel, clock = StoppingChannel(), FakeClock()
    s = sender(sessionmaker, channel, clock)
    running = asyncio.create_task(s.run_once())
    await channel.started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert [e.message_id for e in channel.delivered] == ids[:1]
    states = await message_states(sessionmaker)
    assert [states[i][0] for i in ids] == [DeliveryStatus.SENT] + [DeliveryStatus.QUEUED] * 3
    async with sessionmaker() as session:
        jobs = {j.message_id: j for j in await session.scalars(sa.select(OutboxJob))}
    assert [(jobs[i].state, jobs[i].attempts) for i in ids[1:]] == [(OutboxState.QUEUED, 0)] * 3
    # Due again at once, for this sender or any other.
    assert await sender(sessionmaker, FakeChannel(), clock, "w2").run_once() == 3


class WatchedSmtp(SmtpChannel):
    """Notes, when the queue's hand-over mark returns, what the server and the database hold."""

    def __init__(self, server: SmtpServer, maker: Maker, tmp_path: Path) -> None:
        super().__init__(
            SmtpConfig(server.host, server.port, tls="none"), FileAttachmentStore(tmp_path)
        )
        self.server, self.maker = server, maker
        self.seen: list[tuple[int, int, datetime | None]] = []

    async def deliver_staged(
        self, envelope: OutboundEnvelope, hand_over: HandOver
    ) -> DeliveryReceipt:
        async def watched() -> None:
            await hand_over()
            async with self.maker() as session:
                job = await session.scalar(sa.select(OutboxJob))
            assert job is not None
            sink = self.server.sink
            self.seen.append((sink.data_commands, len(sink.received), job.handing_over_at))

        return await super().deliver_staged(envelope, watched)


async def test_an_smtp_send_commits_its_hand_over_mark_just_before_data(
    sessionmaker: Maker, cmu: Actor, tmp_path: Path
) -> None:
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    clock = FakeClock()
    with smtp_server() as server:
        channel = WatchedSmtp(server, sessionmaker, tmp_path)
        s = Sender(sessionmaker, {Channel.EMAIL: channel}, MemoryPublisher(), clock, "w1")
        assert await s.run_once() == 1
        assert channel.seen == [(0, 0, clock.now())], "committed before DATA"
        assert len(server.sink.received) == 1
    assert (await message_states(sessionmaker))[message_id] == (DeliveryStatus.SENT, "")
    async with sessionmaker() as session:
        job = await session.scalar(sa.select(OutboxJob))
    assert job is not None and job.handing_over_at is None, "cleared with the outcome"


async def test_an_smtp_send_whose_job_was_taken_over_stops_before_data(tmp_path: Path) -> None:
    async def taken_over() -> None:
        raise TakenOver("claimed by another sender")

    envelope = OutboundEnvelope(
        1, "<k@inbox.test>", Channel.EMAIL, ("pat@example.com",), from_address="dana@oem.test"
    )
    with smtp_server() as server:
        channel = SmtpChannel(
            SmtpConfig(server.host, server.port, tls="none"), FileAttachmentStore(tmp_path)
        )
        with pytest.raises(TakenOver):
            await channel.deliver_staged(envelope, taken_over)
        assert server.sink.data_commands == 0 and server.sink.received == []


async def test_a_database_error_recording_a_delivered_message_is_retried(
    sessionmaker: Maker, cmu: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channel's answer exists only in the sender's memory: losing it would leave the
    message to be failed as unknown although it went out."""
    [message_id] = await queue_messages(sessionmaker, cmu, 1)
    finish, calls = outbox._finish, []

    async def flaky(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE outbox_job", {}, Exception("deadlock"))
        await finish(*args, **kwargs)

    monkeypatch.setattr(outbox, "_finish", flaky)
    channel = FakeChannel()
    assert await sender(sessionmaker, channel, FakeClock()).run_once() == 1
    assert len(calls) == 2 and len(channel.delivered) == 1
    assert (await message_states(sessionmaker))[message_id] == (DeliveryStatus.SENT, "")
