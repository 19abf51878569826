"""Conversations: the filtered list, the thread, flags, read state, assignment, sending."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.schemas import (
    ConversationCounts,
    ConversationFilter,
    ConversationPage,
    ConversationSummary,
    MessageCreate,
    MessagePage,
    MessageRead,
    ThreadRead,
)
from inbox.conversations.sending import do_send_message
from inbox.conversations.service import (
    count_conversations,
    do_assign,
    do_mark_read,
    do_set_flag,
    get_thread,
    list_conversations,
    list_messages,
)
from inbox.core.access import Actor
from server.api.params import Id, OptionalId
from server.problems import answers
from server.services import Services

Limit = Annotated[int, Parameter(ge=1, le=100)]


class AssignRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assignee_id: int | None


class ConversationController(Controller):
    path = "/conversations"
    tags = ["conversations"]

    @get("/")
    async def list_(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        filter: FromQuery[ConversationFilter] = "all",
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[Limit] = 50,
    ) -> ConversationPage:
        """Newest activity first; pass `next_cursor` back as `cursor` for the next page. `seq`
        is the event sequence the page is consistent with."""
        return await list_conversations(session, actor, filter, cursor=cursor, limit=limit)

    @get("/counts")
    async def counts(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> ConversationCounts:
        """Every sidebar filter's count at once, with the event `seq` they are consistent with;
        refetch on `conversation.updated` and `message.created`."""
        return await count_conversations(session, actor)

    @get("/{conversation_id:int}")
    async def thread(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ThreadRead:
        """The conversation, its prospect, and its newest 40 messages oldest first; pass
        `earlier_cursor` to `GET .../messages` for older ones. `seq` is the event sequence the
        snapshot is consistent with: apply only events above it."""
        return await get_thread(session, actor, conversation_id)

    @get("/{conversation_id:int}/messages")
    async def messages(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        cursor: FromQuery[str | None] = None,
        after: FromQuery[OptionalId] = None,
        limit: FromQuery[Limit] = 100,
    ) -> MessagePage:
        """A page of the thread, oldest first: the messages before `cursor` (an
        `earlier_cursor`), or those after the message id `after` (what arrived since)."""
        return await list_messages(
            session, actor, conversation_id, cursor=cursor, after=after, limit=limit
        )

    @put("/{conversation_id:int}/flag")
    async def flag(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ConversationSummary:
        """Flag for me."""
        return await do_set_flag(session, actor, conversation_id, True)

    @delete("/{conversation_id:int}/flag", status_code=200)
    async def unflag(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ConversationSummary:
        """Remove my flag."""
        return await do_set_flag(session, actor, conversation_id, False)

    @post("/{conversation_id:int}/read", status_code=200)
    async def read(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ConversationSummary:
        """Mark everything read for me."""
        return await do_mark_read(session, actor, conversation_id)

    @put("/{conversation_id:int}/assignee")
    async def assign(
        self,
        conversation_id: FromPath[Id],
        data: JSONBody[AssignRequest],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ConversationSummary:
        return await do_assign(session, actor, conversation_id, data.assignee_id)

    @post("/{conversation_id:int}/messages", status_code=202, opt=answers(409, 422))
    async def send(
        self,
        conversation_id: FromPath[Id],
        data: JSONBody[MessageCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> MessageRead:
        """Queue an email or SMS; delivery status follows as `message.updated` events."""
        return await do_send_message(
            session, actor, conversation_id, data, context=services.send_context
        )
