"""The signed-in user's dashboard."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.dashboard.service import DashboardRead, get_dashboard
from server.services import Services


class DashboardController(Controller):
    path = "/dashboard"
    tags = ["dashboard"]

    @get("/")
    async def read(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> DashboardRead:
        """Conversations waiting longest for a reply, my open tasks, my queues with counts."""
        return await get_dashboard(session, actor, services.clock.now())
