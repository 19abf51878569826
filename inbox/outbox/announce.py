"""`message.updated`, built in one place for every path that changes a message's delivery
state: the send queue, bounce reports and SMS delivery reports. It carries the state as the
thread shows it (read back after the change), so a client can apply it in place."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.models import Message
from inbox.events.log import record_event, staff_ids
from inbox.events.types import MessageUpdated
from inbox.outbox.deliveries import list_outcomes


async def message_updated(session: AsyncSession, message_id: int) -> MessageUpdated:
    """The message's delivery state now: status, error, when it was sent and every
    recipient's outcome."""
    row = (
        await session.execute(
            sa.select(
                Message.conversation_id, Message.status, Message.error, Message.sent_at
            ).where(Message.id == message_id)
        )
    ).one()
    outcomes = await list_outcomes(session, [message_id])
    return MessageUpdated(
        conversation_id=row.conversation_id,
        message_id=message_id,
        status=row.status,
        error=row.error,
        sent_at=row.sent_at,
        recipients=outcomes.get(message_id, []),
    )


async def announce_message_updated(session: AsyncSession, message_id: int) -> None:
    """Tell every contact manager and admin how the message's delivery stands."""
    await record_event(
        session, await staff_ids(session), await message_updated(session, message_id)
    )
