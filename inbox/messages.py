"""Messages: recording an outbound send in the durable queue, and recording what comes in."""

from __future__ import annotations

import html
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import Actor, check_staff
from inbox.accounts import normalize_email
from inbox.errors import NotFound, Unprocessable, ValidationFailed
from inbox.events import record_event, staff_ids
from inbox.leads import do_mark_contacted
from inbox.models import (
    Account,
    Channel,
    Conversation,
    ConversationState,
    DeliveryStatus,
    Direction,
    Message,
    OutboxJob,
    PhoneKind,
    Prospect,
    utcnow,
)
from inbox.notifications import do_notify_reply
from inbox.schemas import InboundMessage, MessageCreate, MessageRead


def message_read(message: Message) -> MessageRead:
    recipients = message.recipients or {}
    return MessageRead(
        id=message.id,
        conversation_id=message.conversation_id,
        channel=message.channel,
        direction=message.direction,
        author_account_id=message.author_account_id,
        author_name=message.author_name,
        author_address=message.author_address,
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        to=list(recipients.get("to", [])),
        cc=list(recipients.get("cc", [])),
        is_automatic=message.is_automatic,
        status=message.status,
        error=message.error,
        thread_rule=message.thread_rule,
        created_at=message.created_at,
        sent_at=message.sent_at,
    )


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs (until the rich composer lands)."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _addresses(values: list[str], field: str) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(values):
        address = normalize_email(raw, f"{field}[{i}]")
        if address not in out:
            out.append(address)
    return out


def _email_recipients(
    data: MessageCreate, prospect: Prospect, sender: Account
) -> dict[str, list[str]]:
    known = [e.email for e in prospect.emails]
    if not known:
        raise Unprocessable("This prospect has no email address.", extra={"field": "to"})
    to = _addresses(data.to, "to") or known[:1]
    for i, address in enumerate(to):
        if address not in known:
            raise ValidationFailed.field(f"to[{i}]", "To must be one of the prospect's addresses")
    recipients = {"to": to, "cc": _addresses(data.cc, "cc"), "bcc": _addresses(data.bcc, "bcc")}
    own = sender.from_email.lower()
    for field, addresses in recipients.items():
        if own in addresses:
            raise ValidationFailed.field(
                field, f"{own} is your own sender address; remove it from {field.capitalize()}"
            )
    return recipients


def _sms_recipients(prospect: Prospect) -> dict[str, list[str]]:
    mobile = next((p.e164 for p in prospect.phones if p.kind is PhoneKind.MOBILE), None)
    if mobile is None:
        raise Unprocessable(
            "This prospect has no mobile number to text.", extra={"field": "channel"}
        )
    return {"to": [mobile], "cc": [], "bcc": []}


async def _thread_headers(session: AsyncSession, conversation_id: int) -> tuple[str, str]:
    """In-Reply-To and References for the next email in the conversation."""
    ids = list(
        await session.scalars(
            sa.select(Message.message_id_header)
            .where(
                Message.conversation_id == conversation_id, Message.message_id_header.is_not(None)
            )
            .order_by(Message.id.desc())
            .limit(20)
        )
    )
    if not ids:
        return "", ""
    return ids[0] or "", " ".join(reversed([i for i in ids if i]))


async def _touch_conversation(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    # Mail that arrives late (an outage, a re-scan) must not pull the conversation back in time.
    if message.created_at >= conversation.last_activity_at or conversation.last_message_id is None:
        conversation.last_message_id = message.id
        conversation.last_activity_at = message.created_at
        if not message.is_automatic:
            conversation.last_human_direction = message.direction
    await session.flush()


async def do_send_message(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    data: MessageCreate,
    *,
    email_domain: str,
) -> MessageRead:
    """Record an outbound message as queued, with its send-queue row, in this transaction.
    The prospect's existing leads become Contacted."""
    check_staff(actor)
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id}.")
    prospect = await session.get(Prospect, conversation.prospect_id)
    sender = await session.get(Account, actor.id)
    assert prospect is not None and sender is not None
    now = utcnow()
    message = Message(
        conversation_id=conversation_id,
        channel=data.channel,
        direction=Direction.OUTBOUND,
        author_account_id=actor.id,
        author_name=sender.from_name or sender.name,
        body_text=data.body_text,
        status=DeliveryStatus.QUEUED,
        created_at=now,
    )
    if data.channel is Channel.EMAIL:
        message.recipients = _email_recipients(data, prospect, sender)
        message.author_address = sender.from_email
        message.subject = data.subject.strip() or conversation.subject or "(no subject)"
        message.body_html = text_to_html(data.body_text)
        message.message_id_header = f"<{uuid.uuid4().hex}@{email_domain}>"
        message.in_reply_to, message.references = await _thread_headers(session, conversation_id)
        key = message.message_id_header
        conversation.subject = conversation.subject or message.subject
    else:
        message.recipients = _sms_recipients(prospect)
        key = f"sms-{uuid.uuid4().hex}"
    session.add(message)
    await session.flush()
    session.add(
        OutboxJob(
            message_id=message.id,
            channel=data.channel,
            idempotency_key=key,
            next_attempt_at=now,
            created_at=now,
        )
    )
    session.info["inbox.queued"] = True  # tells the server to wake the sender after commit
    if conversation.assignee_id is None:
        conversation.assignee_id = actor.id
    await _touch_conversation(session, conversation, message)
    await _mark_read_to(session, actor.id, conversation_id, message.id)
    await do_mark_contacted(session, prospect.id, now)
    return await _announce(session, conversation, message)


async def _mark_read_to(
    session: AsyncSession, account_id: int, conversation_id: int, message_id: int
) -> None:
    state = await session.get(ConversationState, (conversation_id, account_id))
    if state is None:
        session.add(
            ConversationState(
                conversation_id=conversation_id,
                account_id=account_id,
                flagged=False,
                last_read_message_id=message_id,
            )
        )
    else:
        state.last_read_message_id = max(state.last_read_message_id, message_id)


async def _announce(
    session: AsyncSession, conversation: Conversation, message: Message
) -> MessageRead:
    read = message_read(message)
    audience = await staff_ids(session)
    await record_event(
        session,
        audience,
        "message.created",
        {"conversation_id": conversation.id, "message_id": message.id},
    )
    await record_event(
        session,
        audience,
        "conversation.updated",
        {
            "conversation_id": conversation.id,
            "needs_reply": conversation.last_human_direction is Direction.INBOUND,
            "replied": conversation.last_human_direction is Direction.OUTBOUND,
            "assignee_id": conversation.assignee_id,
            "last_message_id": message.id,
        },
    )
    return read


async def do_record_inbound(
    session: AsyncSession, conversation_id: int, inbound: InboundMessage, *, thread_rule: str
) -> MessageRead | None:
    """Store a message from a prospect or participant. Returns None for a duplicate
    (same Message-ID or provider id), so channels can retry without double entries."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id}.")
    for column, value in (
        (Message.message_id_header, inbound.message_id_header),
        (Message.external_id, inbound.external_id),
    ):
        if value and await session.scalar(sa.select(Message.id).where(column == value)):
            return None
    at: datetime = inbound.received_at or utcnow()
    message = Message(
        conversation_id=conversation_id,
        channel=inbound.channel,
        direction=Direction.INBOUND,
        author_address=inbound.from_address,
        author_name=inbound.from_name,
        subject=inbound.subject,
        body_text=inbound.body_text,
        body_html=inbound.body_html,
        message_id_header=inbound.message_id_header,
        in_reply_to=inbound.in_reply_to,
        references=inbound.references,
        external_id=inbound.external_id,
        recipients={"to": list(inbound.to), "cc": list(inbound.cc), "bcc": []},
        is_automatic=inbound.is_automatic,
        status=DeliveryStatus.RECEIVED,
        thread_rule=thread_rule,
        created_at=at,
    )
    session.add(message)
    await session.flush()
    await _touch_conversation(session, conversation, message)
    read = await _announce(session, conversation, message)
    if not message.is_automatic:
        await do_notify_reply(session, conversation, message)
    return read
