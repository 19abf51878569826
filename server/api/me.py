"""The signed-in account's own sender profile and signatures."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.sender_profiles import (
    SenderProfileRead,
    SenderProfileUpdate,
    SignaturesRead,
    SignaturesUpdate,
    do_update_sender_profile,
    do_update_signatures,
    get_sender_profile,
    get_signatures,
)
from inbox.core.access import Actor


class MeController(Controller):
    path = "/me"
    tags = ["me"]

    @get("/profile")
    async def profile(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> SenderProfileRead:
        """My From name and address."""
        return await get_sender_profile(session, actor)

    @put("/profile")
    async def update_profile(
        self,
        data: JSONBody[SenderProfileUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SenderProfileRead:
        """Change my From name and address."""
        return await do_update_sender_profile(session, actor, data)

    @get("/signatures")
    async def signatures(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> SignaturesRead:
        """My first-contact and reply signatures (sanitized HTML)."""
        return await get_signatures(session, actor)

    @put("/signatures")
    async def update_signatures(
        self,
        data: JSONBody[SignaturesUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SignaturesRead:
        """Change either or both signatures; the HTML is sanitized like a message body."""
        return await do_update_signatures(session, actor, data)
