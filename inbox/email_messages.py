"""The email part of an outbound message: recipients, subject, body, threading headers."""

from __future__ import annotations

import html
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts import normalize_email
from inbox.errors import Unprocessable, ValidationFailed
from inbox.messages import SendContext
from inbox.models import Account, Conversation, Message, Prospect
from inbox.schemas import MessageCreate


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def _addresses(values: list[str], field: str) -> list[str]:
    out: list[str] = []
    for i, raw in enumerate(values):
        address = normalize_email(raw, f"{field}[{i}]")
        if address not in out:
            out.append(address)
    return out


def email_recipients(
    data: MessageCreate, prospect: Prospect, sender: Account
) -> dict[str, list[str]]:
    """To must be the prospect's (any of their addresses); the sender's own address may be in
    none of To, Cc and Bcc."""
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


async def thread_headers(session: AsyncSession, conversation_id: int) -> tuple[str, str]:
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


async def draft_email(
    session: AsyncSession,
    message: Message,
    data: MessageCreate,
    *,
    prospect: Prospect,
    sender: Account,
    conversation: Conversation,
    context: SendContext,
) -> str:
    """Fill the email fields of `message`; the Message-ID is the idempotency key."""
    message.recipients = email_recipients(data, prospect, sender)
    message.author_address = sender.from_email
    message.subject = data.subject.strip() or conversation.subject or "(no subject)"
    message.body_html = text_to_html(data.body_text)
    message.message_id_header = f"<{uuid.uuid4().hex}@{context.email_domain}>"
    message.in_reply_to, message.references = await thread_headers(session, conversation.id)
    conversation.subject = conversation.subject or message.subject
    return message.message_id_header
