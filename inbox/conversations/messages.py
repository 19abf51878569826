"""Messages: recording an outbound send in the durable queue, and recording what comes in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.contacts.models import Prospect
from inbox.conversations.models import (
    Channel,
    Conversation,
    ConversationState,
    DeliveryStatus,
    Direction,
    Message,
)
from inbox.conversations.schemas import MessageCreate, MessageRead
from inbox.core.access import Actor, check_staff
from inbox.core.db import dialect_insert
from inbox.core.model import utcnow
from inbox.email.schemas import InboundMessage
from inbox.errors import Conflict, NotFound, ValidationFailed
from inbox.events.log import record_event, staff_ids
from inbox.events.types import ConversationUpdated, MessageCreated
from inbox.leads.service import do_mark_contacted
from inbox.notifications.models import Notification
from inbox.notifications.service import (
    add_reply_notifications,
    announce_notifications,
    do_notify_reply,
)
from inbox.outbox.models import OutboxJob


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
        bcc=list(recipients.get("bcc", [])) if message.direction is Direction.OUTBOUND else [],
        signature_kind=message.signature_kind,
        is_automatic=message.is_automatic,
        status=message.status,
        error=message.error,
        thread_rule=message.thread_rule,
        created_at=message.created_at,
        sent_at=message.sent_at,
        # Only when quoted history or a signature was cut: most messages would otherwise carry
        # their body twice (a 1,000-message thread's JSON nearly doubled).
        body_text_full=_if_different(message.body_text_full, message.body_text),
        body_html_full=_if_different(message.body_html_full, message.body_html),
    )


def _if_different(full: str | None, shown: str) -> str:
    return full if full and full != shown else ""


def _touch(conversation: Conversation, message: Message) -> None:
    # Mail that arrives late (an outage, a re-scan) must not pull the conversation back in time.
    if message.created_at >= conversation.last_activity_at or conversation.last_message_id is None:
        conversation.last_message_id = message.id
        conversation.last_activity_at = message.created_at
        if not message.is_automatic:
            conversation.last_human_direction = message.direction


async def _touch_conversation(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    _touch(conversation, message)
    await session.flush()


@dataclass(frozen=True, slots=True)
class SendContext:
    """What a send needs from the installation's settings."""

    email_domain: str
    secret_key: str = ""
    reply_address: str = ""


class Draft(Protocol):
    """Fills a channel's part of an outbound message and returns its idempotency key."""

    async def __call__(
        self,
        session: AsyncSession,
        message: Message,
        data: MessageCreate,
        *,
        prospect: Prospect,
        sender: Account,
        conversation: Conversation,
        context: SendContext,
    ) -> str: ...


async def check_nothing_new(
    session: AsyncSession, actor: Actor, conversation_id: int, seen_message_id: int | None
) -> None:
    """The collision guard: refuse a send composed before a newer message (a prospect's reply
    or a colleague's send) that the author has not seen. Their own sends do not count."""
    if seen_message_id is None:
        return
    newer = list(
        await session.scalars(
            sa.select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.id > seen_message_id,
                sa.or_(Message.author_account_id.is_(None), Message.author_account_id != actor.id),
            )
            .order_by(Message.id)
        )
    )
    if newer:
        raise Conflict(
            f"{len(newer)} new message(s) arrived in this conversation since you started writing.",
            extra={"new_messages": [msgspec.to_builtins(message_read(m)) for m in newer]},
        )


def check_body(data: MessageCreate) -> None:
    """A message says something; rich text is for email only."""
    if data.body_html is not None and data.channel is not Channel.EMAIL:
        raise ValidationFailed.field("body_html", "rich text can only be sent by email")
    if not data.body_text.strip() and not (data.body_html or "").strip():
        raise ValidationFailed.field("body_text", "write a message first")


async def do_record_outbound(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    data: MessageCreate,
    *,
    context: SendContext,
    draft: Draft,
) -> MessageRead:
    """Record an outbound message as queued, with its send-queue row, in this transaction;
    `draft` is the channel's part (addresses, body, signature; `inbox.sending` picks it). The
    prospect's existing leads become Contacted."""
    check_staff(actor)
    check_body(data)
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id}.")
    await check_nothing_new(session, actor, conversation_id, data.seen_message_id)
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
    key = await draft(
        session,
        message,
        data,
        prospect=prospect,
        sender=sender,
        conversation=conversation,
        context=context,
    )
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


async def conversation_state(
    session: AsyncSession, conversation_id: int, account_id: int
) -> ConversationState:
    """One account's row for a conversation, created if missing. Created with ON CONFLICT DO
    NOTHING: two requests of one user at the same moment (two tabs) both find it."""
    state = await session.get(ConversationState, (conversation_id, account_id))
    if state is not None:
        return state
    await session.execute(
        dialect_insert(session)(ConversationState)
        .values(
            conversation_id=conversation_id,
            account_id=account_id,
            flagged=False,
            last_read_message_id=0,
        )
        .on_conflict_do_nothing()
    )
    state = await session.get(ConversationState, (conversation_id, account_id))
    assert state is not None
    return state


async def _mark_read_to(
    session: AsyncSession, account_id: int, conversation_id: int, message_id: int
) -> None:
    state = await conversation_state(session, conversation_id, account_id)
    state.last_read_message_id = max(state.last_read_message_id, message_id)


async def _announce(
    session: AsyncSession, conversation: Conversation, message: Message
) -> MessageRead:
    await _record_announcement(
        session, await staff_ids(session), message, _conversation_updated(conversation, message)
    )
    return message_read(message)


def _conversation_updated(conversation: Conversation, message: Message) -> ConversationUpdated:
    return ConversationUpdated(
        conversation_id=conversation.id,
        needs_reply=conversation.last_human_direction is Direction.INBOUND,
        replied=conversation.last_human_direction is Direction.OUTBOUND,
        assignee_id=conversation.assignee_id,
        last_message_id=message.id,
    )


async def _record_announcement(
    session: AsyncSession,
    audience: list[int],
    message: Message,
    conversation: ConversationUpdated,
) -> None:
    created = MessageCreated(conversation_id=message.conversation_id, message_id=message.id)
    await record_event(session, audience, created)
    await record_event(session, audience, conversation)


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
    message = inbound_message(conversation_id, inbound, thread_rule=thread_rule)
    session.add(message)
    await session.flush()
    await _touch_conversation(session, conversation, message)
    read = await _announce(session, conversation, message)
    if not message.is_automatic:
        await do_notify_reply(session, conversation, message)
    return read


def inbound_message(conversation_id: int, inbound: InboundMessage, *, thread_rule: str) -> Message:
    """The row of a received message (not yet added to a session)."""
    at: datetime = inbound.received_at or utcnow()
    return Message(
        conversation_id=conversation_id,
        channel=inbound.channel,
        direction=Direction.INBOUND,
        author_address=inbound.from_address,
        author_name=inbound.from_name,
        subject=inbound.subject,
        body_text=inbound.body_text,
        body_html=inbound.body_html,
        body_text_full=inbound.body_text_full or inbound.body_text,
        body_html_full=inbound.body_html_full or inbound.body_html,
        raw=inbound.raw,
        error=inbound.parse_error,
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


async def do_record_inbound_many(
    session: AsyncSession, placed: Sequence[tuple[Conversation, InboundMessage, str]]
) -> list[MessageRead]:
    """Store many received messages, each already placed (conversation, message, rule) and
    known not to be a duplicate, as `do_record_inbound` would one after another, but with one
    multi-row insert for the messages and one for their notifications. The events are recorded
    in the same order as one by one (inside `event_batch` they are only buffered)."""
    messages = [
        inbound_message(conversation.id, inbound, thread_rule=rule)
        for conversation, inbound, rule in placed
    ]
    await _number_rows(session, Message, messages)
    session.add_all(messages)
    await session.flush()
    audience = await staff_ids(session)
    updates: list[ConversationUpdated] = []
    notes: list[list[Notification]] = []
    for (conversation, _, _), message in zip(placed, messages, strict=True):
        _touch(conversation, message)
        updates.append(_conversation_updated(conversation, message))
        notes.append(
            []
            if message.is_automatic
            else await add_reply_notifications(session, conversation, message)
        )
    await _number_rows(session, Notification, [n for its_notes in notes for n in its_notes])
    await session.flush()
    for message, update, its_notes in zip(messages, updates, notes, strict=True):
        await _record_announcement(session, audience, message, update)
        await announce_notifications(session, its_notes)
    return [message_read(m) for m in messages]


async def _number_rows(
    session: AsyncSession, model: type[Message] | type[Notification], rows: list[Any]
) -> None:
    """Give new rows their ids before they are inserted, on SQLite: it cannot say which id
    each row of a multi-row INSERT ... RETURNING got, so SQLAlchemy would insert them one by
    one. The transaction already holds SQLite's write lock (BEGIN IMMEDIATE) and the tables are
    not AUTOINCREMENT, so the next ids are the largest one's successors, as SQLite would pick."""
    if len(rows) < 2 or session.bind is None or session.bind.dialect.name != "sqlite":
        return
    with session.no_autoflush:  # the rows may already be pending: they must not go in yet
        largest = int(await session.scalar(sa.select(sa.func.max(model.id))) or 0)
    for offset, row in enumerate(rows, start=1):
        row.id = largest + offset


async def do_queue_automatic(
    session: AsyncSession, conversation: Conversation, message: Message, idempotency_key: str
) -> MessageRead:
    """Queue an outbound message that nobody typed (e.g. the answer to an SMS HELP), with its
    send-queue row. It is not a human reply: leads, assignee and needs-reply stay as they are."""
    message.conversation_id = conversation.id
    message.direction = Direction.OUTBOUND
    message.is_automatic = True
    message.status = DeliveryStatus.QUEUED
    message.created_at = utcnow()
    session.add(message)
    await session.flush()
    session.add(
        OutboxJob(
            message_id=message.id,
            channel=message.channel,
            idempotency_key=idempotency_key,
            next_attempt_at=message.created_at,
            created_at=message.created_at,
        )
    )
    session.info["inbox.queued"] = True
    await _touch_conversation(session, conversation, message)
    return await _announce(session, conversation, message)
