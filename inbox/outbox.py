"""The durable send queue.

A send writes the message and its `OutboxJob` in one transaction. A sender claims due jobs
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serializes writers), commits the claim as
`sending` with a lease, delivers, and records the outcome. A sender that dies mid-send leaves
the job `sending` past its lease; whoever claims it next asks the channel whether it went out
before sending again, so a crash neither loses the message nor sends it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.deliveries import do_record_outcomes
from inbox.events import commit_and_publish, record_event, staff_ids
from inbox.models import (
    Attachment,
    Channel,
    DeliveryStatus,
    Message,
    OutboxJob,
    OutboxState,
    RecipientStatus,
)
from inbox.ports import (
    Clock,
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

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    job_id: int
    message_id: int
    channel: Channel
    idempotency_key: str
    attempts: int
    interrupted: bool  # a previous sender held it and died mid-send


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
        interrupted = job.state is OutboxState.SENDING
        job.state = OutboxState.SENDING
        job.locked_by = worker
        job.locked_until = now + lease
        job.attempts += 0 if interrupted else 1
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
) -> tuple[list[dict[str, str]], str]:
    """Each recipient's outcome (the channel's word, else the message's) and the message error,
    which names the refused recipients of a message that otherwise went out."""
    message = await session.get(Message, message_id)
    assert message is not None
    recipients = message.recipients or {}
    if not results:
        everyone = [a for kind in ("to", "cc", "bcc") for a in recipients.get(kind, [])]
        results = tuple(RecipientResult(a, _RECIPIENT_STATUS[status], error) for a in everyone)
    outcomes = await do_record_outcomes(session, message_id, recipients, results, now)
    if status is DeliveryStatus.SENT and not error:
        refused = [r for r in results if r.status is not RecipientStatus.SENT]
        error = "; ".join(f"{r.address}: {r.detail}" for r in refused)
    payload = [
        {"address": o.address, "kind": o.kind, "status": o.status.value, "detail": o.detail}
        for o in outcomes
    ]
    return payload, error


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
        .values(state=state, last_error=error, locked_until=None, next_attempt_at=retry_at or now)
        .returning(OutboxJob.id)
    )
    if owned is None:
        log.warning("outbox job %s was taken over before its outcome was recorded", job.job_id)
        await session.rollback()
        return
    results = receipt.recipients if receipt is not None else recipients
    outcomes, error = await _record_recipients(session, job.message_id, status, error, results, now)
    values: dict[str, object] = {"status": status, "error": error}
    if status is DeliveryStatus.SENT:
        values["sent_at"] = now
        if receipt and receipt.external_id:
            values["external_id"] = receipt.external_id
    await session.execute(sa.update(Message).where(Message.id == job.message_id).values(**values))
    conversation_id = await session.scalar(
        sa.select(Message.conversation_id).where(Message.id == job.message_id)
    )
    await record_event(
        session,
        await staff_ids(session),
        "message.updated",
        {
            "conversation_id": conversation_id,
            "message_id": job.message_id,
            "status": status.value,
            "error": error,
            "recipients": outcomes,
        },
    )


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: ClaimedJob,
    channel: OutboundChannel,
    publisher: EventPublisher,
    clock: Clock,
    worker: str,
) -> DeliveryStatus:
    """Deliver one claimed job and record the outcome."""
    async with sessionmaker() as session:
        envelope = await load_envelope(session, job)
    receipt: DeliveryReceipt | None = None
    outcome: dict[str, object]
    try:
        if job.interrupted:
            found = await channel.find_delivery(job.idempotency_key)
            if isinstance(found, DeliveryReceipt):
                receipt = found
            elif found is DeliveryLookup.UNKNOWN:
                raise PermanentDeliveryError(
                    "The sender stopped mid-send and the channel cannot tell whether the message "
                    "went out; it was not sent again to avoid a duplicate."
                )
        if receipt is None:
            receipt = await channel.deliver(envelope)
        outcome = {"state": OutboxState.DONE, "status": DeliveryStatus.SENT, "receipt": receipt}
    except TransientDeliveryError as exc:
        if job.attempts >= MAX_ATTEMPTS:
            outcome = {
                "state": OutboxState.FAILED,
                "status": DeliveryStatus.FAILED,
                "error": f"gave up after {job.attempts} attempts: {exc}",
            }
        else:
            outcome = {
                "state": OutboxState.QUEUED,
                "status": DeliveryStatus.QUEUED,
                "error": f"deferred: {exc}",
                "retry_at": clock.now() + backoff(job.attempts),
                "recipients": exc.recipients,
            }
    except PermanentDeliveryError as exc:
        outcome = {
            "state": OutboxState.FAILED,
            "status": DeliveryStatus.FAILED,
            "error": str(exc),
            "recipients": exc.recipients,
        }
    async with sessionmaker() as session:
        await _finish(session, job, worker, clock.now(), **outcome)  # type: ignore[arg-type]
        await commit_and_publish(session, publisher)
    status = outcome["status"]
    assert isinstance(status, DeliveryStatus)
    return status


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
        """Claim and deliver one batch; the number of jobs handled."""
        async with self.sessionmaker() as session:
            jobs = await claim_due(session, self.worker, self.clock.now(), lease=self.lease)
        for job in jobs:
            await process(
                self.sessionmaker,
                job,
                self.channels[job.channel],
                self.publisher,
                self.clock,
                self.worker,
            )
        return len(jobs)

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
