"""The signed-in account's event log, for catching up over HTTP."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.events.log import list_events_after
from inbox.events.schemas import EventRead
from server.api.params import Offset


class EventController(Controller):
    path = "/events"
    tags = ["events"]

    @get("/")
    async def list_(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        after: FromQuery[Offset] = 0,
    ) -> list[EventRead]:
        """My events with a sequence number above `after`, oldest first (at most 500)."""
        return await list_events_after(session, actor.id, after)
