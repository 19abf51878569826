"""Tasks on prospects and the task grid. Any contact manager creates and reads tasks; only a
task's author, its assignee or an admin changes one (the domain refuses anyone else: 403)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from inbox.errors import ValidationFailed
from inbox.tasks.service import (
    StatusFilter,
    TaskCreate,
    TaskFilter,
    TaskPage,
    TaskRead,
    TaskUpdate,
    do_complete_task,
    do_create_task,
    do_delete_task,
    do_update_task,
    get_task,
    list_tasks,
)
from server.api.params import Id, Offset, OptionalId
from server.input_guard import INT64_MAX
from server.services import Services

Limit = Annotated[int, Parameter(ge=1, le=200)]
Assignee = Annotated[str, Parameter(pattern=r"^(me|any|[0-9]{1,19})$")]


def _assignee_filter(assignee: str) -> tuple[int | None, bool]:
    """`me` (the default), `any`, or an account id."""
    if assignee == "me":
        return None, False
    if assignee == "any":
        return None, True
    # ASCII digits only: `str.isdigit` also says yes to "³", which `int` refuses.
    if assignee.isascii() and assignee.isdigit() and 1 <= int(assignee) <= INT64_MAX:
        return int(assignee), False
    raise ValidationFailed.field("assignee", "expected me, any or an account id")


class TaskController(Controller):
    path = "/tasks"
    tags = ["tasks"]

    @get("/")
    async def grid(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
        status: FromQuery[StatusFilter] = "open",
        assignee: FromQuery[Assignee] = "me",
        prospect_id: FromQuery[OptionalId] = None,
        due_from: FromQuery[datetime | None] = None,
        due_to: FromQuery[datetime | None] = None,
        offset: FromQuery[Offset] = 0,
        limit: FromQuery[Limit] = 50,
    ) -> TaskPage:
        """Opens on my tasks that are not complete; `assignee=any&status=all` clears that."""
        assignee_id, any_assignee = _assignee_filter(assignee)
        filter_ = TaskFilter(
            status=status,
            assignee_id=assignee_id,
            any_assignee=any_assignee,
            prospect_id=prospect_id,
            due_from=due_from,
            due_to=due_to,
        )
        now = services.clock.now()
        return await list_tasks(session, actor, filter_, now, offset=offset, limit=limit)

    @post("/")
    async def create(
        self,
        data: JSONBody[TaskCreate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> TaskRead:
        """A task on a prospect; assigned to me unless `assignee_id` says otherwise."""
        return await do_create_task(session, actor, data, services.clock.now())

    @get("/{task_id:int}")
    async def read(
        self,
        task_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> TaskRead:
        """A task; `can_edit` says whether I may change it."""
        return await get_task(session, actor, task_id, services.clock.now())

    @patch("/{task_id:int}")
    async def update(
        self,
        task_id: FromPath[Id],
        data: JSONBody[TaskUpdate],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> TaskRead:
        """Edit the description or due time, or reassign: its author, its assignee or an admin."""
        return await do_update_task(session, actor, task_id, data, services.clock.now())

    @post("/{task_id:int}/complete", status_code=200)
    async def complete(
        self,
        task_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> TaskRead:
        """Complete a task: its author, its assignee or an admin."""
        return await do_complete_task(session, actor, task_id, services.clock.now())

    @post("/{task_id:int}/reopen", status_code=200)
    async def reopen(
        self,
        task_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> TaskRead:
        """Reopen a task: its author, its assignee or an admin."""
        return await do_complete_task(session, actor, task_id, services.clock.now(), done=False)

    @delete("/{task_id:int}")
    async def remove(
        self,
        task_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> None:
        """Only the task's author, its assignee or an admin may delete it."""
        await do_delete_task(session, actor, task_id, services.clock.now())
