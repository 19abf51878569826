"""Lead queues: each user's saved views over leads and their prospects, with live counts.

A view's criteria are stored as JSON and turned into one WHERE clause, used both for the count
in the sidebar and for the page of leads, so the two always agree. Who sees a change: every
contact manager and admin gets `queue.updated` when leads change status or arrive, and refetches
the counts of their views (`list_queues`); a view's owner also gets it when one of their views
is saved, reordered or deleted, so their other tabs redraw the sidebar.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts.models import Prospect, ProspectKind
from inbox.conversations.models import Conversation
from inbox.core.access import Actor, check_staff
from inbox.core.model import utcnow
from inbox.core.schemas import Input
from inbox.errors import NotFound, ValidationFailed
from inbox.events.log import record_event, staff_ids
from inbox.events.types import QueueReason, QueueUpdated
from inbox.leads.models import FollowUpStatus, Lead, QualifyState
from inbox.queues.models import SavedView

QueueSort = Literal["newest", "oldest", "due", "name"]
Value = Annotated[str, msgspec.Meta(max_length=200)]
Values = Annotated[list[Value], msgspec.Meta(max_length=50)]
MAX_PAGE = 100
MAX_BULK = 500


class QueueCriteria(Input):
    """Each list means "any of these"; an empty list does not filter. Dates bound `created_at`
    (from inclusive, to exclusive)."""

    lead_type: Values = []
    source: Values = []
    category: Values = []
    purchase_timeframe: Values = []
    follow_up_status: list[FollowUpStatus] = []
    dealer: Values = []
    prospect_kind: list[ProspectKind] = []
    created_from: datetime | None = None
    created_to: datetime | None = None


ViewName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class QueueCreate(Input):
    name: ViewName
    criteria: QueueCriteria = msgspec.field(default_factory=QueueCriteria)
    sort: QueueSort = "newest"


class QueueUpdate(Input):
    name: ViewName | msgspec.UnsetType = msgspec.UNSET
    criteria: QueueCriteria | msgspec.UnsetType = msgspec.UNSET
    sort: QueueSort | msgspec.UnsetType = msgspec.UNSET


class QueueOrder(Input):
    """Every one of the user's view ids, in the order the user wants them."""

    ids: list[int]


class QueueRead(msgspec.Struct, kw_only=True):
    id: int
    name: str
    criteria: QueueCriteria
    sort: QueueSort
    position: int
    count: int


class QueueLead(msgspec.Struct, kw_only=True):
    id: int
    prospect_id: int
    prospect_name: str
    conversation_id: int
    lead_type: str
    source: str
    category: str
    purchase_timeframe: str
    follow_up_status: FollowUpStatus
    dealer: str
    qualify_state: QualifyState
    due_at: datetime | None
    created_at: datetime


class QueueLeads(msgspec.Struct, kw_only=True):
    items: list[QueueLead]
    count: int
    next_offset: int | None


class LeadStatusChange(Input):
    lead_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=MAX_BULK)]
    follow_up_status: FollowUpStatus


_LIST_COLUMNS: dict[str, Any] = {
    "lead_type": Lead.lead_type,
    "source": Lead.source,
    "category": Lead.category,
    "purchase_timeframe": Lead.purchase_timeframe,
    "follow_up_status": Lead.follow_up_status,
    "dealer": Lead.dealer,
    "prospect_kind": Prospect.kind,
}


def criteria_condition(criteria: QueueCriteria) -> sa.ColumnElement[bool]:
    """The WHERE clause of a view, over `lead` joined to `prospect`."""
    conditions: list[sa.ColumnElement[bool]] = []
    for name, column in _LIST_COLUMNS.items():
        values = getattr(criteria, name)
        if values:
            conditions.append(column.in_(sorted(set(values))))
    if criteria.created_from is not None:
        conditions.append(Lead.created_at >= criteria.created_from)
    if criteria.created_to is not None:
        conditions.append(Lead.created_at < criteria.created_to)
    return sa.and_(sa.true(), *conditions)


def _order(sort: QueueSort) -> list[sa.ColumnElement[Any]]:
    if sort == "oldest":
        return [Lead.created_at.asc(), Lead.id.asc()]
    if sort == "due":
        return [Lead.due_at.asc().nulls_last(), Lead.id.asc()]
    if sort == "name":
        return [
            sa.func.lower(Prospect.last_name).asc(),
            sa.func.lower(Prospect.first_name).asc(),
            Lead.id.asc(),
        ]
    return [Lead.created_at.desc(), Lead.id.desc()]


def _check_criteria(criteria: QueueCriteria) -> None:
    for name in ("created_from", "created_to"):
        value = getattr(criteria, name)
        if value is not None and value.tzinfo is None:
            raise ValidationFailed.field(f"criteria.{name}", "give a time zone (e.g. Z)")
    low, high = criteria.created_from, criteria.created_to
    if low is not None and high is not None and low >= high:
        raise ValidationFailed.field("criteria.created_to", "must be after created_from")


def _criteria_of(view: SavedView) -> QueueCriteria:
    return msgspec.convert(view.criteria, QueueCriteria)


async def _count(session: AsyncSession, criteria: QueueCriteria) -> int:
    query = sa.select(sa.func.count()).select_from(Lead)
    if criteria.prospect_kind:
        query = query.join(Prospect, Prospect.id == Lead.prospect_id)
    return int(await session.scalar(query.where(criteria_condition(criteria))) or 0)


async def _read(session: AsyncSession, view: SavedView) -> QueueRead:
    criteria = _criteria_of(view)
    return QueueRead(
        id=view.id,
        name=view.name,
        criteria=criteria,
        sort=view.sort,  # type: ignore[arg-type]
        position=view.position,
        count=await _count(session, criteria),
    )


async def _own_view(session: AsyncSession, actor: Actor, view_id: int) -> SavedView:
    view = await session.get(SavedView, view_id)
    # Views are private: someone else's is as good as missing.
    if view is None or view.account_id != actor.id:
        raise NotFound(f"No queue {view_id}.")
    return view


async def list_queues(session: AsyncSession, actor: Actor) -> list[QueueRead]:
    """The actor's views in their order, each with its current count."""
    check_staff(actor)
    views = await session.scalars(
        sa.select(SavedView)
        .where(SavedView.account_id == actor.id)
        .order_by(SavedView.position, SavedView.id)
    )
    return [await _read(session, view) for view in views]


async def do_create_queue(session: AsyncSession, actor: Actor, data: QueueCreate) -> QueueRead:
    """Save a view at the end of the actor's list."""
    check_staff(actor)
    _check_criteria(data.criteria)
    last = await session.scalar(
        sa.select(sa.func.max(SavedView.position)).where(SavedView.account_id == actor.id)
    )
    view = SavedView(
        account_id=actor.id,
        name=data.name.strip() or "Queue",
        criteria=msgspec.to_builtins(data.criteria),
        sort=data.sort,
        position=0 if last is None else last + 1,
    )
    session.add(view)
    await session.flush()
    await _views_changed(session, actor, "queue.saved", view.id)
    return await _read(session, view)


async def do_update_queue(
    session: AsyncSession, actor: Actor, view_id: int, data: QueueUpdate
) -> QueueRead:
    """Rename a view, change its criteria or its sort."""
    check_staff(actor)
    view = await _own_view(session, actor, view_id)
    if not isinstance(data.name, msgspec.UnsetType):
        view.name = data.name.strip() or view.name
    if not isinstance(data.criteria, msgspec.UnsetType):
        _check_criteria(data.criteria)
        view.criteria = msgspec.to_builtins(data.criteria)
    if not isinstance(data.sort, msgspec.UnsetType):
        view.sort = data.sort
    view.updated_at = utcnow()
    await session.flush()
    await _views_changed(session, actor, "queue.saved", view.id)
    return await _read(session, view)


async def do_delete_queue(session: AsyncSession, actor: Actor, view_id: int) -> None:
    """Delete one of the actor's views."""
    check_staff(actor)
    await session.delete(await _own_view(session, actor, view_id))
    await session.flush()
    await _views_changed(session, actor, "queue.deleted", view_id)


async def do_order_queues(session: AsyncSession, actor: Actor, data: QueueOrder) -> list[QueueRead]:
    """Arrange the actor's views; the ids must be exactly theirs, each once."""
    check_staff(actor)
    views = {
        v.id: v
        for v in await session.scalars(sa.select(SavedView).where(SavedView.account_id == actor.id))
    }
    if len(data.ids) != len(set(data.ids)) or set(data.ids) != set(views):
        raise ValidationFailed.field("ids", "must list each of your queues exactly once")
    for position, view_id in enumerate(data.ids):
        views[view_id].position = position
    await session.flush()
    await _views_changed(session, actor, "queues.ordered", None)
    return await list_queues(session, actor)


async def _views_changed(
    session: AsyncSession, actor: Actor, reason: QueueReason, queue_id: int | None
) -> None:
    """Views are private: only their owner's tabs hear of it."""
    await record_event(session, [actor.id], QueueUpdated(reason=reason, queue_id=queue_id))


async def list_queue_leads(
    session: AsyncSession, actor: Actor, view_id: int, *, offset: int = 0, limit: int = 50
) -> QueueLeads:
    """A page of the view's leads in its sort, with the view's count."""
    check_staff(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_PAGE}")
    view = await _own_view(session, actor, view_id)
    criteria = _criteria_of(view)
    rows = (
        await session.execute(
            sa.select(Lead, Prospect.first_name, Prospect.last_name, Conversation.id)
            .join(Prospect, Prospect.id == Lead.prospect_id)
            .join(Conversation, Conversation.prospect_id == Lead.prospect_id)
            .where(criteria_condition(criteria))
            .order_by(*_order(view.sort))  # type: ignore[arg-type]
            .offset(offset)
            .limit(limit + 1)
        )
    ).all()
    items = [_queue_lead(*row) for row in rows[:limit]]
    return QueueLeads(
        items=items,
        count=await _count(session, criteria),
        next_offset=offset + limit if len(rows) > limit else None,
    )


def _queue_lead(lead: Lead, first: str, last: str, conversation_id: int) -> QueueLead:
    return QueueLead(
        id=lead.id,
        prospect_id=lead.prospect_id,
        prospect_name=f"{first} {last}".strip() or f"Prospect {lead.prospect_id}",
        conversation_id=conversation_id,
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


async def do_set_follow_up_status(
    session: AsyncSession, actor: Actor, data: LeadStatusChange
) -> list[int]:
    """Set the follow-up status of the selected leads; all of them or, if one is missing, none.
    Returns the ids whose status changed."""
    check_staff(actor)
    wanted = sorted(set(data.lead_ids))
    found = set(await session.scalars(sa.select(Lead.id).where(Lead.id.in_(wanted))))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"No lead {', '.join(map(str, missing))}.", extra={"missing": missing})
    result = await session.execute(
        sa.update(Lead)
        .where(Lead.id.in_(wanted), Lead.follow_up_status != data.follow_up_status)
        .values(follow_up_status=data.follow_up_status)
        .returning(Lead.id, Lead.prospect_id)
    )
    changed = sorted(result.all())
    if changed:
        prospect_ids = sorted({prospect_id for _, prospect_id in changed})
        event = QueueUpdated(
            reason="status.changed",
            prospect_id=prospect_ids[0] if len(prospect_ids) == 1 else None,
            prospect_ids=prospect_ids,
            lead_ids=[lead_id for lead_id, _ in changed],
            follow_up_status=data.follow_up_status,
        )
        await record_event(session, await staff_ids(session), event)
    return [lead_id for lead_id, _ in changed]
