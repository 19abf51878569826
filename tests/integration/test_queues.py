"""Lead queues: criteria, sorts, the user's order, live counts, bulk status, and leads leaving
Not-Contacted queues the moment a contact manager reaches the prospect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.leads.models import Lead
from inbox.sms.consent import do_record_consent
from inbox.sms.models import SmsConsent
from tests.conftest import create_account
from tests.support.live import LiveServer, Socket, User, live_server
from tests.support.workflows import Api, api_for

Maker = async_sessionmaker[AsyncSession]
DANA, SAM = "dana@oem.test", "sam@oem.test"


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[Api]:
    await create_account(sessionmaker, DANA)
    await create_account(sessionmaker, SAM)
    async with api_for(db_url, tmp_path) as api:
        await api.sign_in(DANA)
        await api.sign_in(SAM)
        yield api


async def set_created(maker: Maker, lead_id: int, at: datetime) -> None:
    async with maker() as s:
        await s.execute(sa.update(Lead).where(Lead.id == lead_id).values(created_at=at))
        await s.commit()


async def seed(api: Api, maker: Maker) -> dict[str, int]:
    """Five leads that differ in every criterion, with known creation days."""
    ada = await api.prospect(DANA, "Ada", "Zeller", emails=["ada@example.com"])
    bob = await api.prospect(DANA, "Bob", "Adams", kind="customer")
    cy = await api.prospect(DANA, "Cy", "Miller")
    leads = {
        "web": await api.lead(
            DANA,
            ada["id"],
            "Website",
            source="web",
            category="new",
            purchase_timeframe="0-3",
            dealer="North",
            due_at="2026-03-05T00:00:00Z",
        ),
        "show": await api.lead(
            DANA,
            bob["id"],
            "Show",
            source="show",
            category="used",
            purchase_timeframe="3-6",
            dealer="South",
            due_at="2026-03-03T00:00:00Z",
        ),
        "phone": await api.lead(
            DANA,
            cy["id"],
            "Phone",
            source="phone",
            category="new",
            purchase_timeframe="0-3",
            dealer="South",
        ),
        "web2": await api.lead(
            DANA,
            cy["id"],
            "Website",
            source="web",
            category="used",
            purchase_timeframe="6+",
            dealer="North",
            due_at="2026-03-04T00:00:00Z",
        ),
        "won": await api.lead(DANA, bob["id"], "Website", source="web", dealer="North"),
    }
    ids = {k: v["id"] for k, v in leads.items()}
    for day, name in enumerate(["web", "show", "phone", "web2", "won"], start=1):
        await set_created(maker, ids[name], datetime(2026, 2, day, 12, tzinfo=UTC))
    await api.call(
        DANA,
        "POST",
        "/api/leads/follow-up-status",
        json={"lead_ids": [ids["won"]], "follow_up_status": "closed_won"},
    )
    return ids


async def view(api: Api, criteria: dict[str, Any], sort: str = "newest", who: str = DANA) -> Any:
    body = {"name": "View", "criteria": criteria, "sort": sort}
    return await api.call(who, "POST", "/api/queues", json=body, expect=201)


async def members(api: Api, view_id: int, who: str = DANA) -> list[int]:
    page = await api.call(who, "GET", f"/api/queues/{view_id}/leads")
    assert page["count"] == len(page["items"])
    return [item["id"] for item in page["items"]]


CRITERIA: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"web", "show", "phone", "web2", "won"}),
    ({"lead_type": ["Website"]}, {"web", "web2", "won"}),
    ({"source": ["show", "phone"]}, {"show", "phone"}),
    ({"category": ["used"]}, {"show", "web2"}),
    ({"purchase_timeframe": ["0-3"]}, {"web", "phone"}),
    ({"follow_up_status": ["not_contacted"]}, {"web", "show", "phone", "web2"}),
    ({"follow_up_status": ["closed_won"]}, {"won"}),
    ({"dealer": ["South"]}, {"show", "phone"}),
    ({"prospect_kind": ["customer"]}, {"show", "won"}),
    ({"created_from": "2026-02-02T00:00:00Z"}, {"show", "phone", "web2", "won"}),
    ({"created_to": "2026-02-03T12:00:00Z"}, {"web", "show"}),
    (
        {"created_from": "2026-02-02T00:00:00Z", "created_to": "2026-02-04T00:00:00Z"},
        {"show", "phone"},
    ),
    (
        {"lead_type": ["Website"], "dealer": ["North"], "follow_up_status": ["not_contacted"]},
        {"web", "web2"},
    ),
    ({"category": ["new"], "dealer": ["South"], "purchase_timeframe": ["0-3"]}, {"phone"}),
    ({"source": ["web"], "prospect_kind": ["customer"]}, {"won"}),
    ({"lead_type": ["Show"], "dealer": ["North"]}, set()),
]


async def test_each_criterion_alone_and_combined(api: Api, sessionmaker: Maker) -> None:
    ids = await seed(api, sessionmaker)
    names = {v: k for k, v in ids.items()}
    for criteria, expected in CRITERIA:
        created = await view(api, criteria)
        assert created["count"] == len(expected), criteria
        assert {names[i] for i in await members(api, created["id"])} == expected, criteria


async def test_sorts(api: Api, sessionmaker: Maker) -> None:
    ids = await seed(api, sessionmaker)
    names = {v: k for k, v in ids.items()}
    expected = {
        "newest": ["won", "web2", "phone", "show", "web"],
        "oldest": ["web", "show", "phone", "web2", "won"],
        # Soonest due first, leads without a due date last (oldest first among them).
        "due": ["show", "web2", "web", "phone", "won"],
        # By last name then first name: Adams (Bob), Miller (Cy), Zeller (Ada).
        "name": ["show", "won", "phone", "web2", "web"],
    }
    for sort, order in expected.items():
        created = await view(api, {}, sort)
        assert [names[i] for i in await members(api, created["id"])] == order, sort


async def test_paging_a_queue(api: Api, sessionmaker: Maker) -> None:
    ids = await seed(api, sessionmaker)
    created = await view(api, {}, "oldest")
    first = await api.call(DANA, "GET", f"/api/queues/{created['id']}/leads?limit=2")
    second = await api.call(DANA, "GET", f"/api/queues/{created['id']}/leads?limit=2&offset=2")
    last = await api.call(DANA, "GET", f"/api/queues/{created['id']}/leads?limit=2&offset=4")
    got = [i["id"] for page in (first, second, last) for i in page["items"]]
    assert got == [ids[k] for k in ("web", "show", "phone", "web2", "won")]
    assert (first["next_offset"], second["next_offset"], last["next_offset"]) == (2, 4, None)
    assert first["count"] == 5


async def test_queues_are_mine_in_the_order_i_arrange(api: Api) -> None:
    a = await view(api, {"dealer": ["North"]})
    b = await view(api, {"dealer": ["South"]})
    c = await view(api, {})
    sams = await view(api, {}, who=SAM)
    listed = await api.call(DANA, "GET", "/api/queues")
    assert [q["id"] for q in listed] == [a["id"], b["id"], c["id"]]
    assert [q["position"] for q in listed] == [0, 1, 2]

    ordered = await api.call(
        DANA, "PUT", "/api/queues/order", json={"ids": [c["id"], a["id"], b["id"]]}
    )
    assert [q["id"] for q in ordered] == [c["id"], a["id"], b["id"]]
    assert [q["id"] for q in await api.call(DANA, "GET", "/api/queues")] == [
        c["id"],
        a["id"],
        b["id"],
    ]
    # Someone else's queue, a missing one or a duplicate: refused, the order unchanged.
    for ids in (
        [c["id"], a["id"]],
        [c["id"], a["id"], b["id"], sams["id"]],
        [a["id"], a["id"], b["id"]],
    ):
        problem = await api.call(DANA, "PUT", "/api/queues/order", json={"ids": ids}, expect=400)
        assert problem["errors"][0]["field"] == "ids"
    assert [q["id"] for q in await api.call(DANA, "GET", "/api/queues")] == [
        c["id"],
        a["id"],
        b["id"],
    ]
    assert [q["id"] for q in await api.call(SAM, "GET", "/api/queues")] == [sams["id"]]

    # Sam cannot see, change or delete Dana's queue: to him it does not exist.
    await api.call(SAM, "GET", f"/api/queues/{a['id']}/leads", expect=404)
    await api.call(SAM, "PATCH", f"/api/queues/{a['id']}", json={"name": "Mine"}, expect=404)
    await api.call(SAM, "DELETE", f"/api/queues/{a['id']}", expect=404)

    renamed = await api.call(
        DANA, "PATCH", f"/api/queues/{a['id']}", json={"name": "Hot", "sort": "due"}
    )
    assert (renamed["name"], renamed["sort"], renamed["criteria"]["dealer"]) == (
        "Hot",
        "due",
        ["North"],
    )
    await api.call(DANA, "DELETE", f"/api/queues/{b['id']}", expect=204)
    assert [q["id"] for q in await api.call(DANA, "GET", "/api/queues")] == [c["id"], a["id"]]


async def test_saving_reordering_and_deleting_a_view_tells_only_its_owners_tabs(api: Api) -> None:
    async def last_seq(who: str) -> int:
        return int((await api.call(who, "GET", "/api/auth/me"))["last_seq"])

    dana_seen, sam_seen = await last_seq(DANA), await last_seq(SAM)
    a = await view(api, {"dealer": ["North"]})
    b = await view(api, {})
    await api.call(DANA, "PATCH", f"/api/queues/{a['id']}", json={"name": "Hot"})
    await api.call(DANA, "PUT", "/api/queues/order", json={"ids": [b["id"], a["id"]]})
    await api.call(DANA, "DELETE", f"/api/queues/{b['id']}", expect=204)
    events = await api.call(DANA, "GET", f"/api/events?after={dana_seen}")
    assert [(e["type"], e["payload"]["reason"], e["payload"]["queue_id"]) for e in events] == [
        ("queue.updated", "queue.saved", a["id"]),
        ("queue.updated", "queue.saved", b["id"]),
        ("queue.updated", "queue.saved", a["id"]),
        ("queue.updated", "queues.ordered", None),
        ("queue.updated", "queue.deleted", b["id"]),
    ]
    assert await api.call(SAM, "GET", f"/api/events?after={sam_seen}") == []
    # A refused change records nothing.
    seen = await last_seq(DANA)
    await api.call(
        DANA, "PATCH", f"/api/queues/{a['id']}", json={"criteria": {"dealer": 5}}, expect=400
    )
    assert await api.call(DANA, "GET", f"/api/events?after={seen}") == []


async def test_bad_criteria_get_400_naming_the_field(api: Api) -> None:
    for criteria, field in [
        ({"colour": ["red"]}, "colour"),
        ({"follow_up_status": ["sleepy"]}, "criteria.follow_up_status[0]"),
        (
            {"created_from": "2026-02-02T00:00:00Z", "created_to": "2026-02-01T00:00:00Z"},
            "criteria.created_to",
        ),
        ({"created_from": "2026-02-02T00:00:00"}, "criteria.created_from"),
    ]:
        problem = await api.call(
            DANA, "POST", "/api/queues", json={"name": "x", "criteria": criteria}, expect=400
        )
        assert problem["errors"][0]["field"] == field, problem
    assert await api.call(DANA, "GET", "/api/queues") == []


async def test_bulk_status_change_moves_leads_between_queues(api: Api, sessionmaker: Maker) -> None:
    ids = await seed(api, sessionmaker)
    fresh = await view(api, {"follow_up_status": ["not_contacted"]})
    booked = await view(api, {"follow_up_status": ["appointment_set"]})
    sam_before = await api.call(SAM, "GET", "/api/events?after=0")
    seen = sam_before[-1]["seq"] if sam_before else 0

    changed = await api.call(
        DANA,
        "POST",
        "/api/leads/follow-up-status",
        json={
            "lead_ids": [ids["web"], ids["show"], ids["won"]],
            "follow_up_status": "appointment_set",
        },
    )
    assert changed == {"changed_lead_ids": sorted([ids["web"], ids["show"], ids["won"]])}
    counts = {q["id"]: q["count"] for q in await api.call(DANA, "GET", "/api/queues")}
    assert counts == {fresh["id"]: 2, booked["id"]: 3}
    assert set(await members(api, booked["id"])) == {ids["web"], ids["show"], ids["won"]}

    # Every contact manager hears of it, so their counts follow.
    events = await api.call(SAM, "GET", f"/api/events?after={seen}")
    assert [e["type"] for e in events] == ["queue.updated"]
    assert events[0]["payload"]["lead_ids"] == sorted([ids["web"], ids["show"], ids["won"]])
    assert events[0]["payload"]["reason"] == "status.changed"

    # One missing lead: nothing changes at all.
    problem = await api.call(
        DANA,
        "POST",
        "/api/leads/follow-up-status",
        json={"lead_ids": [ids["phone"], 999_999], "follow_up_status": "closed_lost"},
        expect=404,
    )
    assert problem["missing"] == [999_999]
    counts = {q["id"]: q["count"] for q in await api.call(DANA, "GET", "/api/queues")}
    assert counts == {fresh["id"]: 2, booked["id"]: 3}
    await api.call(
        DANA,
        "POST",
        "/api/leads/follow-up-status",
        json={"lead_ids": [], "follow_up_status": "closed_lost"},
        expect=400,
    )


# --- live: reaching the prospect empties every Not-Contacted queue, for everyone at once ---


@pytest.fixture
async def server(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[LiveServer]:
    await create_account(sessionmaker, DANA)
    await create_account(sessionmaker, SAM)
    async with live_server(db_url, tmp_path, INBOX_RUN_WORKERS="false") as s:
        yield s


async def opt_in(server: LiveServer, prospect_id: int) -> None:
    """Only an opted-in mobile may be texted; the prospect said yes on the phone."""
    assert server.services is not None
    async with server.services.transaction() as s:
        await do_record_consent(s, [prospect_id], SmsConsent.OPTED_IN, source="test")


async def counts(user: User) -> dict[str, int]:
    return {q["name"]: q["count"] for q in (await user.http.get("/api/queues")).json()}


@pytest.mark.parametrize("channel", ["email", "sms"])
async def test_reaching_a_prospect_empties_not_contacted_queues_for_everyone(
    server: LiveServer, channel: str
) -> None:
    dana, sam = await User(server.url, DANA).sign_in(), await User(server.url, SAM).sign_in()
    pat = await dana.post(
        "/api/prospects",
        json={
            "first_name": "Pat",
            "emails": ["pat@example.com"],
            "phones": [{"kind": "mobile", "number": "+1 212 555 0123"}],
        },
    )
    if channel == "sms":
        await opt_in(server, pat["id"])
    other = await dana.post("/api/prospects", json={"first_name": "Quinn"})
    lead_a = await dana.post(f"/api/prospects/{pat['id']}/leads", json={"lead_type": "Website"})
    lead_b = await dana.post(f"/api/prospects/{pat['id']}/leads", json={"lead_type": "Show"})
    await dana.post(f"/api/prospects/{other['id']}/leads", json={"lead_type": "Website"})
    for user in (dana, sam):
        for name, criteria in [
            ("New", {"follow_up_status": ["not_contacted"]}),
            ("New web", {"follow_up_status": ["not_contacted"], "lead_type": ["Website"]}),
            ("Contacted", {"follow_up_status": ["contacted"]}),
        ]:
            await user.post("/api/queues", json={"name": name, "criteria": criteria})
    assert await counts(sam) == {"New": 3, "New web": 2, "Contacted": 0}
    sam_ws = await Socket.open(server.url, sam.cookie, after=999_999)
    await sam_ws.until("ready")

    await dana.post(
        f"/api/conversations/{pat['conversation_id']}/messages",
        json={"channel": channel, "body_text": "Hello Pat", "subject": "Hi"},
    )
    update = await sam_ws.until("queue.updated")
    assert update["data"] == {
        "reason": "prospect.contacted",
        "prospect_id": pat["id"],
        "prospect_ids": [pat["id"]],
        "lead_ids": sorted([lead_a["id"], lead_b["id"]]),
    }
    # What Sam's sidebar shows when it refetches on that frame: Pat's leads left both queues.
    assert await counts(sam) == {"New": 1, "New web": 1, "Contacted": 2}
    assert await counts(dana) == {"New": 1, "New web": 1, "Contacted": 2}

    # A lead that arrives later starts Not Contacted and shows up in the queue.
    late = await dana.post(f"/api/prospects/{pat['id']}/leads", json={"lead_type": "Website"})
    arrived = await sam_ws.until("queue.updated")
    assert arrived["data"]["lead_ids"] == [late["id"]]
    assert arrived["data"]["reason"] == "lead.created"
    assert await counts(sam) == {"New": 2, "New web": 2, "Contacted": 2}
    sam_queues = (await sam.http.get("/api/queues")).json()
    page = (await sam.http.get(f"/api/queues/{sam_queues[0]['id']}/leads")).json()
    assert late["id"] in [item["id"] for item in page["items"]]
    await asyncio.gather(sam_ws.close(), dana.close(), sam.close())
