"""SMS: the number an outbound text goes to (only a green prospect may be texted), texts that
come in (threaded by number, consent keywords, MMS media) and the provider's delivery reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.contacts.models import PhoneKind, Prospect, ProspectPhone
from inbox.contacts.phones import parse_phone, try_parse_phone
from inbox.contacts.prospects import display_name
from inbox.conversations.attachments import AttachmentStore, do_add_attachment
from inbox.conversations.messages import SendContext, do_queue_automatic, do_record_inbound
from inbox.conversations.models import Channel, Conversation, DeliveryStatus, Message
from inbox.conversations.schemas import MessageCreate, MessageRead
from inbox.core.access import Actor, check_staff
from inbox.core.model import utcnow
from inbox.email.schemas import InboundMessage
from inbox.errors import Unprocessable, ValidationFailed
from inbox.outbox.announce import announce_message_updated
from inbox.outbox.models import OutboxJob
from inbox.sms.consent import (
    do_record_consent,
    do_record_lookup,
    do_record_opt_out,
    keyword_of,
    prospects_with_phone,
    sms_verdict,
)
from inbox.sms.models import SmsConsent

# Twilio's limit on one message body (ten segments of GSM-7, give or take).
MAX_SMS_CHARACTERS = 1600


class SmsMedia(msgspec.Struct, frozen=True, kw_only=True):
    """One MMS attachment; `data` is None until fetched, or when it could not be kept."""

    url: str
    content_type: str
    data: bytes | None = None
    error: str = ""
    # The error may pass (a timeout, a 5xx): worth fetching again later.
    transient: bool = False


class InboundSms(msgspec.Struct, frozen=True, kw_only=True):
    """A text from a phone, as a provider's webhook (or the demo) reports it."""

    sid: str
    from_number: str
    to_number: str = ""
    body: str = ""
    media: tuple[SmsMedia, ...] = ()
    # When the provider delivered it (the message's time); None for now.
    received_at: datetime | None = None


class SmsStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's delivery report, in our terms."""

    sid: str
    status: DeliveryStatus
    error: str = ""
    # Our idempotency key, carried in the status callback URL: it finds the message even when
    # the provider's id never reached us (a crash or a timeout after the provider accepted it).
    key: str = ""
    to_number: str = ""
    recipient_opted_out: bool = False
    cannot_text: bool = False


async def draft_sms(
    session: AsyncSession,
    message: Message,
    data: MessageCreate,
    *,
    prospect: Prospect,
    sender: Account,
    conversation: Conversation,
    context: SendContext,
) -> str:
    """Fill the SMS fields of `message`, refusing any prospect whose SMS status is not green;
    a random key makes delivery idempotent."""
    if len(data.body_text) > MAX_SMS_CHARACTERS:
        raise ValidationFailed.field(
            "body_text", f"a text may be at most {MAX_SMS_CHARACTERS} characters"
        )
    verdict = await sms_verdict(session, prospect)
    if verdict.recipient is None:
        raise Unprocessable(
            f"Cannot text {display_name(prospect)}: {verdict.reason}",
            extra={"field": "channel", "sms_status": verdict.status.value},
        )
    message.recipients = {"to": [verdict.recipient], "cc": [], "bcc": []}
    return f"sms-{uuid.uuid4().hex}"


async def _thread_to(session: AsyncSession, number: str) -> tuple[list[int], Conversation, str]:
    """Every prospect with this number, and the conversation of the oldest; a stranger becomes
    a new prospect with a conversation of their own."""
    owners = await prospects_with_phone(session, number)
    rule = "known_phone"
    if not owners:
        # A short code or an alphanumeric sender is kept as typed, so its next text threads here.
        prospect = Prospect(phones=[ProspectPhone(kind=PhoneKind.MOBILE, e164=number[:20])])
        session.add(prospect)
        await session.flush()
        session.add(Conversation(prospect_id=prospect.id, last_activity_at=prospect.created_at))
        await session.flush()
        owners, rule = [prospect.id], "new_prospect"
    conversation = await session.scalar(
        sa.select(Conversation).where(Conversation.prospect_id == owners[0])
    )
    assert conversation is not None
    return owners, conversation, rule


async def _keep_media(
    session: AsyncSession, store: AttachmentStore, message_id: int, media: tuple[SmsMedia, ...]
) -> None:
    notes = []
    for n, item in enumerate(media, start=1):
        if item.data is None:
            notes.append(f"media {n} of {len(media)} not kept: {item.error or 'not fetched'}")
            continue
        extension = item.content_type.split("/")[-1].split(";")[0].strip() or "bin"
        await do_add_attachment(
            session, store, message_id, f"mms-{n}.{extension}", item.content_type, item.data
        )
    if notes:
        await session.execute(
            sa.update(Message).where(Message.id == message_id).values(error="; ".join(notes))
        )


async def do_receive_sms(
    session: AsyncSession,
    sms: InboundSms,
    *,
    store: AttachmentStore,
    region: str,
    help_reply: str,
) -> MessageRead | None:
    """Record a text in the thread of the prospect owning the number (else a new prospect),
    with its media, and act on consent keywords. None for a text already recorded (providers
    retry), in which case nothing else happens either."""
    number = try_parse_phone(sms.from_number, region) or sms.from_number.strip()
    owners, conversation, rule = await _thread_to(session, number)
    prospect = await session.get(Prospect, owners[0])
    assert prospect is not None
    inbound = InboundMessage(
        channel=Channel.SMS,
        from_address=number,
        from_name=display_name(prospect) if (prospect.first_name or prospect.last_name) else "",
        body_text=sms.body,
        to=(sms.to_number,) if sms.to_number else (),
        external_id=sms.sid,
        received_at=sms.received_at,
    )
    read = await do_record_inbound(session, conversation.id, inbound, thread_rule=rule)
    if read is None:
        return None
    await _keep_media(session, store, read.id, sms.media)
    if number.startswith("+"):
        # It just texted us, so it takes texts whatever its type says.
        await do_record_lookup(session, number, can_text=True, line_type="", source="inbound")
    keyword = keyword_of(sms.body)
    detail = " ".join(sms.body.split()).upper()
    if keyword == "stop":
        await do_record_opt_out(session, number, source="keyword", detail=detail)
    elif keyword == "start":
        await do_record_consent(
            session, owners, SmsConsent.OPTED_IN, source="keyword", detail=detail, phone=number
        )
    elif keyword == "help" and help_reply.strip():
        # HELP is answered whatever the consent: carriers require it.
        reply = Message(
            channel=Channel.SMS,
            author_name="Automatic reply",
            body_text=help_reply.strip(),
            recipients={"to": [number], "cc": [], "bcc": []},
        )
        await do_queue_automatic(session, conversation, reply, f"sms-help-{sms.sid}")
    return read


_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.FAILED: 3,
    DeliveryStatus.BOUNCED: 3,
}


async def _reported_message(session: AsyncSession, report: SmsStatusReport) -> Message | None:
    message: Message | None = await session.scalar(
        sa.select(Message).where(Message.channel == Channel.SMS, Message.external_id == report.sid)
    )
    if message is None and report.key:
        message = await session.scalar(
            sa.select(Message)
            .join(OutboxJob, OutboxJob.message_id == Message.id)
            .where(OutboxJob.idempotency_key == report.key, Message.channel == Channel.SMS)
        )
    return message


async def do_record_sms_status(session: AsyncSession, report: SmsStatusReport) -> bool:
    """Apply a delivery report to the message it is about; False when it changes nothing (a
    retry, a report older than what we know, or a message that is not ours). A report never
    moves a status back: they may arrive out of order."""
    message = await _reported_message(session, report)
    if message is None:
        return False
    adopting = message.external_id is None
    if not adopting and (
        _RANK.get(report.status, 0) < _RANK.get(message.status, 0)
        or (report.status is message.status and report.error == message.error)
    ):
        return False
    message.external_id = report.sid
    message.status = report.status
    message.error = report.error
    if report.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED) and not message.sent_at:
        message.sent_at = utcnow()
    await session.flush()
    number = report.to_number or next(iter((message.recipients or {}).get("to", [])), "")
    if report.recipient_opted_out and number:
        await do_record_opt_out(session, number, source="provider", detail=report.error)
    if report.cannot_text and number:
        await do_record_lookup(
            session, number, can_text=False, line_type="landline", source="provider"
        )
    await announce_message_updated(session, message.id)
    return True


class SimulatedSms(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A prospect's text, made up in the demo to see how an inbound text behaves."""

    from_number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SMS_CHARACTERS)]


async def do_simulate_inbound_sms(
    session: AsyncSession,
    actor: Actor,
    data: SimulatedSms,
    *,
    store: AttachmentStore,
    region: str,
    help_reply: str,
) -> MessageRead:
    """Receive a text as if a phone had sent it (demo and dev only; the server decides)."""
    check_staff(actor)
    number = parse_phone(data.from_number, region, "from_number")
    sms = InboundSms(sid=f"SMsandbox{uuid.uuid4().hex}", from_number=number, body=data.body)
    read = await do_receive_sms(session, sms, store=store, region=region, help_reply=help_reply)
    assert read is not None  # a fresh id is never a duplicate
    return read
