"""Bounces: a delivery status report marks the message it is about and the recipient's outcome,
suppresses hard-bounced addresses and tells the sender."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.models import DeliveryStatus, Direction, Message
from inbox.core.ports import RecipientResult
from inbox.email.schemas import BounceRecipient, BounceReport
from inbox.email.suppression import do_suppress
from inbox.notifications.service import do_notify
from inbox.outbox.announce import announce_message_updated
from inbox.outbox.deliveries import do_record_outcomes
from inbox.outbox.models import RecipientStatus


def _describe(recipient: BounceRecipient) -> str:
    return f"{recipient.address}: {recipient.diagnostic or recipient.status or 'undeliverable'}"


async def do_record_bounce(session: AsyncSession, report: BounceReport) -> int | None:
    """Apply a report to the message it bounces; returns that message's conversation, or None
    when the report is about no message we sent."""
    if not report.original_message_id:
        return None
    message = await session.scalar(
        sa.select(Message).where(
            Message.message_id_header == report.original_message_id,
            Message.direction == Direction.OUTBOUND,
        )
    )
    if message is None:
        return None
    outcomes = [
        RecipientResult(
            r.address,
            RecipientStatus.FAILED if r.action == "failed" else RecipientStatus.DEFERRED,
            _describe(r),
        )
        for r in report.recipients
        if r.action in ("failed", "delayed")
    ]
    await do_record_outcomes(session, message.id, message.recipients or {}, outcomes)
    failed = [r for r in report.recipients if r.action == "failed"]
    if not failed:
        return message.conversation_id  # a delay warning: the message itself stays as it was
    message.status = DeliveryStatus.BOUNCED
    message.error = "; ".join(_describe(r) for r in failed)
    for recipient in failed:
        if recipient.is_hard:
            await do_suppress(session, recipient.address, _describe(recipient), message.id)
    await session.flush()
    await announce_message_updated(session, message.id)
    if message.author_account_id is not None:
        await do_notify(
            session,
            [message.author_account_id],
            kind="delivery_failed",
            title=f"Undeliverable: {message.subject or '(no subject)'}",
            body=message.error[:500],
            conversation_id=message.conversation_id,
            message_id=message.id,
        )
    return message.conversation_id
