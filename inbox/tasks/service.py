"""Tasks on prospects: create, edit, complete, reopen, delete; the grid; the overdue notice.

Any contact manager or admin creates tasks and reads every task. Changing one (editing its
description or due time, reassigning it, completing, reopening, deleting) is for its author, its
current assignee or an admin: `may_change` is that rule, each change checks it on the row it is
about to change, and each read carries it for the viewer as `can_edit`.

A task's status is derived from its due time and completion at the moment it is read, so the
clock decides it, not a stored column: complete when completed, overdue when not completed and
past due, incomplete otherwise. The overdue notification is the scheduler's job: a conditional
UPDATE claims each task's notice once, whatever number of workers run the pass.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Account
from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation
from inbox.core.access import Actor, check_staff, is_owner_or_admin
from inbox.core.ports import EventPublisher
from inbox.core.schemas import Input
from inbox.errors import NotFound, PermissionDenied, ValidationFailed
from inbox.events.log import commit_and_publish, record_event, staff_ids
from inbox.events.types import TaskChange, TaskUpdated
from inbox.notifications.service import do_notify
from inbox.tasks.models import Task

MAX_PAGE = 200
OVERDUE_BATCH = 100
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class TaskStatus(enum.StrEnum):
    INCOMPLETE = "incomplete"
    OVERDUE = "overdue"
    COMPLETE = "complete"


# "open" is incomplete or overdue: what still has to be done.
StatusFilter = Literal["open", "incomplete", "overdue", "complete", "all"]


class TaskCreate(Input):
    prospect_id: int
    description: Description
    due_at: datetime
    # Unset means the author.
    assignee_id: int | msgspec.UnsetType | None = msgspec.UNSET


class TaskUpdate(Input):
    description: Description | msgspec.UnsetType = msgspec.UNSET
    due_at: datetime | msgspec.UnsetType = msgspec.UNSET
    assignee_id: int | msgspec.UnsetType | None = msgspec.UNSET


class TaskRead(msgspec.Struct, kw_only=True):
    id: int
    prospect_id: int
    prospect_name: str
    conversation_id: int
    description: str
    due_at: datetime
    status: TaskStatus
    assignee_id: int | None
    assignee_name: str
    created_by_id: int | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Whether the account reading it may change it (edit, reassign, complete, reopen, delete).
    can_edit: bool


class TaskFilter(msgspec.Struct, kw_only=True):
    """The grid's filter. The default is what the grid opens on: mine, not complete.
    `assignee_id=None` with `any_assignee=True` clears the assignee filter."""

    status: StatusFilter = "open"
    assignee_id: int | None = None
    any_assignee: bool = False
    prospect_id: int | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None


class TaskPage(msgspec.Struct, kw_only=True):
    items: list[TaskRead]
    count: int
    next_offset: int | None


def task_status(task: Task, now: datetime) -> TaskStatus:
    """Complete, overdue (not done, past due) or incomplete (not done, not yet due)."""
    if task.completed_at is not None:
        return TaskStatus.COMPLETE
    return TaskStatus.OVERDUE if task.due_at <= now else TaskStatus.INCOMPLETE


def status_condition(status: StatusFilter, now: datetime) -> sa.ColumnElement[bool]:
    """The same rule as `task_status`, as SQL."""
    open_ = Task.completed_at.is_(None)
    if status == "open":
        return open_
    if status == "incomplete":
        return sa.and_(open_, Task.due_at > now)
    if status == "overdue":
        return sa.and_(open_, Task.due_at <= now)
    if status == "complete":
        return Task.completed_at.is_not(None)
    return sa.true()


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed.field(name, "give a time zone (e.g. Z)")


_Assignee = sa.orm.aliased(Account)


def _task_query() -> sa.Select[Task, str, str, int, str]:
    return (
        sa.select(Task, Prospect.first_name, Prospect.last_name, Conversation.id, _Assignee.name)
        .join(Prospect, Prospect.id == Task.prospect_id)
        .join(Conversation, Conversation.prospect_id == Task.prospect_id)
        .outerjoin(_Assignee, _Assignee.id == Task.assignee_id)
    )


def may_change(actor: Actor, task: Task) -> bool:
    """The rule for every change to a task: its author, its assignee or an admin."""
    return is_owner_or_admin(actor, task.created_by_id, task.assignee_id)


def _prospect_name(prospect_id: int, first: str, last: str) -> str:
    return f"{first} {last}".strip() or f"Prospect {prospect_id}"


def _read(row: Any, now: datetime, viewer: Actor) -> TaskRead:
    task, first, last, conversation_id, assignee_name = row
    return TaskRead(
        id=task.id,
        prospect_id=task.prospect_id,
        prospect_name=_prospect_name(task.prospect_id, first, last),
        conversation_id=conversation_id,
        description=task.description,
        due_at=task.due_at,
        status=task_status(task, now),
        assignee_id=task.assignee_id,
        assignee_name=assignee_name or "",
        created_by_id=task.created_by_id,
        completed_at=task.completed_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
        can_edit=may_change(viewer, task),
    )


async def get_task(session: AsyncSession, actor: Actor, task_id: int, now: datetime) -> TaskRead:
    """One task with its status at `now`, and whether the actor may change it."""
    check_staff(actor)
    row = (await session.execute(_task_query().where(Task.id == task_id))).first()
    if row is None:
        raise NotFound(f"No task {task_id}.")
    return _read(row, now, actor)


async def list_tasks(
    session: AsyncSession,
    actor: Actor,
    filter_: TaskFilter,
    now: datetime,
    *,
    offset: int = 0,
    limit: int = 50,
) -> TaskPage:
    """The task grid: soonest due first (so overdue ones lead), with the filtered count."""
    check_staff(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_PAGE}")
    _aware("due_from", filter_.due_from)
    _aware("due_to", filter_.due_to)
    conditions = [status_condition(filter_.status, now)]
    if not filter_.any_assignee:
        assignee = filter_.assignee_id if filter_.assignee_id is not None else actor.id
        conditions.append(Task.assignee_id == assignee)
    if filter_.prospect_id is not None:
        conditions.append(Task.prospect_id == filter_.prospect_id)
    if filter_.due_from is not None:
        conditions.append(Task.due_at >= filter_.due_from)
    if filter_.due_to is not None:
        conditions.append(Task.due_at < filter_.due_to)
    where = sa.and_(*conditions)
    rows = (
        await session.execute(
            _task_query()
            .where(where)
            .order_by(Task.due_at, Task.id)
            .offset(offset)
            .limit(limit + 1)
        )
    ).all()
    count = await session.scalar(sa.select(sa.func.count()).select_from(Task).where(where))
    return TaskPage(
        items=[_read(r, now, actor) for r in rows[:limit]],
        count=int(count or 0),
        next_offset=offset + limit if len(rows) > limit else None,
    )


async def count_open_tasks(session: AsyncSession, prospect_ids: list[int]) -> dict[int, int]:
    """Outstanding (not complete) tasks per prospect; prospects without any are left out."""
    if not prospect_ids:
        return {}
    rows = await session.execute(
        sa.select(Task.prospect_id, sa.func.count())
        .where(Task.prospect_id.in_(prospect_ids), Task.completed_at.is_(None))
        .group_by(Task.prospect_id)
    )
    return {prospect_id: int(n) for prospect_id, n in rows.all()}


async def _check_assignee(session: AsyncSession, assignee_id: int | None) -> None:
    if assignee_id is None:
        return
    account = await session.get(Account, assignee_id)
    if account is None or not account.is_active:
        raise ValidationFailed.field("assignee_id", "no such active account")


async def _announce(session: AsyncSession, task: Task, now: datetime, change: TaskChange) -> None:
    event = TaskUpdated(
        task_id=task.id,
        prospect_id=task.prospect_id,
        assignee_id=task.assignee_id,
        status=task_status(task, now).value,
        change=change,
    )
    await record_event(session, await staff_ids(session), event)


async def do_create_task(
    session: AsyncSession, actor: Actor, data: TaskCreate, now: datetime
) -> TaskRead:
    """A task on a prospect, assigned to the author unless someone else (or nobody) is named."""
    check_staff(actor)
    _aware("due_at", data.due_at)
    if await session.get(Prospect, data.prospect_id) is None:
        raise ValidationFailed.field("prospect_id", "no such prospect")
    assignee_id = actor.id if isinstance(data.assignee_id, msgspec.UnsetType) else data.assignee_id
    await _check_assignee(session, assignee_id)
    task = Task(
        prospect_id=data.prospect_id,
        description=data.description.strip() or data.description,
        due_at=data.due_at,
        assignee_id=assignee_id,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    await _announce(session, task, now, change="created")
    return await get_task(session, actor, task.id, now)


async def _load_to_change(session: AsyncSession, actor: Actor, task_id: int, what: str) -> Task:
    """The task, once the actor is known to be allowed to `what` it. The check runs before
    anything is written, on the row as committed (PostgreSQL: locked until commit, so a
    concurrent reassignment cannot slip between the check and the change; SQLite's write
    transaction already holds the database's write lock)."""
    check_staff(actor)
    task = await session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"No task {task_id}.")
    if not may_change(actor, task):
        raise PermissionDenied(f"Only the task's author, its assignee or an admin may {what} it.")
    return task


async def do_update_task(
    session: AsyncSession, actor: Actor, task_id: int, data: TaskUpdate, now: datetime
) -> TaskRead:
    """Edit the description, due time or assignee (its author, its assignee or an admin; a
    reassigned task is then the new assignee's to change, and no longer the old one's unless
    they wrote it). A new due time re-arms the overdue notice."""
    what = "reassign" if not isinstance(data.assignee_id, msgspec.UnsetType) else "edit"
    task = await _load_to_change(session, actor, task_id, what)
    if not isinstance(data.description, msgspec.UnsetType):
        task.description = data.description.strip() or data.description
    if not isinstance(data.due_at, msgspec.UnsetType):
        _aware("due_at", data.due_at)
        if data.due_at != task.due_at:
            task.due_at = data.due_at
            task.overdue_notified_at = None
    if not isinstance(data.assignee_id, msgspec.UnsetType):
        await _check_assignee(session, data.assignee_id)
        task.assignee_id = data.assignee_id
    task.updated_at = now
    await session.flush()
    await _announce(session, task, now, change="updated")
    return await get_task(session, actor, task_id, now)


async def do_complete_task(
    session: AsyncSession, actor: Actor, task_id: int, now: datetime, *, done: bool = True
) -> TaskRead:
    """Complete a task, or (done=False) reopen it (its author, its assignee or an admin).
    Doing what is already done changes nothing."""
    task = await _load_to_change(session, actor, task_id, "complete" if done else "reopen")
    if (task.completed_at is not None) != done:
        task.completed_at = now if done else None
        task.updated_at = now
        await session.flush()
        await _announce(session, task, now, change="completed" if done else "reopened")
    return await get_task(session, actor, task_id, now)


async def do_delete_task(session: AsyncSession, actor: Actor, task_id: int, now: datetime) -> None:
    """Only its author, its assignee or an admin may delete a task."""
    task = await _load_to_change(session, actor, task_id, "delete")
    await _announce(session, task, now, change="deleted")
    await session.delete(task)
    await session.flush()


async def do_notify_overdue(
    session: AsyncSession, now: datetime, *, limit: int = OVERDUE_BATCH
) -> list[int]:
    """Claim up to `limit` tasks that became overdue and have no notice yet, notify each
    assignee, and return the task ids. The claim is a conditional UPDATE: a concurrent pass
    (another worker) skips rows this one holds and finds them already claimed after commit."""
    due = sa.and_(
        Task.completed_at.is_(None),
        Task.overdue_notified_at.is_(None),
        Task.due_at <= now,
        Task.assignee_id.is_not(None),
    )
    candidates = sa.select(Task.id).where(due).order_by(Task.id).limit(limit)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # Two statements: inside one UPDATE, PostgreSQL may re-run a LIMIT ... SKIP LOCKED subquery
    # and so claim more than the batch. The rows stay locked (SQLite: the write lock) until commit.
    batch = list(await session.scalars(candidates))
    if not batch:
        return []
    result = await session.execute(
        sa.update(Task)
        .where(Task.id.in_(batch), due)
        .values(overdue_notified_at=now)
        .returning(Task.id)
    )
    claimed = sorted(result.scalars().all())
    for task_id in claimed:
        row = (await session.execute(_task_query().where(Task.id == task_id))).one()
        task: Task = row[0]
        first, last, conversation_id = row[1], row[2], row[3]
        assert task.assignee_id is not None
        await do_notify(
            session,
            [task.assignee_id],
            kind="task_overdue",
            title=f"Task overdue: {_prospect_name(task.prospect_id, first, last)}",
            body=task.description[:200],
            conversation_id=conversation_id,
        )
        await _announce(session, task, now, change="overdue")
    return claimed


async def notify_overdue_tasks(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: EventPublisher, now: datetime
) -> int:
    """One scheduler pass: notify every task overdue at `now`, a committed batch at a time."""
    total = 0
    while True:
        async with sessionmaker() as session:
            claimed = await do_notify_overdue(session, now)
            await commit_and_publish(session, publisher)
        total += len(claimed)
        if len(claimed) < OVERDUE_BATCH:
            return total
