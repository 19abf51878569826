"""The durable send queue.

A send writes the message and its `OutboxJob` in one transaction. A sender claims a batch of
due jobs (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serializes writers) and commits the
claim as `sending` with a lease. Then, one job at a time, it commits `handing_over_at` just
before the one step that may deliver the message (SMTP: DATA, after the connection, MAIL and
RCPT went well; a channel without such a step: just before `deliver`), hands it over, and
commits the outcome, which clears the mark.

A sender that dies leaves its jobs `sending` past their lease, and whoever claims them next
tells them apart by the mark: without it a job was claimed but never handed over, and is sent
as usual; with it the message may have gone out, and the channel is asked (the sandbox and
any channel with an idempotency key can say; SMTP cannot, and that message is failed with a
reason rather than risk a duplicate). A killed sender therefore leaves at most one message
unknown, the one in its hands, and loses or doubles none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations.models import Attachment, Channel, DeliveryStatus, Message
from inbox.core.ports import (
    Clock,
    DeliveryError,
    DeliveryLookup,
    DeliveryReceipt,
    EventPublisher,
    OutboundAttachment,
    OutboundChannel,
    OutboundEnvelope,
    PermanentDeliveryError,
    RecipientResult,
    TransientDeliveryError,
)
from inbox.events.log import commit_and_publish
from inbox.outbox.announce import announce_message_updated
from inbox.outbox.deliveries import do_record_outcomes
from inbox.outbox.models import OutboxJob, OutboxState, RecipientStatus

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
# Recording an outcome is retried this many times on a database error (a deadlock, a dropped
# connection): a delivered message left `sending` would later be taken for an unknown one.
FINISH_TRIES = 5

HAND_OVER_UNKNOWN = (
    "The sender stopped while handing this message over, and the channel cannot tell whether "
    "it went out; it was not sent again, to avoid a duplicate. Check before resending."
)

# Called by a channel just before the step that may deliver the message; it raises
# `TakenOver` if the job is no longer this sender's, and the channel must then not go on.
HandOver = Callable[[], Awaitable[None]]


@runtime_checkable
class StagedChannel(Protocol):
    """A channel whose delivery prepares before it hands over (SMTP: connect, MAIL, RCPT, then
    DATA). It calls `hand_over()` right before that step, so a crash while preparing leaves the
    message surely unsent, to be sent again without asking."""

    async def deliver_staged(
        self, envelope: OutboundEnvelope, hand_over: HandOver
    ) -> DeliveryReceipt: ...


class TakenOver(Exception):
    """The job's lease ran out and another sender claimed it: leave it to that one."""


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    job_id: int
    message_id: int
    channel: Channel
    idempotency_key: str
    attempts: int
    # A previous sender died while handing it over (after committing `handing_over_at`).
    interrupted: bool


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 10 s, 20 s, 40 s ... capped at an hour."""
    base = min(3600.0, 10.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy


async def claim_due(
    session: AsyncSession, worker: str, now: datetime, *, limit: int = 10, lease: timedelta = LEASE
) -> list[ClaimedJob]:
    """Claim due jobs for this worker and commit the claim."""
    due = sa.or_(
        sa.and_(OutboxJob.state == OutboxState.QUEUED, OutboxJob.next_attempt_at <= now),
        sa.and_(OutboxJob.state == OutboxState.SENDING, OutboxJob.locked_until < now),
    )
    query = sa.select(OutboxJob).where(due).order_by(OutboxJob.id).limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    jobs = list(await session.scalars(query))
    claimed = []
    for job in jobs:
        # A lapsed claim is no new attempt; whether it was handed over decides what it needs.
        lapsed = job.state is OutboxState.SENDING
        interrupted = lapsed and job.handing_over_at is not None
        job.state = OutboxState.SENDING
        job.locked_by = worker
        job.locked_until = now + lease
        job.attempts += 0 if lapsed else 1
        claimed.append(
            ClaimedJob(
                job.id, job.message_id, job.channel, job.idempotency_key, job.attempts, interrupted
            )
        )
    if claimed:
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_([c.message_id for c in claimed]))
            .values(status=DeliveryStatus.SENDING)
        )
    await session.commit()
    return claimed


async def start_hand_over(
    session: AsyncSession, job: ClaimedJob, worker: str, now: datetime, lease: timedelta = LEASE
) -> None:
    """Commit that this job's message is being handed over, with a fresh lease, if the job is
    still this sender's; raise `TakenOver` otherwise."""
    owned = await session.scalar(
        sa.update(OutboxJob)
        .where(
            OutboxJob.id == job.job_id,
            OutboxJob.locked_by == worker,
            OutboxJob.state == OutboxState.SENDING,
        )
        .values(handing_over_at=now, locked_until=now + lease)
        .returning(OutboxJob.id)
    )
    await session.commit()
    if owned is None:
        raise TakenOver(f"outbox job {job.job_id} was claimed by another sender")


async def release(
    session: AsyncSession, jobs: Sequence[ClaimedJob], worker: str, now: datetime
) -> None:
    """Give back claimed jobs this sender will not get to (it is stopping): each is due again
    at once, with the attempt its claim counted given back, unless its hand-over began, which
    only a later claim may sort out."""
    if not jobs:
        return
    ids = [job.job_id for job in jobs]
    released = list(
        await session.scalars(
            sa.update(OutboxJob)
            .where(
                OutboxJob.id.in_(ids),
                OutboxJob.locked_by == worker,
                OutboxJob.state == OutboxState.SENDING,
                OutboxJob.handing_over_at.is_(None),
            )
            .values(
                state=OutboxState.QUEUED,
                locked_until=None,
                next_attempt_at=now,
                attempts=sa.case((OutboxJob.attempts > 0, OutboxJob.attempts - 1), else_=0),
            )
            .returning(OutboxJob.message_id)
        )
    )
    if released:
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(released), Message.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.QUEUED)
        )
    await session.commit()


async def load_envelope(session: AsyncSession, job: ClaimedJob) -> OutboundEnvelope:
    message = await session.get(Message, job.message_id)
    assert message is not None
    recipients = message.recipients or {}
    headers = {}
    if message.message_id_header:
        headers["Message-ID"] = message.message_id_header
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
    if message.references:
        headers["References"] = message.references
    files = await session.scalars(
        sa.select(Attachment).where(Attachment.message_id == message.id).order_by(Attachment.id)
    )
    return OutboundEnvelope(
        message_id=message.id,
        idempotency_key=job.idempotency_key,
        channel=message.channel,
        to=tuple(recipients.get("to", [])),
        cc=tuple(recipients.get("cc", [])),
        bcc=tuple(recipients.get("bcc", [])),
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        from_name=message.author_name,
        from_address=message.author_address,
        headers=headers,
        reply_to=message.reply_to,
        attachments=tuple(
            OutboundAttachment(f.filename, f.content_type, f.size, f.storage_key) for f in files
        ),
    )


_RECIPIENT_STATUS = {
    DeliveryStatus.SENT: RecipientStatus.SENT,
    DeliveryStatus.QUEUED: RecipientStatus.DEFERRED,
    DeliveryStatus.FAILED: RecipientStatus.FAILED,
}


async def _record_recipients(
    session: AsyncSession,
    message_id: int,
    status: DeliveryStatus,
    error: str,
    results: tuple[RecipientResult, ...],
    now: datetime,
) -> str:
    """Record each recipient's outcome (the channel's word, else the message's); returns the
    message error, which names the refused recipients of a message that otherwise went out."""
    message = await session.get(Message, message_id)
    assert message is not None
    recipients = message.recipients or {}
    if not results:
        everyone = [a for kind in ("to", "cc", "bcc") for a in recipients.get(kind, [])]
        results = tuple(RecipientResult(a, _RECIPIENT_STATUS[status], error) for a in everyone)
    await do_record_outcomes(session, message_id, recipients, results, now)
    if status is DeliveryStatus.SENT and not error:
        refused = [r for r in results if r.status is not RecipientStatus.SENT]
        error = "; ".join(f"{r.address}: {r.detail}" for r in refused)
    return error


async def _finish(
    session: AsyncSession,
    job: ClaimedJob,
    worker: str,
    now: datetime,
    *,
    state: OutboxState,
    status: DeliveryStatus,
    error: str = "",
    receipt: DeliveryReceipt | None = None,
    retry_at: datetime | None = None,
    recipients: tuple[RecipientResult, ...] = (),
) -> None:
    """Record an outcome, unless another sender took the job over meanwhile (lease expired)."""
    owned = await session.scalar(
        sa.update(OutboxJob)
        .where(
            OutboxJob.id == job.job_id,
            OutboxJob.locked_by == worker,
            OutboxJob.state == OutboxState.SENDING,
        )
        .values(
            state=state,
            last_error=error,
            locked_until=None,
            next_attempt_at=retry_at or now,
            handing_over_at=None,
        )
        .returning(OutboxJob.id)
    )
    if owned is None:
        log.warning("outbox job %s was taken over before its outcome was recorded", job.job_id)
        await session.rollback()
        return
    results = receipt.recipients if receipt is not None else recipients
    error = await _record_recipients(session, job.message_id, status, error, results, now)
    values: dict[str, object] = {"status": status, "error": error}
    if status is DeliveryStatus.SENT:
        values["sent_at"] = now
        if receipt and receipt.external_id:
            values["external_id"] = receipt.external_id
    await session.execute(sa.update(Message).where(Message.id == job.message_id).values(**values))
    await announce_message_updated(session, job.message_id)


async def _deliver(
    job: ClaimedJob, envelope: OutboundEnvelope, channel: OutboundChannel, hand_over: HandOver
) -> DeliveryReceipt:
    """Hand the message over, marking the hand-over first; after a crash in someone else's
    hand-over, ask the channel before sending again."""
    if job.interrupted:
        found = await channel.find_delivery(job.idempotency_key)
        if isinstance(found, DeliveryReceipt):
            return found
        if found is DeliveryLookup.UNKNOWN:
            raise PermanentDeliveryError(HAND_OVER_UNKNOWN)
    if isinstance(channel, StagedChannel):
        return await channel.deliver_staged(envelope, hand_over)
    await hand_over()
    return await channel.deliver(envelope)


def _outcome(job: ClaimedJob, clock: Clock, exc: DeliveryError | None) -> dict[str, object]:
    if exc is None:
        return {"state": OutboxState.DONE, "status": DeliveryStatus.SENT}
    if isinstance(exc, TransientDeliveryError) and job.attempts < MAX_ATTEMPTS:
        return {
            "state": OutboxState.QUEUED,
            "status": DeliveryStatus.QUEUED,
            "error": f"deferred: {exc}",
            "retry_at": clock.now() + backoff(job.attempts),
            "recipients": exc.recipients,
        }
    if isinstance(exc, TransientDeliveryError):
        return {
            "state": OutboxState.FAILED,
            "status": DeliveryStatus.FAILED,
            "error": f"gave up after {job.attempts} attempts: {exc}",
        }
    return {
        "state": OutboxState.FAILED,
        "status": DeliveryStatus.FAILED,
        "error": str(exc),
        "recipients": exc.recipients,
    }


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: ClaimedJob,
    channel: OutboundChannel,
    publisher: EventPublisher,
    clock: Clock,
    worker: str,
    lease: timedelta = LEASE,
) -> DeliveryStatus | None:
    """Deliver one claimed job and record the outcome; None if another sender took it over
    before its hand-over began."""
    async with sessionmaker() as session:
        envelope = await load_envelope(session, job)

    async def hand_over() -> None:
        async with sessionmaker() as session:
            await start_hand_over(session, job, worker, clock.now(), lease)

    receipt: DeliveryReceipt | None = None
    error: DeliveryError | None = None
    try:
        receipt = await _deliver(job, envelope, channel, hand_over)
    except TakenOver as exc:
        log.warning("%s; it is left to that one", exc)
        return None
    except DeliveryError as exc:
        error = exc
    outcome = _outcome(job, clock, error)
    await _record(sessionmaker, job, publisher, clock, worker, {**outcome, "receipt": receipt})
    status = outcome["status"]
    assert isinstance(status, DeliveryStatus)
    return status


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: ClaimedJob,
    publisher: EventPublisher,
    clock: Clock,
    worker: str,
    outcome: dict[str, object],
) -> None:
    """Commit the outcome, retrying a database error: the channel's answer is known only here,
    and a delivered message left `sending` would be failed as unknown after its lease."""
    for attempt in range(1, FINISH_TRIES + 1):
        try:
            async with sessionmaker() as session:
                await _finish(session, job, worker, clock.now(), **outcome)  # type: ignore[arg-type]
                await commit_and_publish(session, publisher)
            return
        except sa.exc.DBAPIError as exc:
            if attempt == FINISH_TRIES:
                raise
            log.warning(
                "recording the outcome of outbox job %s failed (%s); retrying", job.job_id, exc
            )
            await asyncio.sleep(0.05 * 2**attempt)


class Sender:
    """The loop that drains the send queue. `wake()` makes it look at once."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        channels: Mapping[Channel, OutboundChannel],
        publisher: EventPublisher,
        clock: Clock,
        worker: str,
        *,
        poll_interval: float = 2.0,
        lease: timedelta = LEASE,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.channels = channels
        self.publisher = publisher
        self.clock = clock
        self.worker = worker
        self.poll_interval = poll_interval
        self.lease = lease
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and deliver one batch, one job after the other; the number of jobs handled.

        Cancelled (the process is stopping), it lets the job in hand finish and be recorded,
        so a restart leaves no message unknown, and gives the rest of the batch back. On an
        error it gives back the rest as well, so they need not wait for their lease."""
        async with self.sessionmaker() as session:
            jobs = await claim_due(session, self.worker, self.clock.now(), lease=self.lease)
        for index, job in enumerate(jobs):
            step = asyncio.ensure_future(self._process(job))
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await step
                await self._release(jobs[index + 1 :])
                raise
            except Exception:
                await self._release(jobs[index:])
                raise
        return len(jobs)

    async def _process(self, job: ClaimedJob) -> DeliveryStatus | None:
        channel = self.channels[job.channel]
        return await process(
            self.sessionmaker, job, channel, self.publisher, self.clock, self.worker, self.lease
        )

    async def _release(self, jobs: Sequence[ClaimedJob]) -> None:
        try:
            async with self.sessionmaker() as session:
                await release(session, jobs, self.worker, self.clock.now())
        except Exception:
            # They come back when their lease runs out.
            log.exception("could not give back %d claimed outbox jobs", len(jobs))

    async def run(self) -> None:
        """Forever, until cancelled. Errors are logged and retried; the queue is the truth."""
        while True:
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("send queue pass failed; retrying")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
