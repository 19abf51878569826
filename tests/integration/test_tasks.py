"""Tasks: statuses around the due time, the grid and its filters, who may delete, the
prospect's outstanding count, and the overdue notice sent once whatever runs the scheduler.
Who may make each other change is in test_task_permissions.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Role
from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation
from inbox.core.db import make_engine, make_sessionmaker
from inbox.events.log import MemoryPublisher
from inbox.notifications.models import Notification
from inbox.tasks.models import Task
from inbox.tasks.service import notify_overdue_tasks
from tests.conftest import create_account
from tests.support.live import Socket, User, live_server
from tests.support.workflows import Api, api_for

Maker = async_sessionmaker[AsyncSession]
DANA, SAM, ROOT = "dana@oem.test", "sam@oem.test", "root@oem.test"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[Api]:
    await create_account(sessionmaker, DANA)
    await create_account(sessionmaker, SAM)
    await create_account(sessionmaker, ROOT, Role.ADMIN)
    async with api_for(db_url, tmp_path) as api:
        for who in (DANA, SAM, ROOT):
            await api.sign_in(who)
        api.clock.at = T0
        yield api


async def task(api: Api, who: str, prospect_id: int, due: datetime, **extra: Any) -> Any:
    body = {
        "prospect_id": prospect_id,
        "description": "Call back",
        "due_at": due.isoformat(),
        **extra,
    }
    return await api.call(who, "POST", "/api/tasks", json=body, expect=201)


async def grid(api: Api, who: str, query: str = "") -> list[int]:
    page = await api.call(who, "GET", f"/api/tasks?{query}")
    assert page["count"] == len(page["items"])
    return [t["id"] for t in page["items"]]


async def test_status_follows_the_clock_around_the_due_time(api: Api) -> None:
    pat = await api.prospect(DANA, "Pat")
    due = T0 + timedelta(hours=1)
    created = await task(api, DANA, pat["id"], due)
    url = f"/api/tasks/{created['id']}"
    expectations = [
        (due - timedelta(seconds=1), "incomplete"),
        (due, "overdue"),
        (due + timedelta(days=3), "overdue"),
    ]
    for at, status in expectations:
        api.clock.at = at
        assert (await api.call(DANA, "GET", url))["status"] == status, at
        # The grid's SQL filter says the same as the status on the row.
        assert await grid(api, DANA, f"status={status}") == [created["id"]]
        other = "overdue" if status == "incomplete" else "incomplete"
        assert await grid(api, DANA, f"status={other}") == []

    done = await api.call(DANA, "POST", f"{url}/complete")
    assert (done["status"], done["completed_at"]) == (
        "complete",
        api.clock.at.isoformat().replace("+00:00", "Z"),
    )
    assert await grid(api, DANA) == [], "the default grid hides complete tasks"
    assert await grid(api, DANA, "status=complete") == [created["id"]]
    reopened = await api.call(DANA, "POST", f"{url}/reopen")
    assert (reopened["status"], reopened["completed_at"]) == ("overdue", None)
    api.clock.at = due - timedelta(minutes=5)
    assert (await api.call(DANA, "GET", url))["status"] == "incomplete"


async def test_create_edit_and_the_prospects_outstanding_count(
    api: Api, sessionmaker: Maker
) -> None:
    pat = await api.prospect(DANA, "Pat")
    mine = await task(api, DANA, pat["id"], T0 + timedelta(days=1))
    assert (mine["assignee_id"], mine["assignee_name"], mine["prospect_name"]) == (1, "Dana", "Pat")
    assert mine["conversation_id"] == pat["conversation_id"]
    for_sam = await task(api, DANA, pat["id"], T0 + timedelta(days=2), assignee_id=2)
    assert for_sam["assignee_id"] == 2
    nobody = await task(api, DANA, pat["id"], T0 + timedelta(days=3), assignee_id=None)
    assert nobody["assignee_id"] is None

    prospect = await api.call(DANA, "GET", f"/api/prospects/{pat['id']}")
    assert prospect["open_task_count"] == 3
    await api.call(DANA, "POST", f"/api/tasks/{mine['id']}/complete")
    assert (await api.call(DANA, "GET", f"/api/prospects/{pat['id']}"))["open_task_count"] == 2
    thread = await api.call(DANA, "GET", f"/api/conversations/{pat['conversation_id']}")
    assert thread["prospect"]["open_task_count"] == 2
    # The count links to the grid filtered to this prospect, whoever the tasks belong to.
    assert await grid(api, DANA, f"prospect_id={pat['id']}&assignee=any") == [
        for_sam["id"],
        nobody["id"],
    ]

    edited = await api.call(
        DANA,
        "PATCH",
        f"/api/tasks/{for_sam['id']}",
        json={"description": "Send the brochure", "assignee_id": 1},
    )
    assert (edited["description"], edited["assignee_id"]) == ("Send the brochure", 1)
    for body, field in [
        ({"prospect_id": 999, "description": "x", "due_at": T0.isoformat()}, "prospect_id"),
        (
            {
                "prospect_id": pat["id"],
                "description": "x",
                "due_at": T0.isoformat(),
                "assignee_id": 99,
            },
            "assignee_id",
        ),
        ({"prospect_id": pat["id"], "description": "", "due_at": T0.isoformat()}, "description"),
        ({"prospect_id": pat["id"], "description": "x", "due_at": "2026-03-02T09:00:00"}, "due_at"),
        (
            {"prospect_id": pat["id"], "description": "x", "due_at": T0.isoformat(), "priority": 1},
            "priority",
        ),
    ]:
        problem = await api.call(DANA, "POST", "/api/tasks", json=body, expect=400)
        assert problem["errors"][0]["field"] == field, problem
    async with sessionmaker() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Task)) == 3


async def test_only_the_author_the_assignee_or_an_admin_deletes(api: Api) -> None:
    pat = await api.prospect(DANA, "Pat")
    first = await task(api, DANA, pat["id"], T0)
    second = await task(api, DANA, pat["id"], T0, assignee_id=2)
    third = await task(api, DANA, pat["id"], T0)
    problem = await api.call(SAM, "DELETE", f"/api/tasks/{first['id']}", expect=403)
    assert problem["code"] == "permission_denied"
    await api.call(DANA, "GET", f"/api/tasks/{first['id']}")
    await api.call(SAM, "DELETE", f"/api/tasks/{second['id']}", expect=204)  # the assignee
    await api.call(ROOT, "DELETE", f"/api/tasks/{third['id']}", expect=204)  # an admin
    await api.call(DANA, "DELETE", f"/api/tasks/{first['id']}", expect=204)  # the author
    await api.call(DANA, "GET", f"/api/tasks/{first['id']}", expect=404)
    # A deleted task is not found, whoever asks.
    await api.call(SAM, "POST", f"/api/tasks/{first['id']}/complete", expect=404)


async def test_the_grid_opens_on_mine_not_complete_and_filters(api: Api) -> None:
    pat, kim = await api.prospect(DANA, "Pat"), await api.prospect(DANA, "Kim")
    h = timedelta(hours=1)
    t = {
        "mine_overdue": await task(api, DANA, pat["id"], T0 + h),
        "mine_later": await task(api, DANA, kim["id"], T0 + 30 * h),
        "mine_done": await task(api, DANA, pat["id"], T0 + 2 * h),
        "sams": await task(api, SAM, pat["id"], T0 + 3 * h),
        "sams_kim": await task(api, SAM, kim["id"], T0 + 50 * h),
    }
    ids = {k: v["id"] for k, v in t.items()}
    await api.call(DANA, "POST", f"/api/tasks/{ids['mine_done']}/complete")
    api.clock.at = T0 + 4 * h  # mine_overdue and sams are past due now
    cases = {
        "": ["mine_overdue", "mine_later"],
        "status=all": ["mine_overdue", "mine_done", "mine_later"],
        "status=overdue": ["mine_overdue"],
        "status=incomplete": ["mine_later"],
        "status=complete": ["mine_done"],
        "assignee=any&status=all": ["mine_overdue", "mine_done", "sams", "mine_later", "sams_kim"],
        "assignee=any": ["mine_overdue", "sams", "mine_later", "sams_kim"],
        "assignee=any&status=overdue": ["mine_overdue", "sams"],
        "assignee=2": ["sams", "sams_kim"],
        f"assignee=any&prospect_id={kim['id']}": ["mine_later", "sams_kim"],
        "assignee=any&due_from=2026-03-02T11:00:00Z": ["sams", "mine_later", "sams_kim"],
        "assignee=any&due_to=2026-03-02T12:00:00Z&status=all": ["mine_overdue", "mine_done"],
        "assignee=any&due_from=2026-03-02T12:00:00Z&due_to=2026-03-03T16:00:00Z": [
            "sams",
            "mine_later",
        ],
        f"assignee=2&prospect_id={pat['id']}&status=overdue": ["sams"],
    }
    for query, expected in cases.items():
        assert await grid(api, DANA, query) == [ids[k] for k in expected], query
    page = await api.call(DANA, "GET", "/api/tasks?assignee=any&status=all&limit=2&offset=2")
    assert ([x["id"] for x in page["items"]], page["count"], page["next_offset"]) == (
        [ids["sams"], ids["mine_later"]],
        5,
        4,
    )
    for query in ("assignee=someone", "status=late", "due_from=2026-03-02T12:00:00"):
        await api.call(DANA, "GET", f"/api/tasks?{query}", expect=400)


async def test_task_changes_reach_every_contact_manager(api: Api) -> None:
    pat = await api.prospect(DANA, "Pat")
    created = await task(api, DANA, pat["id"], T0 + timedelta(hours=1))
    await api.call(DANA, "POST", f"/api/tasks/{created['id']}/complete")
    await api.call(DANA, "DELETE", f"/api/tasks/{created['id']}", expect=204)
    events = [
        e for e in await api.call(SAM, "GET", "/api/events?after=0") if e["type"] == "task.updated"
    ]
    assert [(e["payload"]["change"], e["payload"]["status"]) for e in events] == [
        ("created", "incomplete"),
        ("completed", "complete"),
        ("deleted", "complete"),
    ]
    assert {e["payload"]["task_id"] for e in events} == {created["id"]}


# --- the overdue notice ---


async def overdue_notices(maker: Maker) -> list[tuple[int, str]]:
    async with maker() as s:
        rows = await s.execute(
            sa.select(Notification.account_id, Notification.body)
            .where(Notification.kind == "task_overdue")
            .order_by(Notification.id)
        )
        return [(a, b) for a, b in rows.all()]


async def test_the_overdue_notice_goes_once_to_the_assignee(api: Api, sessionmaker: Maker) -> None:
    pat = await api.prospect(DANA, "Pat")
    soon = await task(api, DANA, pat["id"], T0 + timedelta(minutes=10), description="Soon")
    await task(api, DANA, pat["id"], T0 + timedelta(minutes=10), assignee_id=2, description="Sams")
    done = await task(api, DANA, pat["id"], T0 + timedelta(minutes=5), description="Done")
    await task(api, DANA, pat["id"], T0 + timedelta(days=1), description="Tomorrow")
    await task(api, DANA, pat["id"], T0, assignee_id=None, description="Nobody's")
    await api.call(DANA, "POST", f"/api/tasks/{done['id']}/complete")
    publisher = MemoryPublisher()

    assert await notify_overdue_tasks(sessionmaker, publisher, T0 + timedelta(minutes=9)) == 0
    later = T0 + timedelta(minutes=11)
    assert await notify_overdue_tasks(sessionmaker, publisher, later) == 2
    assert await notify_overdue_tasks(sessionmaker, publisher, later) == 0
    assert await notify_overdue_tasks(sessionmaker, publisher, later + timedelta(hours=1)) == 0
    assert await overdue_notices(sessionmaker) == [(1, "Soon"), (2, "Sams")]
    pushed = [
        (e.account_id, e.type) for e in publisher.published if e.type == "notification.created"
    ]
    assert pushed == [(1, "notification.created"), (2, "notification.created")]
    note = next(e for e in publisher.published if e.type == "notification.created")
    assert note.payload["notification"]["title"] == "Task overdue: Pat"
    assert note.payload["notification"]["conversation_id"] == pat["conversation_id"]

    # Moving the due time re-arms the notice; reopening alone does not repeat it.
    await api.call(
        DANA, "PATCH", f"/api/tasks/{soon['id']}", json={"due_at": "2026-03-02T12:00:00Z"}
    )
    await api.call(DANA, "POST", f"/api/tasks/{done['id']}/reopen")
    assert await notify_overdue_tasks(sessionmaker, publisher, T0 + timedelta(hours=4)) == 2
    assert await overdue_notices(sessionmaker) == [
        (1, "Soon"),
        (2, "Sams"),
        (1, "Soon"),
        (1, "Done"),
    ]


async def test_concurrent_scheduler_passes_notify_each_task_once(
    db_url: str, sessionmaker: Maker
) -> None:
    dana = await create_account(sessionmaker, DANA)
    sam = await create_account(sessionmaker, SAM)
    async with sessionmaker() as s:
        prospect = Prospect(first_name="Pat")
        s.add(prospect)
        await s.flush()
        s.add(Conversation(prospect_id=prospect.id))
        s.add_all(
            Task(
                prospect_id=prospect.id,
                description=f"Task {i}",
                due_at=T0,
                assignee_id=(dana.id, sam.id)[i % 2],
            )
            for i in range(250)
        )
        await s.commit()
    # Two workers: separate engines, so separate connections and transactions.
    engines = [make_engine(db_url) for _ in range(2)]
    try:
        makers = [make_sessionmaker(e) for e in engines]
        later = T0 + timedelta(minutes=1)
        counts = await asyncio.gather(
            *(notify_overdue_tasks(m, MemoryPublisher(), later) for m in makers)
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sum(counts) == 250
    notices = await overdue_notices(sessionmaker)
    assert sorted(body for _, body in notices) == sorted(f"Task {i}" for i in range(250))
    assert sum(1 for account, _ in notices if account == dana.id) == 125


async def test_the_scheduler_runs_in_the_app_and_notifies_live(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, DANA)
    async with live_server(
        db_url, tmp_path, INBOX_RUN_WORKERS="true", INBOX_TASK_CHECK_SECONDS="1"
    ) as server:
        dana = await User(server.url, DANA).sign_in()
        ws = await Socket.open(server.url, dana.cookie)
        await ws.until("ready")
        pat = await dana.post("/api/prospects", json={"first_name": "Pat"})
        due = datetime.now(UTC) + timedelta(seconds=1)
        await dana.post(
            "/api/tasks",
            json={"prospect_id": pat["id"], "description": "Ring Pat", "due_at": due.isoformat()},
        )
        note = await ws.until("notification.created", timeout=10)
        assert note["data"]["notification"]["kind"] == "task_overdue"
        assert note["data"]["notification"]["body"] == "Ring Pat"
        overdue = await ws.until("task.updated", timeout=5)
        assert (overdue["data"]["change"], overdue["data"]["status"]) == ("overdue", "overdue")
        await asyncio.gather(ws.close(), dana.close())
    assert [b for _, b in await overdue_notices(sessionmaker)] == ["Ring Pat"]
