"""SMS: segment counts for a draft, a prospect's SMS status and consent, number lookups, and
the demo's simulated inbound text."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.schemas import MessageRead
from inbox.core.access import Actor, check_staff
from inbox.errors import NotFound
from inbox.sms.consent import (
    ConsentUpdate,
    PhoneLookupCreate,
    PhoneLookupRead,
    SmsStatusRead,
    do_set_consent,
    do_set_lookup,
    get_sms_status,
)
from inbox.sms.messages import SimulatedSms, do_simulate_inbound_sms
from inbox.sms.segments import SmsSegments, SmsSegmentsRequest, count_segments
from server.api.params import Id
from server.services import Services


class SmsController(Controller):
    path = "/sms"
    tags = ["sms"]

    @post("/segments", status_code=200)
    async def segments(
        self, data: JSONBody[SmsSegmentsRequest], actor: NamedDependency[Actor]
    ) -> SmsSegments:
        """How a draft text will be sent: GSM-7 or UCS-2, and in how many segments."""
        check_staff(actor)
        return count_segments(data.body)

    @post("/lookups", status_code=200)
    async def lookup(
        self,
        data: JSONBody[PhoneLookupCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> PhoneLookupRead:
        """Record whether a number takes texts (a carrier lookup); it overrides the number type."""
        return await do_set_lookup(session, actor, data, region=services.settings.phone_region)


class ProspectSmsController(Controller):
    path = "/prospects/{prospect_id:int}/sms"
    tags = ["sms"]

    @get("/")
    async def status(
        self,
        prospect_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SmsStatusRead:
        """Green, red or grey with the reason, each number's capability, the consent history."""
        return await get_sms_status(session, actor, prospect_id)

    @post("/consent", status_code=200)
    async def consent(
        self,
        prospect_id: FromPath[Id],
        data: JSONBody[ConsentUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> SmsStatusRead:
        """Opt the prospect in or out by hand; the ledger records who and why."""
        return await do_set_consent(session, actor, prospect_id, data)


class DemoSmsController(Controller):
    path = "/demo/sms"
    tags = ["sms"]

    @post("/inbound", status_code=201)
    async def inbound(
        self,
        data: JSONBody[SimulatedSms],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> MessageRead:
        """Receive a text as if the prospect's phone had sent it (demo and dev modes only)."""
        settings = services.settings
        if settings.mode == "production":
            raise NotFound("Simulated texts exist only in demo and dev modes.")
        return await do_simulate_inbound_sms(
            session,
            actor,
            data,
            store=services.attachments,
            region=settings.phone_region,
            help_reply=settings.sms.help_reply,
        )
