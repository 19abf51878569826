"""Inbound texts, placed in the background the way the IMAP watcher places mail.

The webhook only verifies the provider's signature, keeps the form as it came (`inbound_sms`,
one row per provider id, so a retried webhook is the same row) and answers. A placer then
threads each text, fetching its MMS media first, in a transaction of its own:

- Durable: the row is committed before the webhook answers, and it stays `pending` until the
  transaction that records the message also marks it `placed`. A crash anywhere in between
  leaves it pending, and the next placer to claim it places it.
- Claimed with a lease: a placer claims a batch of due rows (`FOR UPDATE SKIP LOCKED` on
  PostgreSQL; SQLite serializes writers) and commits the claim. A row whose claim lapsed (its
  placer died) is claimed again by any placer.
- Once: the placing transaction marks the row placed only while the claim is still this
  placer's and the row still pending; a placer whose lease lapsed and was taken over places
  nothing. A message's provider id is unique besides, so a text is recorded once whatever
  happens (a late retry of a text whose row was pruned is absorbed as a duplicate).
- Retried: media that could not be fetched for a passing reason (a timeout, a 5xx) is fetched
  again with backoff, up to MEDIA_ATTEMPTS claims; after that the text is placed without it and
  the message says which media it lacks and why. A placing transaction that fails is retried
  up to PLACE_ATTEMPTS claims, then the row is `failed` with the error, kept raw.
- In order per number: a row is not claimed while an earlier row from the same number is
  pending, so "STOP" then "START" are applied in the order they came, by any number of placers.

Consent keywords act when the text is placed (`do_receive_sms`), in the placing transaction, so
an opt-out is recorded exactly once. Events go out after that transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from inbox.conversations.attachments import AttachmentStore
from inbox.conversations.models import Message
from inbox.core.db import dialect_insert
from inbox.core.ports import Clock, EventPublisher
from inbox.core.transactions import run_in_transaction
from inbox.sms.messages import InboundSms, SmsMedia, do_receive_sms
from inbox.sms.models import InboundSmsRequest, InboundSmsState

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
# Claims of one text that may end in "fetch its media again later"; the last places it without.
MEDIA_ATTEMPTS = 4
# Claims of one text before a placing error leaves it `failed`.
PLACE_ATTEMPTS = 10
# Placed rows are kept this long (a provider retries a webhook for hours, not days).
KEEP_PLACED = timedelta(days=30)


class InboundSmsProvider(Protocol):
    """What the placer needs of the provider that sent the webhook."""

    def parse_inbound(self, params: Mapping[str, str]) -> InboundSms:
        """The text a webhook's form describes, its media not fetched yet."""
        ...

    async def fetch_media(self, media: SmsMedia) -> SmsMedia:
        """The media with its bytes, or with why not (`transient` when worth another try)."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimedSms:
    id: int
    sid: str
    params: dict[str, str]
    attempts: int
    received_at: datetime


def backoff(attempts: int) -> timedelta:
    """About 5 s, 10 s, 20 s ... capped at ten minutes, with jitter."""
    base = min(600.0, 5.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy


async def do_accept_inbound_sms(
    session: AsyncSession, sid: str, from_number: str, params: Mapping[str, str], now: datetime
) -> bool:
    """Keep a verified webhook's form to be placed; False when this text is already kept or
    recorded (the provider retried). Safe against the same webhook arriving twice at once."""
    if await session.scalar(sa.select(Message.id).where(Message.external_id == sid)) is not None:
        return False
    kept = await session.scalar(
        dialect_insert(session)(InboundSmsRequest)
        .values(
            sid=sid,
            from_number=from_number[:100],
            params=dict(params),
            state=InboundSmsState.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_by="",
            error="",
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["sid"])
        .returning(InboundSmsRequest.id)
    )
    return kept is not None


async def claim_inbound_sms(
    session: AsyncSession, worker: str, now: datetime, *, limit: int = 10, lease: timedelta = LEASE
) -> list[ClaimedSms]:
    """Claim due texts for this placer, at most one per number (its oldest pending), and commit
    the claim. Each claim counts as an attempt; a text whose placers kept dying while they held
    it (PLACE_ATTEMPTS claims) is left `failed` instead."""
    row = InboundSmsRequest
    earlier = aliased(InboundSmsRequest)
    query = (
        sa.select(row)
        .where(
            row.state == InboundSmsState.PENDING,
            row.next_attempt_at <= now,
            sa.or_(row.claimed_until.is_(None), row.claimed_until < now),
            ~sa.exists().where(
                earlier.from_number == row.from_number,
                earlier.id < row.id,
                earlier.state == InboundSmsState.PENDING,
            ),
        )
        .order_by(row.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=row)
    claimed = []
    for found in await session.scalars(query):
        if found.attempts >= PLACE_ATTEMPTS:
            # Its placers kept stopping while they held it (a crash it causes, say).
            found.state = InboundSmsState.FAILED
            found.error = f"given up: its placer stopped {found.attempts} times. {found.error}"
            continue
        found.claimed_by = worker
        found.claimed_until = now + lease
        found.attempts += 1
        claimed.append(
            ClaimedSms(found.id, found.sid, dict(found.params), found.attempts, found.received_at)
        )
    await session.commit()
    return claimed


def _still_mine(claim: ClaimedSms, worker: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        InboundSmsRequest.id == claim.id,
        InboundSmsRequest.claimed_by == worker,
        InboundSmsRequest.state == InboundSmsState.PENDING,
    )


async def do_place_inbound_sms(
    session: AsyncSession,
    claim: ClaimedSms,
    sms: InboundSms,
    worker: str,
    now: datetime,
    *,
    store: AttachmentStore,
    region: str,
    help_reply: str,
    note: str = "",
) -> bool:
    """Record the text (with its fetched media) and mark its row placed, if the claim is still
    this placer's; False, with nothing done, when another placer took it over."""
    owned = await session.scalar(
        sa.update(InboundSmsRequest)
        .where(_still_mine(claim, worker))
        .values(state=InboundSmsState.PLACED, placed_at=now, claimed_until=None, error=note)
        .returning(InboundSmsRequest.id)
    )
    if owned is None:
        return False
    read = await do_receive_sms(session, sms, store=store, region=region, help_reply=help_reply)
    if read is not None:
        await session.execute(
            sa.update(InboundSmsRequest)
            .where(InboundSmsRequest.id == claim.id)
            .values(message_id=read.id)
        )
    return True


async def defer_inbound_sms(
    session: AsyncSession,
    claim: ClaimedSms,
    worker: str,
    now: datetime,
    error: str,
    *,
    give_up: bool = False,
) -> bool:
    """Try the text again after a backoff (or, with `give_up`, leave it `failed`), if the claim
    is still this placer's; commits. False when another placer took it over."""
    values: dict[str, Any] = {"claimed_by": "", "claimed_until": None, "error": error}
    if give_up:
        values["state"] = InboundSmsState.FAILED
    else:
        values["next_attempt_at"] = now + backoff(claim.attempts)
    owned = await session.scalar(
        sa.update(InboundSmsRequest)
        .where(_still_mine(claim, worker))
        .values(**values)
        .returning(InboundSmsRequest.id)
    )
    await session.commit()
    return owned is not None


async def release_inbound_sms(
    session: AsyncSession, claims: Sequence[ClaimedSms], worker: str
) -> None:
    """Give back claims this placer will not get to (it is stopping): due again at once, with
    the attempt each claim counted given back."""
    if claims:
        await session.execute(
            sa.update(InboundSmsRequest)
            .where(
                InboundSmsRequest.id.in_([c.id for c in claims]),
                InboundSmsRequest.claimed_by == worker,
                InboundSmsRequest.state == InboundSmsState.PENDING,
            )
            .values(
                claimed_by="",
                claimed_until=None,
                attempts=sa.case(
                    (InboundSmsRequest.attempts > 0, InboundSmsRequest.attempts - 1), else_=0
                ),
            )
        )
    await session.commit()


async def do_prune_inbound_sms(session: AsyncSession, older_than: datetime) -> int:
    """Drop the raw forms of texts placed before `older_than` (failed ones stay, to be seen)."""
    result = await session.execute(
        sa.delete(InboundSmsRequest).where(
            InboundSmsRequest.state == InboundSmsState.PLACED,
            InboundSmsRequest.placed_at < older_than,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _media_problems(media: Sequence[SmsMedia]) -> str:
    return "; ".join(
        f"media {n} of {len(media)}: {item.error or 'not fetched'}"
        for n, item in enumerate(media, start=1)
        if item.data is None
    )


class SmsPlacer:
    """The loop that places inbound texts. `wake()` makes it look at once (the webhook calls it
    after its commit, so a text is placed within milliseconds in one process; other processes
    see it at their next poll)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        provider: InboundSmsProvider,
        publisher: EventPublisher,
        clock: Clock,
        worker: str,
        *,
        store: AttachmentStore,
        region: str,
        help_reply: str,
        on_queued: Callable[[], None] | None = None,
        lease: timedelta = LEASE,
        poll_interval: float = 2.0,
        limit: int = 10,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.provider = provider
        self.publisher = publisher
        self.clock = clock
        self.worker = worker
        self.store = store
        self.region = region
        self.help_reply = help_reply
        # Told when placing queued a message (the HELP reply): wakes the sender.
        self.on_queued = on_queued
        self.lease = lease
        self.poll_interval = poll_interval
        self.limit = limit
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim a batch, fetch every text's media at once, then place (or defer) each text;
        the number of texts handled. Stopped (cancelled) or failing, it gives back the claims
        it did not settle, so they need not wait for their lease."""
        async with self.sessionmaker() as session:
            claims = await claim_inbound_sms(
                session, self.worker, self.clock.now(), limit=self.limit, lease=self.lease
            )
        unsettled = list(claims)
        try:
            fetched = await asyncio.gather(*(self._fetch(claim) for claim in claims))
            for claim, sms in zip(claims, fetched, strict=True):
                await self._settle(claim, sms)
                unsettled.remove(claim)
        except BaseException:
            with contextlib.suppress(Exception):
                async with self.sessionmaker() as session:
                    await release_inbound_sms(session, unsettled, self.worker)
            raise
        return len(claims)

    async def _fetch(self, claim: ClaimedSms) -> InboundSms | Exception:
        """The text with its media fetched (all at once, within half the lease); never raises."""
        try:
            sms = self.provider.parse_inbound(claim.params)
        except Exception as exc:
            return exc
        budget = self.lease.total_seconds() / 2

        async def fetch(media: SmsMedia) -> SmsMedia:
            try:
                return await asyncio.wait_for(self.provider.fetch_media(media), budget)
            except TimeoutError:
                return msgspec.structs.replace(
                    media, error=f"not fetched within {budget:g} s", transient=True
                )
            except Exception as exc:
                return msgspec.structs.replace(media, error=repr(exc), transient=True)

        media = tuple(await asyncio.gather(*(fetch(m) for m in sms.media)))
        return msgspec.structs.replace(sms, media=media, received_at=claim.received_at)

    async def _settle(self, claim: ClaimedSms, sms: InboundSms | Exception) -> None:
        if isinstance(sms, Exception):
            await self._defer(claim, f"could not read the webhook: {sms!r}")
            return
        waiting = [m for m in sms.media if m.data is None and m.transient]
        if waiting and claim.attempts < MEDIA_ATTEMPTS:
            await self._defer(claim, _media_problems(sms.media))
            return
        if waiting:
            gave_up = f" (gave up after {claim.attempts} attempts)"
            media = tuple(
                msgspec.structs.replace(m, error=m.error + gave_up) if m in waiting else m
                for m in sms.media
            )
            sms = msgspec.structs.replace(sms, media=media)
        note = _media_problems(sms.media)

        async def place(session: AsyncSession) -> tuple[bool, bool]:
            placed = await do_place_inbound_sms(
                session,
                claim,
                sms,
                self.worker,
                self.clock.now(),
                store=self.store,
                region=self.region,
                help_reply=self.help_reply,
                note=note,
            )
            return placed, bool(session.info.pop("inbox.queued", False))

        try:
            placed, queued = await run_in_transaction(self.sessionmaker, place, self.publisher)
        except Exception as exc:
            log.exception("placing inbound text %s failed", claim.sid)
            await self._defer(claim, f"{type(exc).__name__}: {exc}")
            return
        if not placed:
            log.warning("inbound text %s was taken over by another placer", claim.sid)
        elif queued and self.on_queued is not None:
            self.on_queued()

    async def _defer(self, claim: ClaimedSms, error: str) -> None:
        give_up = claim.attempts >= PLACE_ATTEMPTS
        async with self.sessionmaker() as session:
            owned = await defer_inbound_sms(
                session, claim, self.worker, self.clock.now(), error, give_up=give_up
            )
        if owned and give_up:
            log.error(
                "inbound text %s failed after %d attempts: %s", claim.sid, claim.attempts, error
            )

    async def run(self) -> None:
        """Forever, until cancelled. Errors are logged and retried; the table is the truth."""
        while True:
            self._wake.clear()  # before the pass: a wake during it means "look again"
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("inbound text pass failed; retrying")
                handled = 0
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
