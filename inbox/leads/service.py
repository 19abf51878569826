"""Leads, and the rule that reaching a prospect marks their leads Contacted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts.models import Prospect
from inbox.core.access import Actor, check_staff
from inbox.errors import NotFound
from inbox.events.log import record_event, staff_ids
from inbox.events.types import QueueReason, QueueUpdated
from inbox.leads.models import FollowUpStatus, Lead
from inbox.leads.schemas import LeadCreate, LeadRead


def lead_read(lead: Lead) -> LeadRead:
    return LeadRead(
        id=lead.id,
        prospect_id=lead.prospect_id,
        lead_type=lead.lead_type,
        source=lead.source,
        category=lead.category,
        purchase_timeframe=lead.purchase_timeframe,
        follow_up_status=lead.follow_up_status,
        dealer=lead.dealer,
        qualify_state=lead.qualify_state,
        due_at=lead.due_at,
        created_at=lead.created_at,
    )


async def do_add_lead(
    session: AsyncSession, actor: Actor, prospect_id: int, data: LeadCreate
) -> LeadRead:
    """A new lead always starts Not Contacted, whatever was sent to the prospect before."""
    check_staff(actor)
    if await session.get(Prospect, prospect_id) is None:
        raise NotFound(f"No prospect {prospect_id}.")
    lead = Lead(
        prospect_id=prospect_id,
        lead_type=data.lead_type.strip(),
        source=data.source.strip(),
        category=data.category.strip(),
        purchase_timeframe=data.purchase_timeframe.strip(),
        dealer=data.dealer.strip(),
        due_at=data.due_at,
        follow_up_status=FollowUpStatus.NOT_CONTACTED,
    )
    session.add(lead)
    await session.flush()
    await record_event(
        session, await staff_ids(session), _leads_changed(prospect_id, [lead.id], "lead.created")
    )
    return lead_read(lead)


async def list_leads(session: AsyncSession, actor: Actor, prospect_id: int) -> list[LeadRead]:
    check_staff(actor)
    rows = await session.scalars(
        sa.select(Lead).where(Lead.prospect_id == prospect_id).order_by(Lead.created_at, Lead.id)
    )
    return [lead_read(lead) for lead in rows]


async def do_mark_contacted(session: AsyncSession, prospect_id: int, at: datetime) -> list[int]:
    """Turn every Not Contacted lead of the prospect that exists at `at` into Contacted."""
    result = await session.execute(
        sa.update(Lead)
        .where(
            Lead.prospect_id == prospect_id,
            Lead.follow_up_status == FollowUpStatus.NOT_CONTACTED,
            Lead.created_at <= at,
        )
        .values(follow_up_status=FollowUpStatus.CONTACTED)
        .returning(Lead.id)
    )
    lead_ids = sorted(result.scalars().all())
    if lead_ids:
        event = _leads_changed(prospect_id, lead_ids, "prospect.contacted")
        await record_event(session, await staff_ids(session), event)
    return lead_ids


def _leads_changed(prospect_id: int, lead_ids: list[int], reason: QueueReason) -> QueueUpdated:
    """One prospect's leads changed: the queues' counts may have."""
    return QueueUpdated(
        reason=reason, prospect_id=prospect_id, prospect_ids=[prospect_id], lead_ids=lead_ids
    )
