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
    ConversationSummary,
    MessageCreate,
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
)
from inbox.core.access import Actor
from inbox.core.schemas import Page
from server.api.params import Id
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
    ) -> Page[ConversationSummary]:
        """Newest activity first; pass `next_cursor` back as `cursor` for the next page."""
        return await list_conversations(session, actor, filter, cursor=cursor, limit=limit)

    @get("/counts")
    async def counts(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> ConversationCounts:
        """Every sidebar filter's count at once; refetch on `conversation.updated` and
        `message.created`."""
        return await count_conversations(session, actor)

    @get("/{conversation_id:int}")
    async def thread(
        self,
        conversation_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ThreadRead:
        """The conversation, its prospect, and every message oldest first."""
        return await get_thread(session, actor, conversation_id)

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
