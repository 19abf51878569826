"""Conversations: the filtered list with keyset pagination, the thread, flags, read state."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, TypeVar, get_args

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.contacts.models import Prospect
from inbox.contacts.prospects import display_name, prospect_read
from inbox.conversations.attachments import list_attachments
from inbox.conversations.messages import conversation_state, message_read
from inbox.conversations.models import Conversation, ConversationState, Direction, Message
from inbox.conversations.schemas import (
    ConversationCounts,
    ConversationFilter,
    ConversationPage,
    ConversationSummary,
    MessagePage,
    MessageRead,
    ThreadRead,
)
from inbox.core.access import Actor, check_staff
from inbox.errors import NotFound, ValidationFailed
from inbox.events.log import current_seq, record_event, staff_ids
from inbox.events.types import ConversationUpdated
from inbox.outbox.deliveries import list_outcomes
from inbox.tasks.service import count_open_tasks

MAX_PAGE = 100
THREAD_PAGE = 40  # the newest messages a thread opens with
# The viewer's own state row and the last message, joined into every summary.
_State = sa.orm.aliased(ConversationState)
_Last = sa.orm.aliased(Message)


class _Cursor(msgspec.Struct, array_like=True):
    at: datetime
    id: int


C = TypeVar("C", bound=msgspec.Struct)


def encode_cursor(at: datetime, id_: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(at, id_))).decode().rstrip("=")


def decode_cursor(raw: str) -> _Cursor:
    return _decode(raw, _Cursor)


def _decode(raw: str, type_: type[C]) -> C:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        return msgspec.json.decode(base64.urlsafe_b64decode(padded), type=type_)
    except (ValueError, msgspec.DecodeError):
        raise ValidationFailed.field("cursor", "not a cursor this server gave out") from None


class _Before(msgspec.Struct, array_like=True):
    """A thread's page cursor: keyset on the message id, older pages are below it."""

    id: int


def _before_cursor(id_: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Before(id_))).decode().rstrip("=")


SummarySelect = sa.Select[Conversation, Prospect, bool, int, Message]


def _summary_query(actor: Actor) -> SummarySelect:
    return (
        sa.select(Conversation, Prospect, _State.flagged, _State.last_read_message_id, _Last)
        .join(Prospect, Prospect.id == Conversation.prospect_id)
        .outerjoin(
            _State,
            sa.and_(_State.conversation_id == Conversation.id, _State.account_id == actor.id),
        )
        .outerjoin(_Last, _Last.id == Conversation.last_message_id)
    )


def _condition(actor: Actor, name: ConversationFilter) -> sa.ColumnElement[bool]:
    """A sidebar filter, over `conversation` outer-joined to the actor's `_State` row."""
    if name == "mine":
        return Conversation.assignee_id == actor.id
    if name == "needs_reply":
        return Conversation.last_human_direction == Direction.INBOUND
    if name == "replied":
        return Conversation.last_human_direction == Direction.OUTBOUND
    if name == "flagged":
        return _State.flagged.is_(True)
    if name == "unread":
        return Conversation.last_message_id > sa.func.coalesce(_State.last_read_message_id, 0)
    # "all" shows conversations that have at least one message.
    return Conversation.last_message_id.is_not(None)


def _filter(query: SummarySelect, actor: Actor, name: ConversationFilter) -> SummarySelect:
    return query.where(_condition(actor, name))


async def count_conversations(session: AsyncSession, actor: Actor) -> ConversationCounts:
    """Every sidebar filter's count in one pass over the conversations, with the same
    conditions as `list_conversations`. A client refetches it when `conversation.updated` or
    `message.created` arrives."""
    check_staff(actor)
    seq = await current_seq(session, actor.id)  # first: the counts below are at least as new
    names: tuple[ConversationFilter, ...] = get_args(ConversationFilter)
    totals = [
        sa.func.coalesce(sa.func.sum(sa.case((_condition(actor, n), 1), else_=0)), 0) for n in names
    ]
    row = (
        await session.execute(
            sa.select(*totals)
            .select_from(Conversation)
            .outerjoin(
                _State,
                sa.and_(_State.conversation_id == Conversation.id, _State.account_id == actor.id),
            )
        )
    ).one()
    return ConversationCounts(**{n: int(v) for n, v in zip(names, row, strict=True)}, seq=seq)


def _summary(row: Any) -> ConversationSummary:
    conversation, prospect, flagged, last_read, last = row
    preview = ""
    if last is not None:
        preview = (last.body_text or last.subject).strip().replace("\n", " ")[:160]
    return ConversationSummary(
        id=conversation.id,
        prospect_id=prospect.id,
        prospect_name=display_name(prospect),
        assignee_id=conversation.assignee_id,
        last_channel=last.channel if last is not None else None,
        last_direction=last.direction if last is not None else None,
        preview=preview,
        last_activity_at=conversation.last_activity_at,
        unread=(conversation.last_message_id or 0) > (last_read or 0),
        flagged=bool(flagged),
        needs_reply=conversation.last_human_direction is Direction.INBOUND,
        replied=conversation.last_human_direction is Direction.OUTBOUND,
    )


async def list_conversations(
    session: AsyncSession,
    actor: Actor,
    filter_: ConversationFilter = "all",
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> ConversationPage:
    """Newest activity first. The cursor is the last row's (activity time, id), so rows added
    while someone pages never shift the pages they have not reached yet."""
    check_staff(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_PAGE}")
    seq = await current_seq(session, actor.id)
    query = _filter(_summary_query(actor), actor, filter_)
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(
            sa.tuple_(Conversation.last_activity_at, Conversation.id)
            < sa.tuple_(
                sa.literal(after.at, Conversation.last_activity_at.type), sa.literal(after.id)
            )
        )
    rows = (
        await session.execute(
            query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(
                limit + 1
            )
        )
    ).all()
    items = [_summary(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        tail = items[-1]
        next_cursor = encode_cursor(tail.last_activity_at, tail.id)
    return ConversationPage(items=items, next_cursor=next_cursor, seq=seq)


async def get_summary(
    session: AsyncSession, actor: Actor, conversation_id: int
) -> ConversationSummary:
    check_staff(actor)
    row = (
        await session.execute(_summary_query(actor).where(Conversation.id == conversation_id))
    ).first()
    if row is None:
        raise NotFound(f"No conversation {conversation_id}.")
    return _summary(row)


async def get_thread(
    session: AsyncSession, actor: Actor, conversation_id: int, *, limit: int = THREAD_PAGE
) -> ThreadRead:
    """The conversation with its newest `limit` messages, oldest first; `earlier_cursor`
    pages further back (`list_messages`)."""
    seq = await current_seq(session, actor.id)
    summary = await get_summary(session, actor, conversation_id)
    prospect = await session.get(Prospect, summary.prospect_id)
    assert prospect is not None
    page = await _message_page(session, conversation_id, seq, limit=limit)
    open_tasks = (await count_open_tasks(session, [prospect.id])).get(prospect.id, 0)
    return ThreadRead(
        conversation=summary,
        prospect=prospect_read(prospect, conversation_id, open_tasks=open_tasks),
        messages=page.items,
        earlier_cursor=page.earlier_cursor,
        seq=seq,
    )


async def list_messages(
    session: AsyncSession,
    actor: Actor,
    conversation_id: int,
    *,
    cursor: str | None = None,
    after: int | None = None,
    limit: int = MAX_PAGE,
) -> MessagePage:
    """A page of a thread, oldest first: the `limit` messages before `cursor` (a thread's or
    a page's `earlier_cursor`), or the first `limit` after the message id `after` (what a
    client that holds the thread up to `after` has not seen)."""
    check_staff(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_PAGE}")
    before = _decode(cursor, _Before).id if cursor else None
    seq = await current_seq(session, actor.id)
    if await session.get(Conversation, conversation_id) is None:
        raise NotFound(f"No conversation {conversation_id}.")
    return await _message_page(
        session, conversation_id, seq, limit=limit, before=before, after=after
    )


async def _message_page(
    session: AsyncSession,
    conversation_id: int,
    seq: int,
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
) -> MessagePage:
    # Keyset on (conversation_id, id): ix_message_conversation; `raw` is deferred.
    query = sa.select(Message).where(Message.conversation_id == conversation_id)
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id)
    else:
        if before is not None:
            query = query.where(Message.id < before)
        query = query.order_by(Message.id.desc())
    messages = list(await session.scalars(query.limit(limit + 1)))
    more = len(messages) > limit
    messages = messages[:limit]
    if after is None:
        messages.reverse()
    earlier = _before_cursor(messages[0].id) if more and after is None else None
    return MessagePage(items=await _reads(session, messages), earlier_cursor=earlier, seq=seq)


async def _reads(session: AsyncSession, messages: list[Message]) -> list[MessageRead]:
    files = await list_attachments(session, [m.id for m in messages])
    outcomes = await list_outcomes(session, [m.id for m in messages])
    reads = [message_read(m) for m in messages]
    for read in reads:
        read.attachments = files.get(read.id, [])
        read.recipient_outcomes = outcomes.get(read.id, [])
    return reads


async def _state(session: AsyncSession, actor: Actor, conversation_id: int) -> ConversationState:
    if await session.get(Conversation, conversation_id) is None:
        raise NotFound(f"No conversation {conversation_id}.")
    return await conversation_state(session, conversation_id, actor.id)


async def do_set_flag(
    session: AsyncSession, actor: Actor, conversation_id: int, flagged: bool
) -> ConversationSummary:
    """Flags are per user: only the actor's own view changes."""
    check_staff(actor)
    state = await _state(session, actor, conversation_id)
    state.flagged = flagged
    await session.flush()
    event = ConversationUpdated(conversation_id=conversation_id, flagged=flagged)
    await record_event(session, [actor.id], event)
    return await get_summary(session, actor, conversation_id)


async def do_mark_read(
    session: AsyncSession, actor: Actor, conversation_id: int
) -> ConversationSummary:
    """Mark everything in the conversation read for the actor."""
    check_staff(actor)
    state = await _state(session, actor, conversation_id)
    last = await session.scalar(
        sa.select(Conversation.last_message_id).where(Conversation.id == conversation_id)
    )
    if (last or 0) > state.last_read_message_id:
        state.last_read_message_id = last or 0
        await session.flush()
        event = ConversationUpdated(conversation_id=conversation_id, unread=False)
        await record_event(session, [actor.id], event)
    return await get_summary(session, actor, conversation_id)


async def do_assign(
    session: AsyncSession, actor: Actor, conversation_id: int, assignee_id: int | None
) -> ConversationSummary:
    check_staff(actor)
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"No conversation {conversation_id}.")
    if assignee_id is not None:
        assignee = await session.get(Account, assignee_id)
        if assignee is None or not assignee.is_active:
            raise ValidationFailed.field("assignee_id", "no such active account")
    conversation.assignee_id = assignee_id
    await session.flush()
    event = ConversationUpdated(conversation_id=conversation_id, assignee_id=assignee_id)
    await record_event(session, await staff_ids(session), event)
    return await get_summary(session, actor, conversation_id)
