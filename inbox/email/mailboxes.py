"""Watched mailboxes: the lease that lets exactly one process read a mailbox, how far it has
been read (UIDVALIDITY + last UID), and ingesting a batch of its mail.

Progress is written in the transaction that stores the batch, and only while this process still
holds the lease, so a crash or a take-over mid-batch neither loses nor duplicates mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.attachments import AttachmentStore
from inbox.core.ports import StoredEvent
from inbox.email.models import InboundFailure, Mailbox
from inbox.email.placement import ThreadingContext, do_receive_email, do_receive_emails
from inbox.email.schemas import InboundMessage
from inbox.events.log import drop_events_since, event_batch, event_mark, flush_events

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cursor:
    uidvalidity: int
    last_uid: int


class LeaseLost(Exception):
    """Another process took the mailbox over; this one must stop and roll back."""


def _held_by(name: str, holder: str, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        Mailbox.name == name,
        sa.or_(Mailbox.holder == holder, Mailbox.lease_until.is_(None), Mailbox.lease_until < now),
    )


async def do_acquire_lease(
    session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta
) -> Cursor | None:
    """Take the mailbox's lease, or renew it; the cursor when this holder has it, None while
    another holder's lease runs."""
    row = (
        await session.execute(
            sa.update(Mailbox)
            .where(_held_by(name, holder, now))
            .values(holder=holder, lease_until=now + ttl, updated_at=now)
            .returning(Mailbox.uidvalidity, Mailbox.last_uid)
        )
    ).first()
    if row is not None:
        return Cursor(row[0], row[1])
    if await session.get(Mailbox, name) is not None:
        return None
    try:
        async with session.begin_nested():
            session.add(
                Mailbox(
                    name=name,
                    holder=holder,
                    lease_until=now + ttl,
                    uidvalidity=0,
                    last_uid=0,
                    updated_at=now,
                )
            )
    except IntegrityError:
        return None  # another process created it first, and holds it
    return Cursor(0, 0)


async def do_release_lease(session: AsyncSession, name: str, holder: str) -> None:
    """Give the lease up at once (a clean shutdown), so another process need not wait."""
    await session.execute(
        sa.update(Mailbox)
        .where(Mailbox.name == name, Mailbox.holder == holder)
        .values(holder="", lease_until=None)
    )


async def do_record_progress(
    session: AsyncSession,
    name: str,
    holder: str,
    cursor: Cursor,
    now: datetime,
    ttl: timedelta,
) -> None:
    """Advance the cursor and renew the lease; raises LeaseLost when another holder has it."""
    updated = await session.scalar(
        sa.update(Mailbox)
        .where(Mailbox.name == name, Mailbox.holder == holder)
        .values(
            uidvalidity=cursor.uidvalidity,
            last_uid=cursor.last_uid,
            lease_until=now + ttl,
            updated_at=now,
        )
        .returning(Mailbox.name)
    )
    if updated is None:
        raise LeaseLost(f"{name} is now held by another process")


async def get_cursor(session: AsyncSession, name: str) -> Cursor | None:
    row = await session.get(Mailbox, name, populate_existing=True)
    return None if row is None else Cursor(row.uidvalidity, row.last_uid)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    # The batch's events, to publish once its transaction has committed.
    events: list[StoredEvent] = field(default_factory=list)


async def _keep_failure(
    session: AsyncSession, mailbox: str, inbound: InboundMessage, error: str
) -> None:
    header = inbound.message_id_header or ""
    exists = await session.scalar(
        sa.select(InboundFailure.id).where(InboundFailure.message_id_header == header)
    )
    if exists is None:
        session.add(
            InboundFailure(mailbox=mailbox, message_id_header=header, error=error, raw=inbound.raw)
        )
        await session.flush()


async def _ingest_one_by_one(
    session: AsyncSession,
    mailbox: str,
    batch: Sequence[tuple[int, InboundMessage]],
    context: ThreadingContext,
    store: AttachmentStore,
    timings: dict[str, float] | None,
) -> IngestResult:
    result = IngestResult()
    for uid, inbound in batch:
        mark = event_mark(session)
        try:
            async with session.begin_nested():
                read = await do_receive_email(
                    session, inbound, context=context, store=store, timings=timings
                )
            result.stored += read is not None
            result.duplicates += read is None
        except Exception as exc:
            drop_events_since(session, mark)  # the savepoint's events went with it
            log.warning("mail uid %s of %s kept raw: %s", uid, mailbox, exc)
            async with session.begin_nested():
                await _keep_failure(session, mailbox, inbound, f"{type(exc).__name__}: {exc}")
            result.failed += 1
    return result


async def do_ingest(
    session: AsyncSession,
    mailbox: str,
    holder: str,
    batch: Sequence[tuple[int, InboundMessage]],
    cursor: Cursor,
    *,
    context: ThreadingContext,
    store: AttachmentStore,
    now: datetime,
    ttl: timedelta,
    timings: dict[str, float] | None = None,
) -> IngestResult:
    """Store a batch of fetched mail and advance the cursor past it. When any message fails,
    the batch is redone with a savepoint per message: the one that fails is kept raw in
    `inbound_failure` and the rest go on; so the session must hold nothing else uncommitted.
    The caller commits, then publishes `events`."""
    result = IngestResult()
    try:
        # Most batches are all good mail: store them without a savepoint per message, with
        # the threading look-ups read for the whole batch and the rows and events written
        # together.
        async with event_batch(session):
            reads = await do_receive_emails(
                session,
                [inbound for _, inbound in batch],
                context=context,
                store=store,
                timings=timings,
            )
        result.stored = sum(read is not None for read in reads)
        result.duplicates = len(reads) - result.stored
    except Exception:
        await session.rollback()
        result = await _ingest_one_by_one(session, mailbox, batch, context, store, timings)
    last_uid = max([cursor.last_uid, *(uid for uid, _ in batch)])
    await do_record_progress(
        session, mailbox, holder, Cursor(cursor.uidvalidity, last_uid), now, ttl
    )
    # The last write: the events take their numbers (and the counters' locks) just before
    # the caller commits.
    result.events = await flush_events(session)
    return result
