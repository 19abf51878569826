"""Prospects and their leads."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts.prospects import (
    do_create_prospect,
    do_update_prospect,
    find_prospects,
    get_prospect,
)
from inbox.contacts.schemas import ProspectCreate, ProspectRead, ProspectUpdate
from inbox.core.access import Actor
from inbox.leads.schemas import LeadCreate, LeadRead
from inbox.leads.service import do_add_lead, list_leads
from server.api.params import Id
from server.services import Services

Query = Annotated[str, Parameter(min_length=1, max_length=200)]


class ProspectController(Controller):
    path = "/prospects"
    tags = ["prospects"]

    @get("/")
    async def find(
        self,
        q: FromQuery[Query],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> list[ProspectRead]:
        """Find prospects by name, email, or any phone in any format."""
        return await find_prospects(session, actor, q, region=services.settings.phone_region)

    @post("/")
    async def create(
        self,
        data: JSONBody[ProspectCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> ProspectRead:
        """Create a prospect (and its conversation)."""
        return await do_create_prospect(session, actor, data, region=services.settings.phone_region)

    @get("/{prospect_id:int}")
    async def read(
        self,
        prospect_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> ProspectRead:
        return await get_prospect(session, actor, prospect_id)

    @patch("/{prospect_id:int}")
    async def update(
        self,
        prospect_id: FromPath[Id],
        data: JSONBody[ProspectUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> ProspectRead:
        return await do_update_prospect(
            session, actor, prospect_id, data, region=services.settings.phone_region
        )

    @get("/{prospect_id:int}/leads")
    async def leads(
        self,
        prospect_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> list[LeadRead]:
        return await list_leads(session, actor, prospect_id)

    @post("/{prospect_id:int}/leads")
    async def add_lead(
        self,
        prospect_id: FromPath[Id],
        data: JSONBody[LeadCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> LeadRead:
        """Add a lead; it starts Not Contacted."""
        return await do_add_lead(session, actor, prospect_id, data)
