"""In-app notifications, per account: created for replies, read and counted by their owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account, Role
from inbox.conversations.models import Conversation, Message
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.errors import NotFound
from inbox.events.log import cached_in_batch, record_event
from inbox.events.types import NotificationCreated, NotificationMarkedRead
from inbox.notifications.models import Notification
from inbox.notifications.schemas import NotificationRead


def notification_read(n: Notification) -> NotificationRead:
    return NotificationRead(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        conversation_id=n.conversation_id,
        message_id=n.message_id,
        read=n.read_at is not None,
        created_at=n.created_at,
    )


async def do_notify(
    session: AsyncSession,
    account_ids: list[int],
    *,
    kind: str,
    title: str,
    body: str = "",
    conversation_id: int | None = None,
    message_id: int | None = None,
) -> None:
    """One notification per account, each pushed to its owner only."""
    notes = add_notifications(
        session,
        account_ids,
        kind=kind,
        title=title,
        body=body,
        conversation_id=conversation_id,
        message_id=message_id,
    )
    if notes:
        await session.flush()
    await announce_notifications(session, notes)


def add_notifications(
    session: AsyncSession,
    account_ids: list[int],
    *,
    kind: str,
    title: str,
    body: str = "",
    conversation_id: int | None = None,
    message_id: int | None = None,
) -> list[Notification]:
    """One notification per account, added to the session but not yet flushed: a caller that
    stores many (a batch of mail) flushes them in one multi-row insert, then announces them."""
    notes = [
        Notification(
            account_id=account_id,
            kind=kind,
            title=title,
            body=body,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        for account_id in sorted(set(account_ids))
    ]
    session.add_all(notes)
    return notes


async def announce_notifications(session: AsyncSession, notes: list[Notification]) -> None:
    """The `notification.created` event of each flushed notification, to its owner only."""
    for n in notes:
        event = NotificationCreated(notification=notification_read(n))
        await record_event(session, [n.account_id], event)


def _contact_manager_ids(session: AsyncSession) -> Callable[[], Awaitable[list[int]]]:
    async def load() -> list[int]:
        rows = await session.scalars(
            sa.select(Account.id).where(Account.is_active, Account.role == Role.CONTACT_MANAGER)
        )
        return list(rows)

    return load


async def do_notify_reply(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    """A reply goes to the conversation's assignee, or to every contact manager when unassigned."""
    notes = await add_reply_notifications(session, conversation, message)
    if notes:
        await session.flush()
    await announce_notifications(session, notes)


async def add_reply_notifications(
    session: AsyncSession, conversation: Conversation, message: Message
) -> list[Notification]:
    """`do_notify_reply` without the flush and the events (see `add_notifications`)."""
    if conversation.assignee_id is not None:
        owners = [conversation.assignee_id]
    else:
        owners = list(
            await cached_in_batch(session, "contact_manager_ids", _contact_manager_ids(session))
        )
    sender = message.author_name or message.author_address
    return add_notifications(
        session,
        owners,
        kind="reply_received",
        title=f"New reply from {sender}",
        body=(message.body_text or message.subject)[:200],
        conversation_id=conversation.id,
        message_id=message.id,
    )


async def list_notifications(
    session: AsyncSession, actor: Actor, *, unread_only: bool = False, limit: int = 50
) -> list[NotificationRead]:
    query = sa.select(Notification).where(Notification.account_id == actor.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit))
    return [notification_read(n) for n in rows]


async def count_unread(session: AsyncSession, actor: Actor) -> int:
    count = await session.scalar(
        sa.select(sa.func.count()).where(
            Notification.account_id == actor.id, Notification.read_at.is_(None)
        )
    )
    return int(count or 0)


async def do_mark_notification_read(
    session: AsyncSession, actor: Actor, notification_id: int
) -> NotificationRead:
    """Only the owner may read a notification; anyone else is told it does not exist."""
    n = await session.get(Notification, notification_id)
    if n is None or n.account_id != actor.id:
        raise NotFound(f"No notification {notification_id}.")
    if n.read_at is None:
        n.read_at = utcnow()
        await session.flush()
        unread = await count_unread(session, actor)
        event = NotificationMarkedRead(notification_id=n.id, unread_count=unread)
        await record_event(session, [actor.id], event)
    return notification_read(n)
