"""SMS consent and text capability.

Consent is an append-only ledger per prospect (who or what changed it, when, from which source);
the latest entry is the prospect's consent. With their numbers it gives the SMS status: green
(opted in and a number that takes texts), red (opted out, whatever the number) or grey (opted in
without such a number, or consent unknown). Only green may be texted.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.contacts.models import PhoneKind, Prospect, ProspectPhone
from inbox.contacts.phones import can_text_by_type, line_type, parse_phone
from inbox.core.access import Actor, check_staff
from inbox.core.model import utcnow
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    EventPublisher,
    OutboundChannel,
    OutboundEnvelope,
    PermanentDeliveryError,
)
from inbox.errors import NotFound
from inbox.events.log import commit_and_publish, record_event, staff_ids
from inbox.events.types import ProspectUpdated
from inbox.sms.models import PhoneLookup, SmsConsent, SmsConsentChange


class SmsStatus(enum.StrEnum):
    GREEN = "green"
    RED = "red"
    GREY = "grey"


# Matched against the whole message, in any case, ignoring surrounding whitespace and the
# punctuation people put around a word ("Stop.", "STOP!", "'stop'"), as carriers do.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP"})
Keyword = Literal["stop", "start", "help"]
# What may surround the word: whitespace, punctuation, symbols and emoji (any non-word run).
_SURROUNDING = re.compile(r"^[\W_]+|[\W_]+$")


def keyword_of(body: str) -> Keyword | None:
    """The consent keyword a text consists of, if it is one."""
    word = " ".join(_SURROUNDING.sub("", body).split()).upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


class RecipientOptedOut(PermanentDeliveryError):
    """The provider refused the text because the recipient unsubscribed (Twilio 21610)."""


class PhoneCapability(msgspec.Struct, kw_only=True):
    kind: PhoneKind
    e164: str
    line_type: str
    can_text: bool
    source: Literal["type", "lookup"]


class ConsentEntry(msgspec.Struct, kw_only=True):
    id: int
    consent: SmsConsent
    source: str
    actor_account_id: int | None
    phone_e164: str
    detail: str
    created_at: datetime


class SmsStatusRead(msgspec.Struct, kw_only=True):
    prospect_id: int
    status: SmsStatus
    reason: str
    consent: Literal["opted_in", "opted_out", "unknown"]
    # The number a text would go to; None unless the status is green.
    recipient: str | None
    phones: list[PhoneCapability]
    history: list[ConsentEntry]


class ConsentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    consent: SmsConsent
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class PhoneLookupCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    can_text: bool
    line_type: Annotated[str, msgspec.Meta(max_length=50)] = ""


class PhoneLookupRead(msgspec.Struct, kw_only=True):
    e164: str
    can_text: bool
    line_type: str
    source: str
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a prospect may be texted, why, and at which number."""

    status: SmsStatus
    reason: str
    recipient: str | None
    phones: list[PhoneCapability]
    latest: SmsConsentChange | None


async def phone_capabilities(session: AsyncSession, prospect: Prospect) -> list[PhoneCapability]:
    """Each of the prospect's numbers with whether it takes texts: a stored lookup wins over
    the number's type."""
    numbers = [p.e164 for p in prospect.phones]
    lookups = {
        row.e164: row
        for row in await session.scalars(
            sa.select(PhoneLookup).where(PhoneLookup.e164.in_(numbers))
        )
    }
    out = []
    for phone in prospect.phones:
        found = lookups.get(phone.e164)
        if found is not None:
            capability = PhoneCapability(
                kind=phone.kind,
                e164=phone.e164,
                line_type=found.line_type or line_type(phone.e164),
                can_text=found.can_text,
                source="lookup",
            )
        else:
            labelled_mobile = phone.kind is PhoneKind.MOBILE
            capability = PhoneCapability(
                kind=phone.kind,
                e164=phone.e164,
                line_type=line_type(phone.e164),
                can_text=can_text_by_type(phone.e164, labelled_mobile=labelled_mobile),
                source="type",
            )
        out.append(capability)
    return out


async def latest_consent(session: AsyncSession, prospect_id: int) -> SmsConsentChange | None:
    row: SmsConsentChange | None = await session.scalar(
        sa.select(SmsConsentChange)
        .where(SmsConsentChange.prospect_id == prospect_id)
        .order_by(SmsConsentChange.id.desc())
        .limit(1)
    )
    return row


def _how(entry: SmsConsentChange) -> str:
    when = entry.created_at.strftime("%Y-%m-%d")
    what = {
        "keyword": "by texting",
        "manual": "set by hand",
        "provider": "reported by the provider",
    }
    how = what.get(entry.source, f"from {entry.source}")
    return f"{how}{f' {entry.detail}' if entry.detail else ''}, {when}"


async def sms_verdict(session: AsyncSession, prospect: Prospect) -> Verdict:
    """The prospect's SMS status with its reason; the recipient is the first number that takes
    texts, one filed as mobile first."""
    phones = await phone_capabilities(session, prospect)
    latest = await latest_consent(session, prospect.id)
    textable = sorted(
        (p for p in phones if p.can_text), key=lambda p: p.kind is not PhoneKind.MOBILE
    )
    if latest is not None and latest.consent is SmsConsent.OPTED_OUT:
        return Verdict(SmsStatus.RED, f"Opted out of texts ({_how(latest)}).", None, phones, latest)
    if latest is None:
        reason = "No SMS consent on record; opt the prospect in before texting."
        return Verdict(SmsStatus.GREY, reason, None, phones, latest)
    if not phones:
        reason = "Opted in, but this prospect has no phone number."
        return Verdict(SmsStatus.GREY, reason, None, phones, latest)
    if not textable:
        reason = "Opted in, but none of this prospect's numbers can take texts."
        return Verdict(SmsStatus.GREY, reason, None, phones, latest)
    recipient = textable[0].e164
    return Verdict(SmsStatus.GREEN, f"Opted in ({_how(latest)}).", recipient, phones, latest)


def _entry(row: SmsConsentChange) -> ConsentEntry:
    return ConsentEntry(
        id=row.id,
        consent=row.consent,
        source=row.source,
        actor_account_id=row.actor_account_id,
        phone_e164=row.phone_e164,
        detail=row.detail,
        created_at=row.created_at,
    )


async def _prospect(session: AsyncSession, prospect_id: int) -> Prospect:
    prospect = await session.get(Prospect, prospect_id)
    if prospect is None:
        raise NotFound(f"No prospect {prospect_id}.")
    return prospect


async def get_sms_status(session: AsyncSession, actor: Actor, prospect_id: int) -> SmsStatusRead:
    """The prospect's SMS status, each number's capability and the consent history, newest
    first."""
    check_staff(actor)
    prospect = await _prospect(session, prospect_id)
    verdict = await sms_verdict(session, prospect)
    history = await session.scalars(
        sa.select(SmsConsentChange)
        .where(SmsConsentChange.prospect_id == prospect_id)
        .order_by(SmsConsentChange.id.desc())
        .limit(100)
    )
    return SmsStatusRead(
        prospect_id=prospect_id,
        status=verdict.status,
        reason=verdict.reason,
        consent=verdict.latest.consent.value if verdict.latest else "unknown",
        recipient=verdict.recipient,
        phones=verdict.phones,
        history=[_entry(row) for row in history],
    )


async def do_record_consent(
    session: AsyncSession,
    prospect_ids: Sequence[int],
    consent: SmsConsent,
    *,
    source: str,
    detail: str = "",
    phone: str = "",
    actor_id: int | None = None,
) -> None:
    """Append a consent change for each prospect and tell every open inbox their new status."""
    now = utcnow()
    for prospect_id in sorted(set(prospect_ids)):
        session.add(
            SmsConsentChange(
                prospect_id=prospect_id,
                consent=consent,
                source=source,
                actor_account_id=actor_id,
                phone_e164=phone,
                detail=detail[:500],
                created_at=now,
            )
        )
        await session.flush()
        verdict = await sms_verdict(session, await _prospect(session, prospect_id))
        event = ProspectUpdated(prospect_id=prospect_id, sms_status=verdict.status.value)
        await record_event(session, await staff_ids(session), event)


async def do_set_consent(
    session: AsyncSession, actor: Actor, prospect_id: int, data: ConsentUpdate
) -> SmsStatusRead:
    """A contact manager opts a prospect in or out by hand (say, on the phone); the ledger keeps
    who did it and their note."""
    check_staff(actor)
    await _prospect(session, prospect_id)
    await do_record_consent(
        session, [prospect_id], data.consent, source="manual", detail=data.note, actor_id=actor.id
    )
    return await get_sms_status(session, actor, prospect_id)


async def prospects_with_phone(session: AsyncSession, e164: str) -> list[int]:
    """Every prospect who has this number, oldest first."""
    rows = await session.scalars(
        sa.select(ProspectPhone.prospect_id)
        .where(ProspectPhone.e164 == e164)
        .distinct()
        .order_by(ProspectPhone.prospect_id)
    )
    return list(rows)


async def do_record_opt_out(session: AsyncSession, e164: str, *, source: str, detail: str) -> None:
    """The number asked not to be texted: every prospect who has it is opted out."""
    owners = await prospects_with_phone(session, e164)
    await do_record_consent(
        session, owners, SmsConsent.OPTED_OUT, source=source, detail=detail, phone=e164
    )


async def do_record_lookup(
    session: AsyncSession, e164: str, *, can_text: bool, line_type: str, source: str
) -> PhoneLookupRead:
    """Store (or replace) what is known of a number; it overrides the number's type."""
    row = await session.get(PhoneLookup, e164)
    if row is None:
        row = PhoneLookup(e164=e164, can_text=can_text, line_type=line_type, source=source)
        session.add(row)
    row.can_text, row.line_type, row.source, row.checked_at = can_text, line_type, source, utcnow()
    await session.flush()
    return PhoneLookupRead(
        e164=row.e164,
        can_text=row.can_text,
        line_type=row.line_type,
        source=row.source,
        checked_at=row.checked_at,
    )


async def do_set_lookup(
    session: AsyncSession, actor: Actor, data: PhoneLookupCreate, *, region: str
) -> PhoneLookupRead:
    """Record a carrier lookup's answer for a number (e.g. from the provider's lookup API)."""
    check_staff(actor)
    e164 = parse_phone(data.number, region, "number")
    return await do_record_lookup(
        session, e164, can_text=data.can_text, line_type=data.line_type, source="lookup"
    )


class OptOutRecordingChannel:
    """Wraps the SMS channel: when the provider refuses a text because the recipient
    unsubscribed, the ledger records the opt-out (in its own transaction) before the send
    queue records the failure."""

    def __init__(
        self,
        inner: OutboundChannel,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: EventPublisher,
    ) -> None:
        self.inner = inner
        self.sessionmaker = sessionmaker
        self.publisher = publisher

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        try:
            return await self.inner.deliver(envelope)
        except RecipientOptedOut as exc:
            async with self.sessionmaker() as session:
                for number in envelope.to:
                    await do_record_opt_out(session, number, source="provider", detail=str(exc))
                await commit_and_publish(session, self.publisher)
            raise

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        return await self.inner.find_delivery(idempotency_key)
