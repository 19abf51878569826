"""The dashboard: who is waiting for an answer, my outstanding tasks, my queues with counts.

Everything here is a read of state that already has events, so a client keeps it live by
refetching on `conversation.updated`, `message.created`, `task.updated` and `queue.updated`.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation, Direction, Message
from inbox.core.access import Actor, check_staff
from inbox.queues.service import QueueRead, list_queues
from inbox.tasks.models import Task
from inbox.tasks.service import TaskFilter, TaskRead, list_tasks, status_condition

WIDGET_ROWS = 10


class WaitingConversation(msgspec.Struct, kw_only=True):
    conversation_id: int
    prospect_id: int
    prospect_name: str
    assignee_id: int | None
    preview: str
    # When the prospect's unanswered message came in, and how long ago that was.
    waiting_since: datetime
    wait_seconds: int


class DashboardRead(msgspec.Struct, kw_only=True):
    at: datetime
    needs_follow_up: list[WaitingConversation]
    needs_follow_up_count: int
    my_tasks: list[TaskRead]
    my_open_tasks: int
    my_overdue_tasks: int
    queues: list[QueueRead]


async def _waiting(session: AsyncSession, now: datetime) -> list[WaitingConversation]:
    rows = await session.execute(
        sa.select(Conversation, Prospect.first_name, Prospect.last_name, Message)
        .join(Prospect, Prospect.id == Conversation.prospect_id)
        .outerjoin(Message, Message.id == Conversation.last_message_id)
        .where(Conversation.last_human_direction == Direction.INBOUND)
        .order_by(Conversation.last_activity_at, Conversation.id)
        .limit(WIDGET_ROWS)
    )
    waiting = []
    for conversation, first, last, message in rows.all():
        since = conversation.last_activity_at
        preview = (message.body_text or message.subject) if message is not None else ""
        waiting.append(
            WaitingConversation(
                conversation_id=conversation.id,
                prospect_id=conversation.prospect_id,
                prospect_name=f"{first} {last}".strip() or f"Prospect {conversation.prospect_id}",
                assignee_id=conversation.assignee_id,
                preview=preview.strip().replace("\n", " ")[:160],
                waiting_since=since,
                wait_seconds=max(0, int((now - since).total_seconds())),
            )
        )
    return waiting


async def _count(session: AsyncSession, *conditions: sa.ColumnElement[bool]) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).where(*conditions)) or 0)


async def get_dashboard(session: AsyncSession, actor: Actor, now: datetime) -> DashboardRead:
    """The actor's dashboard at `now`: conversations needing a reply (oldest first), the
    actor's open tasks (soonest due first, so overdue ones lead) and the actor's queues."""
    check_staff(actor)
    tasks = await list_tasks(session, actor, TaskFilter(), now, limit=WIDGET_ROWS)
    return DashboardRead(
        at=now,
        needs_follow_up=await _waiting(session, now),
        needs_follow_up_count=await _count(
            session, Conversation.last_human_direction == Direction.INBOUND
        ),
        my_tasks=tasks.items,
        my_open_tasks=tasks.count,
        my_overdue_tasks=await _count(
            session, Task.assignee_id == actor.id, status_condition("overdue", now)
        ),
        queues=await list_queues(session, actor),
    )
