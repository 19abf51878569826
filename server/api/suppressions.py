"""The suppression list (admin): addresses that hard-bounced, and resetting them."""

from __future__ import annotations

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.email.suppression import SuppressionRead, do_reset_suppression, list_suppressed


class SuppressionController(Controller):
    path = "/suppressions"
    tags = ["suppressions"]

    @get("/")
    async def list_(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[SuppressionRead]:
        """Every suppressed address with why (admin)."""
        return await list_suppressed(session, actor)

    @delete("/{address:str}", status_code=204)
    async def reset(
        self,
        address: FromPath[str],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> None:
        """Let an address be emailed again (admin)."""
        await do_reset_suppression(session, actor, address)
