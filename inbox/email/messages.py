"""The email part of an outbound message: recipients, subject, body with its signature,
threading headers, Reply-To token, attachments, and the composer's preview."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.accounts.service import normalize_email
from inbox.contacts.models import Prospect
from inbox.conversations.messages import SendContext, check_body
from inbox.conversations.models import Channel, Conversation, DeliveryStatus, Direction, Message
from inbox.conversations.rich_text import html_to_text, sanitize_html, text_to_html
from inbox.conversations.schemas import MessageCreate
from inbox.core.access import Actor, check_staff
from inbox.email.reply_tokens import make_reply_token, reply_address
from inbox.email.suppression import suppressed_among
from inbox.errors import NotFound, PayloadTooLarge, Unprocessable, ValidationFailed

__all__ = ["draft_email", "text_to_html"]

FIRST_CONTACT = "first_contact"
REPLY = "reply"
MAX_ATTACHMENTS = 20


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


async def check_not_suppressed(session: AsyncSession, recipients: dict[str, list[str]]) -> None:
    """Refuse a send to an address on the suppression list, naming the field and the reason."""
    everyone = [a for kind in ("to", "cc", "bcc") for a in recipients.get(kind, [])]
    suppressed = await suppressed_among(session, everyone)
    if not suppressed:
        return
    errors = [
        {
            "field": f"{kind}[{i}]",
            "message": f"{address} is on the suppression list ({suppressed[address]}); "
            f"remove it from {kind.capitalize()}, or ask an admin to reset it",
        }
        for kind in ("to", "cc", "bcc")
        for i, address in enumerate(recipients.get(kind, []))
        if address in suppressed
    ]
    raise Unprocessable(
        "; ".join(e["message"] for e in errors),
        extra={"field": errors[0]["field"], "errors": errors, "suppressed": suppressed},
    )


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


async def signature_kind_for(session: AsyncSession, account_id: int, conversation_id: int) -> str:
    """first_contact for the account's first email to this prospect (text messages do not
    count, nor emails that failed and so never reached them), reply after that."""
    earlier = await session.scalar(
        sa.select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.author_account_id == account_id,
            Message.channel == Channel.EMAIL,
            Message.direction == Direction.OUTBOUND,
            Message.status.not_in([DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]),
        )
        .limit(1)
    )
    return REPLY if earlier is not None else FIRST_CONTACT


@dataclass(frozen=True, slots=True)
class EmailBody:
    html: str
    text: str
    signature_kind: str  # empty when the account has no signature of that kind


def compose_body(data: MessageCreate, sender: Account, kind: str) -> EmailBody:
    """The sanitized HTML and its plain-text rendering, with the signature of `kind` added."""
    if data.body_html is not None:
        html = sanitize_html(data.body_html)
        text = html_to_text(html)
        if not text.strip():
            raise ValidationFailed.field(
                "body_html", "nothing is left to send once unsupported content is removed"
            )
    else:
        text = data.body_text.strip("\n").rstrip()
        html = text_to_html(text)
    signature = sender.signature_first if kind == FIRST_CONTACT else sender.signature_reply
    signature = sanitize_html(signature)
    if not html_to_text(signature).strip():
        return EmailBody(html=html, text=text, signature_kind="")
    # "-- " on its own line is the separator mail clients recognise (and fold away in replies).
    return EmailBody(
        html=f'{html}<div class="signature">-- <br>{signature}</div>',
        text=f"{text}\n\n-- \n{html_to_text(signature)}",
        signature_kind=kind,
    )


def _subject(data_subject: str, conversation: Conversation) -> str:
    # Line breaks in a subject would be a header injection; the composer's field has none.
    return " ".join(data_subject.split()) or conversation.subject or "(no subject)"


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
    await check_not_suppressed(session, message.recipients)
    message.author_address = sender.from_email
    message.subject = _subject(data.subject, conversation)
    kind = await signature_kind_for(session, sender.id, conversation.id)
    body = compose_body(data, sender, kind)
    message.body_html, message.body_text = body.html, body.text
    message.signature_kind = body.signature_kind
    if context.reply_address and context.secret_key:
        token = make_reply_token(context.secret_key, conversation.id)
        message.reply_to = reply_address(context.reply_address, token)
    message.message_id_header = f"<{uuid.uuid4().hex}@{context.email_domain}>"
    message.in_reply_to, message.references = await thread_headers(session, conversation.id)
    conversation.subject = conversation.subject or message.subject
    return message.message_id_header


@dataclass(frozen=True, slots=True)
class Upload:
    """A file attached in the composer, not stored yet."""

    filename: str
    content_type: str
    data: bytes


def check_uploads(data: MessageCreate, uploads: Sequence[Upload], max_bytes: int) -> None:
    """Attachments go by email only, and all of them together within the size limit."""
    if not uploads:
        return
    if data.channel is not Channel.EMAIL:
        raise ValidationFailed.field("attachments", "only an email can carry attachments")
    if len(uploads) > MAX_ATTACHMENTS:
        raise ValidationFailed.field("attachments", f"at most {MAX_ATTACHMENTS} files")
    total = sum(len(u.data) for u in uploads)
    if total > max_bytes:
        raise PayloadTooLarge(
            f"The attachments come to {total} bytes; the limit is {max_bytes} bytes.",
            extra={"field": "attachments", "limit": max_bytes, "size": total},
        )


class EmailPreviewRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body_text: Annotated[str, msgspec.Meta(max_length=100_000)] = ""
    body_html: Annotated[str, msgspec.Meta(max_length=200_000)] | None = None
    subject: Annotated[str, msgspec.Meta(max_length=998)] = ""


class EmailPreview(msgspec.Struct, kw_only=True):
    subject: str
    html: str
    text: str
    signature_kind: str


async def get_email_preview(
    session: AsyncSession, actor: Actor, conversation_id: int, data: EmailPreviewRequest
) -> EmailPreview:
    """What the email would look like if sent now: sanitized, rendered, signature added."""
    check_staff(actor)
    conversation = await session.get(Conversation, conversation_id)
    sender = await session.get(Account, actor.id)
    if conversation is None or sender is None:
        raise NotFound(f"No conversation {conversation_id}.")
    create = MessageCreate(
        channel=Channel.EMAIL,
        body_text=data.body_text,
        body_html=data.body_html,
        subject=data.subject,
    )
    check_body(create)
    kind = await signature_kind_for(session, sender.id, conversation_id)
    body = compose_body(create, sender, kind)
    return EmailPreview(
        subject=_subject(data.subject, conversation),
        html=body.html,
        text=body.text,
        signature_kind=body.signature_kind,
    )
