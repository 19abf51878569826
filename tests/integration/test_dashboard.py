"""The sidebar's filter counts in one call, the dashboard's figures against known data, and the
collision guard on an SMS send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel, Message
from inbox.email.schemas import InboundMessage
from inbox.outbox.models import OutboxJob
from inbox.sms.consent import do_record_consent
from inbox.sms.models import SmsConsent
from tests.conftest import count_rows, create_account
from tests.support.workflows import Api, api_for

Maker = async_sessionmaker[AsyncSession]
DANA, SAM = "dana@oem.test", "sam@oem.test"
FILTERS = ("all", "mine", "needs_reply", "replied", "flagged", "unread")


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[Api]:
    await create_account(sessionmaker, DANA)
    await create_account(sessionmaker, SAM)
    async with api_for(db_url, tmp_path) as api:
        await api.sign_in(DANA)
        await api.sign_in(SAM)
        yield api


async def inbound(maker: Maker, conversation_id: int, text: str, at: Any = None, **kw: Any) -> int:
    async with maker() as s:
        read = await do_record_inbound(
            s,
            conversation_id,
            InboundMessage(
                channel=kw.pop("channel", Channel.EMAIL),
                from_address=kw.pop("from_address", "someone@example.com"),
                body_text=text,
                received_at=at,
                **kw,
            ),
            thread_rule="test",
        )
        await s.commit()
    assert read is not None
    return read.id


async def send(api: Api, who: str, conversation_id: int, text: str, **extra: Any) -> Any:
    body = {"channel": "email", "body_text": text, "subject": "Hi", **extra}
    return await api.call(
        who, "POST", f"/api/conversations/{conversation_id}/messages", json=body, expect=202
    )


async def counts_of(api: Api, who: str) -> dict[str, int]:
    """The sidebar counts, without the event `seq` they are consistent with."""
    counts = await api.call(who, "GET", "/api/conversations/counts")
    assert isinstance(counts.pop("seq"), int)
    return dict(counts)


async def test_every_filter_count_at_once_matches_the_lists(api: Api, sessionmaker: Maker) -> None:
    ps = [await api.prospect(DANA, n, emails=[f"{n.lower()}@example.com"]) for n in "ABCD"]
    c1, c2, c3, c4 = (p["conversation_id"] for p in ps)
    await send(api, DANA, c1, "Hello A")  # replied, Dana's, read by Dana
    await inbound(sessionmaker, c2, "Question from B")  # needs reply, nobody's
    await send(api, DANA, c3, "Hello C")
    await inbound(sessionmaker, c3, "Answer from C")  # needs reply, Dana's, unread
    await api.call(DANA, "PUT", f"/api/conversations/{c1}/flag")
    await api.call(DANA, "PUT", f"/api/conversations/{c4}/flag")  # flagged, no messages yet

    expected = {
        DANA: {"all": 3, "mine": 2, "needs_reply": 2, "replied": 1, "flagged": 2, "unread": 2},
        SAM: {"all": 3, "mine": 0, "needs_reply": 2, "replied": 1, "flagged": 0, "unread": 3},
    }
    for who, counts in expected.items():
        assert await counts_of(api, who) == counts, who
        for name in FILTERS:
            page = await api.call(who, "GET", f"/api/conversations?filter={name}&limit=100")
            assert len(page["items"]) == counts[name], (who, name)

    await api.call(DANA, "POST", f"/api/conversations/{c3}/read")
    await api.call(DANA, "DELETE", f"/api/conversations/{c4}/flag")
    # Sam answers B: it becomes his, replied, and read by him.
    await send(api, SAM, c2, "Answer for B")
    assert await counts_of(api, DANA) == {
        "all": 3,
        "mine": 2,
        "needs_reply": 1,
        "replied": 2,
        "flagged": 1,
        "unread": 1,
    }
    assert await counts_of(api, SAM) == {
        "all": 3,
        "mine": 1,
        "needs_reply": 1,
        "replied": 2,
        "flagged": 0,
        "unread": 2,
    }


async def test_dashboard_figures(api: Api, sessionmaker: Maker) -> None:
    now = api.clock.at
    older = await api.prospect(DANA, "Olive", "Old", emails=["olive@example.com"])
    newer = await api.prospect(DANA, "Nina", "New", emails=["nina@example.com"])
    answered = await api.prospect(DANA, "Andy", "Answered", emails=["andy@example.com"])
    await inbound(sessionmaker, newer["conversation_id"], "Any news?", now - timedelta(minutes=30))
    await inbound(
        sessionmaker, older["conversation_id"], "First\nquestion", now - timedelta(hours=3)
    )
    await inbound(sessionmaker, answered["conversation_id"], "Hi", now - timedelta(hours=5))
    await send(api, SAM, answered["conversation_id"], "Hello Andy")

    due_later = await api.call(
        DANA,
        "POST",
        "/api/tasks",
        expect=201,
        json={
            "prospect_id": older["id"],
            "description": "Quote",
            "due_at": (now + timedelta(days=1)).isoformat(),
        },
    )
    overdue = await api.call(
        DANA,
        "POST",
        "/api/tasks",
        expect=201,
        json={
            "prospect_id": newer["id"],
            "description": "Call",
            "due_at": (now - timedelta(hours=2)).isoformat(),
        },
    )
    done = await api.call(
        DANA,
        "POST",
        "/api/tasks",
        expect=201,
        json={
            "prospect_id": newer["id"],
            "description": "Done",
            "due_at": (now - timedelta(hours=9)).isoformat(),
        },
    )
    await api.call(DANA, "POST", f"/api/tasks/{done['id']}/complete")
    await api.call(
        SAM,
        "POST",
        "/api/tasks",
        expect=201,
        json={
            "prospect_id": newer["id"],
            "description": "Sam's",
            "due_at": (now - timedelta(hours=4)).isoformat(),
        },
    )
    await api.lead(DANA, older["id"])
    await api.lead(DANA, answered["id"])  # arrives after the send: Not Contacted
    await api.lead(DANA, newer["id"], "Show")
    queue = await api.call(
        DANA,
        "POST",
        "/api/queues",
        expect=201,
        json={
            "name": "New web",
            "criteria": {"follow_up_status": ["not_contacted"], "lead_type": ["Brochure"]},
        },
    )

    board = await api.call(DANA, "GET", "/api/dashboard")
    waiting = [
        (w["prospect_name"], w["wait_seconds"], w["preview"]) for w in board["needs_follow_up"]
    ]
    assert waiting == [("Olive Old", 3 * 3600, "First question"), ("Nina New", 1800, "Any news?")]
    assert board["needs_follow_up_count"] == 2
    assert [t["id"] for t in board["my_tasks"]] == [overdue["id"], due_later["id"]]
    assert [t["status"] for t in board["my_tasks"]] == ["overdue", "incomplete"]
    assert (board["my_open_tasks"], board["my_overdue_tasks"]) == (2, 1)
    assert [(q["id"], q["name"], q["count"]) for q in board["queues"]] == [
        (queue["id"], "New web", 2)
    ]

    # Sam sees the same waiting list but his own tasks and (no) queues.
    sams = await api.call(SAM, "GET", "/api/dashboard")
    assert [w["prospect_name"] for w in sams["needs_follow_up"]] == ["Olive Old", "Nina New"]
    assert [t["description"] for t in sams["my_tasks"]] == ["Sam's"]
    assert (sams["my_open_tasks"], sams["my_overdue_tasks"], sams["queues"]) == (1, 1, [])

    # An hour later the waits have grown; an answer takes Olive off the list.
    api.clock.at = now + timedelta(hours=1)
    await send(api, DANA, older["conversation_id"], "Here is your answer")
    board = await api.call(DANA, "GET", "/api/dashboard")
    assert [(w["prospect_name"], w["wait_seconds"]) for w in board["needs_follow_up"]] == [
        ("Nina New", 5400)
    ]
    assert board["queues"][0]["count"] == 1


async def test_a_stale_sms_is_a_409_listing_what_is_new(api: Api, sessionmaker: Maker) -> None:
    pat = await api.prospect(DANA, "Pat", phones=[{"kind": "mobile", "number": "+1 212 555 0123"}])
    async with sessionmaker() as s:
        await do_record_consent(s, [pat["id"]], SmsConsent.OPTED_IN, source="test")
        await s.commit()
    cid = pat["conversation_id"]
    first = await send(api, DANA, cid, "Hi Pat, this is Dana", channel="sms")
    await send(api, SAM, cid, "Sam here too", channel="sms", seen_message_id=first["id"])
    await inbound(
        sessionmaker, cid, "Who is this?", channel=Channel.SMS, from_address="+12125550123"
    )
    before = await count_rows(sessionmaker, Message, OutboxJob)
    problem = await api.call(
        DANA,
        "POST",
        f"/api/conversations/{cid}/messages",
        json={"channel": "sms", "body_text": "Stale", "seen_message_id": first["id"]},
        expect=409,
    )
    assert problem["code"] == "conflict"
    assert [m["body_text"] for m in problem["new_messages"]] == ["Sam here too", "Who is this?"]
    assert [m["channel"] for m in problem["new_messages"]] == ["sms", "sms"]
    assert await count_rows(sessionmaker, Message, OutboxJob) == before
    newest = problem["new_messages"][-1]["id"]
    await send(api, DANA, cid, "Sorry, Dana from the OEM", channel="sms", seen_message_id=newest)
