"""Lead queues (the signed-in user's saved views) and bulk follow-up status changes."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.queues.service import (
    LeadStatusChange,
    QueueCreate,
    QueueLeads,
    QueueOrder,
    QueueRead,
    QueueUpdate,
    do_create_queue,
    do_delete_queue,
    do_order_queues,
    do_set_follow_up_status,
    do_update_queue,
    list_queue_leads,
    list_queues,
)
from server.api.params import Id, Offset
from server.problems import answers

Limit = Annotated[int, Parameter(ge=1, le=100)]


class StatusChanged(msgspec.Struct, kw_only=True):
    changed_lead_ids: list[int]


class QueueController(Controller):
    path = "/queues"
    tags = ["queues"]

    @get("/")
    async def list_(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[QueueRead]:
        """My queues in my order, each with its live count (refetch on `queue.updated`)."""
        return await list_queues(session, actor)

    @post("/")
    async def create(
        self,
        data: JSONBody[QueueCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> QueueRead:
        """Save a view; it goes last in my list."""
        return await do_create_queue(session, actor, data)

    @put("/order")
    async def order(
        self,
        data: JSONBody[QueueOrder],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> list[QueueRead]:
        """Arrange my queues: every id of mine, once, in the new order."""
        return await do_order_queues(session, actor, data)

    @patch("/{queue_id:int}")
    async def update(
        self,
        queue_id: FromPath[Id],
        data: JSONBody[QueueUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> QueueRead:
        return await do_update_queue(session, actor, queue_id, data)

    @delete("/{queue_id:int}")
    async def remove(
        self,
        queue_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> None:
        await do_delete_queue(session, actor, queue_id)

    @get("/{queue_id:int}/leads")
    async def leads(
        self,
        queue_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        offset: FromQuery[Offset] = 0,
        limit: FromQuery[Limit] = 50,
    ) -> QueueLeads:
        """A page of the queue's leads in its sort, with its count."""
        return await list_queue_leads(session, actor, queue_id, offset=offset, limit=limit)


class LeadController(Controller):
    path = "/leads"
    tags = ["queues"]

    @post("/follow-up-status", status_code=200, opt=answers(404))
    async def set_status(
        self,
        data: JSONBody[LeadStatusChange],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> StatusChanged:
        """Set the follow-up status of selected leads (all or none)."""
        return StatusChanged(changed_lead_ids=await do_set_follow_up_status(session, actor, data))
