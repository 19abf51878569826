"""Who may change a task: its author, its assignee or an admin, for every change (edit the
description, move the due time, reassign, complete, reopen, delete). Another contact manager
reads it but is refused each change, in the domain and through the API (403 problem details,
nothing written); the web is told which tasks the viewer may change (`can_edit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Role
from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation
from inbox.core.access import Actor
from inbox.core.model import Base
from inbox.errors import PermissionDenied
from inbox.tasks.models import Task
from inbox.tasks.service import (
    TaskCreate,
    TaskFilter,
    TaskUpdate,
    do_complete_task,
    do_create_task,
    do_delete_task,
    do_update_task,
    get_task,
    list_tasks,
)
from server.problems import PROBLEM_JSON
from tests.conftest import create_account
from tests.support.workflows import Api, api_for

Maker = async_sessionmaker[AsyncSession]
DANA, SAM, KIM, ROOT = "dana@oem.test", "sam@oem.test", "kim@oem.test", "root@oem.test"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=2)
ACTIONS = ["describe", "move_due", "reassign", "complete", "reopen", "delete"]
ROLES = ["author", "assignee", "other", "admin"]
# Rows a signed-in request may touch whatever it does (its session, login bookkeeping).
PER_REQUEST = {"user_session", "login_failure"}


async def snapshot(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the per-request ones, as this session sees them."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in PER_REQUEST:
            continue
        query = sa.select(table).order_by(*table.primary_key.columns)
        out[table.name] = [tuple(row) for row in (await session.execute(query)).all()]
    return out


async def db_snapshot(maker: Maker) -> dict[str, list[tuple[Any, ...]]]:
    async with maker() as session:
        return await snapshot(session)


# --- the rule in the domain: every action by every role ---


class Cast:
    """Dana writes the task and gives it to Sam; Kim is another contact manager; Root an admin."""

    def __init__(self, author: Actor, assignee: Actor, other: Actor, admin: Actor) -> None:
        self.by_role = {"author": author, "assignee": assignee, "other": other, "admin": admin}
        self.other = other


@pytest.fixture
async def cast(sessionmaker: Maker, cmu: Actor, admin: Actor) -> Cast:
    sam = await create_account(sessionmaker, SAM)
    kim = await create_account(sessionmaker, KIM)
    return Cast(cmu, sam, kim, admin)


async def new_task(maker: Maker, author: Actor, assignee: Actor, *, done: bool = False) -> int:
    async with maker() as s:
        prospect = Prospect(first_name="Pat")
        s.add(prospect)
        await s.flush()
        s.add(Conversation(prospect_id=prospect.id))
        await s.flush()
        data = TaskCreate(
            prospect_id=prospect.id, description="Call back", due_at=T0, assignee_id=assignee.id
        )
        created = await do_create_task(s, author, data, T0)
        if done:
            await do_complete_task(s, author, created.id, T0)
        await s.commit()
        return created.id


Act = Callable[[AsyncSession, Actor, int, Actor], Awaitable[object]]
ACT: dict[str, Act] = {
    "describe": lambda s, a, t, _: do_update_task(
        s, a, t, TaskUpdate(description="Send the brochure"), T0
    ),
    "move_due": lambda s, a, t, _: do_update_task(s, a, t, TaskUpdate(due_at=LATER), T0),
    # Always to the other contact manager: for Kim that is taking a colleague's task himself.
    "reassign": lambda s, a, t, kim: do_update_task(s, a, t, TaskUpdate(assignee_id=kim.id), T0),
    "complete": lambda s, a, t, _: do_complete_task(s, a, t, T0),
    "reopen": lambda s, a, t, _: do_complete_task(s, a, t, T0, done=False),
    "delete": lambda s, a, t, _: do_delete_task(s, a, t, T0),
}


def done_by(action: str, task: Task | None, kim: Actor) -> bool:
    """Whether `action` shows on the task as read back after commit."""
    if action == "delete":
        return task is None
    assert task is not None
    return {
        "describe": task.description == "Send the brochure",
        "move_due": task.due_at == LATER,
        "reassign": task.assignee_id == kim.id,
        "complete": task.completed_at is not None,
        "reopen": task.completed_at is None,
    }[action]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
async def test_only_the_author_the_assignee_or_an_admin_changes_a_task(
    sessionmaker: Maker, cast: Cast, action: str, role: str
) -> None:
    author, assignee = cast.by_role["author"], cast.by_role["assignee"]
    task_id = await new_task(sessionmaker, author, assignee, done=action == "reopen")
    actor = cast.by_role[role]
    async with sessionmaker() as s:
        assert (await get_task(s, actor, task_id, T0)).can_edit is (role != "other")
    before = await db_snapshot(sessionmaker)

    async with sessionmaker() as s:
        if role == "other":
            with pytest.raises(PermissionDenied, match="author, its assignee or an admin"):
                await ACT[action](s, actor, task_id, cast.other)
            # Refused before anything was written, even inside the transaction.
            assert await snapshot(s) == before
            await s.rollback()
        else:
            await ACT[action](s, actor, task_id, cast.other)
            await s.commit()

    after = await db_snapshot(sessionmaker)
    async with sessionmaker() as s:
        task = await s.get(Task, task_id)
        if role == "other":
            assert after == before
            assert not done_by(action, task, cast.other)
        else:
            assert after != before
            assert done_by(action, task, cast.other)


async def test_can_edit_follows_the_assignee_and_stays_with_the_author(
    sessionmaker: Maker, cast: Cast
) -> None:
    dana, sam, kim, root = (cast.by_role[r] for r in ROLES)
    task_id = await new_task(sessionmaker, dana, sam)

    async def can_edit() -> dict[str, bool]:
        async with sessionmaker() as s:
            out = {}
            for who, actor in (("dana", dana), ("sam", sam), ("kim", kim), ("root", root)):
                page = await list_tasks(s, actor, TaskFilter(any_assignee=True), T0)
                (read,) = page.items
                assert read.can_edit == (await get_task(s, actor, task_id, T0)).can_edit
                out[who] = read.can_edit
            return out

    assert await can_edit() == {"dana": True, "sam": True, "kim": False, "root": True}
    # Sam hands it to Kim: Kim may change it now, Sam no longer; Dana wrote it and still may.
    async with sessionmaker() as s:
        handed = await do_update_task(s, sam, task_id, TaskUpdate(assignee_id=kim.id), T0)
        await s.commit()
    assert handed.can_edit is False
    assert await can_edit() == {"dana": True, "sam": False, "kim": True, "root": True}
    with pytest.raises(PermissionDenied):
        async with sessionmaker() as s:
            await do_complete_task(s, sam, task_id, T0)
    # Unassigned, only its author and admins may change it.
    async with sessionmaker() as s:
        await do_update_task(s, kim, task_id, TaskUpdate(assignee_id=None), T0)
        await s.commit()
    assert await can_edit() == {"dana": True, "sam": False, "kim": False, "root": True}


# --- through the API: 403 problem details, nothing written ---


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[Api]:
    for who in (DANA, SAM, KIM):
        await create_account(sessionmaker, who)
    await create_account(sessionmaker, ROOT, Role.ADMIN)
    async with api_for(db_url, tmp_path) as api:
        for who in (DANA, SAM, KIM, ROOT):
            await api.sign_in(who)
        api.clock.at = T0
        yield api


async def refused(api: Api, who: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """The response to a change `who` may not make: 403 problem details."""
    api.client.cookies.clear()
    api.client.cookies.set("inbox_session", api.cookies[who])
    headers = {"x-csrf-token": api.csrf[who]}
    response = await api.client.request(method, url, headers=headers, **kwargs)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"], problem["title"]) == (
        403,
        "permission_denied",
        "Not allowed",
    )
    assert "author, its assignee or an admin" in problem["detail"]
    return problem


def request_for(action: str, task_id: int, kim_id: int) -> tuple[str, str, dict[str, Any]]:
    url = f"/api/tasks/{task_id}"
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "describe": ("PATCH", url, {"json": {"description": "Send the brochure"}}),
        "move_due": ("PATCH", url, {"json": {"due_at": LATER.isoformat()}}),
        "reassign": ("PATCH", url, {"json": {"assignee_id": kim_id}}),
        "complete": ("POST", f"{url}/complete", {}),
        "reopen": ("POST", f"{url}/reopen", {}),
        "delete": ("DELETE", url, {}),
    }
    return requests[action]


async def api_task(api: Api, *, assignee_id: int | None) -> Any:
    pat = await api.prospect(DANA, "Pat")
    body = {"prospect_id": pat["id"], "description": "Call back", "due_at": T0.isoformat()}
    body["assignee_id"] = assignee_id
    return await api.call(DANA, "POST", "/api/tasks", json=body, expect=201)


@pytest.mark.parametrize("action", ACTIONS)
async def test_the_api_refuses_another_contact_manager_and_writes_nothing(
    api: Api, sessionmaker: Maker, action: str
) -> None:
    sam_id, kim_id = 2, 3
    task = await api_task(api, assignee_id=sam_id)
    if action == "reopen":
        await api.call(DANA, "POST", f"/api/tasks/{task['id']}/complete")
    method, url, kwargs = request_for(action, task["id"], kim_id)
    before = await db_snapshot(sessionmaker)
    problem = await refused(api, KIM, method, url, **kwargs)
    verb = {"describe": "edit", "move_due": "edit"}.get(action, action)
    assert problem["detail"].endswith(f"may {verb} it."), problem
    assert await db_snapshot(sessionmaker) == before
    assert not (await api.call(KIM, "GET", f"/api/tasks/{task['id']}"))["can_edit"]

    # The same request from the assignee goes through.
    expect = 204 if action == "delete" else 200
    await api.call(SAM, method, url, expect=expect, **kwargs)
    assert await db_snapshot(sessionmaker) != before


async def test_taking_a_colleagues_task_to_delete_it_is_refused(
    api: Api, sessionmaker: Maker
) -> None:
    """The hole the audit found: reassign Dana's task to yourself, then delete it."""
    kim_id = 3
    task = await api_task(api, assignee_id=1)  # Dana's own task
    url = f"/api/tasks/{task['id']}"
    assert not (await api.call(KIM, "GET", url))["can_edit"]
    before = await db_snapshot(sessionmaker)
    await refused(api, KIM, "PATCH", url, json={"assignee_id": kim_id})
    await refused(api, KIM, "PATCH", url, json={"assignee_id": kim_id, "description": "Mine"})
    await refused(api, KIM, "DELETE", url)
    await refused(api, KIM, "POST", f"{url}/complete")
    assert await db_snapshot(sessionmaker) == before
    read = await api.call(DANA, "GET", url)
    assert (read["assignee_id"], read["description"], read["can_edit"]) == (1, "Call back", True)
    # Kim's event feed holds the creation only: nothing was announced for the refusals.
    changes = [
        e["payload"]["change"]
        for e in await api.call(KIM, "GET", "/api/events?after=0")
        if e["type"] == "task.updated"
    ]
    assert changes == ["created"]
    # An admin may do what Kim may not.
    await api.call(ROOT, "PATCH", url, json={"assignee_id": kim_id})
    await api.call(KIM, "DELETE", url, expect=204)  # now the assignee


async def test_the_read_model_says_who_may_change_it(api: Api) -> None:
    task = await api_task(api, assignee_id=2)
    url = f"/api/tasks/{task['id']}"
    assert task["can_edit"] is True  # the author, creating it
    seen = {who: (await api.call(who, "GET", url))["can_edit"] for who in (DANA, SAM, KIM, ROOT)}
    assert seen == {DANA: True, SAM: True, KIM: False, ROOT: True}
    grid = await api.call(KIM, "GET", "/api/tasks?assignee=any&status=all")
    assert [t["can_edit"] for t in grid["items"]] == [False]
    dashboard = await api.call(SAM, "GET", "/api/dashboard")
    assert [t["can_edit"] for t in dashboard["my_tasks"]] == [True]
