"""SMS through the API: the three consent colours and the refusal to text a red or grey
prospect, the consent ledger, number lookups, segment counts, the demo's simulated reply, and
one text end to end over a real server and websocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inbox.conversations.models import Message
from inbox.outbox.models import OutboxJob
from inbox.sms.models import SmsConsentChange
from server.app import create_app
from tests.conftest import count_rows, create_account
from tests.integration.test_api import make_settings, sign_in
from tests.support.live import Socket, User, live_server


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
async def cmu_headers(client: AsyncTestClient[Any], sessionmaker: Any) -> dict[str, str]:
    await create_account(sessionmaker, "dana@oem.test")
    return await sign_in(client, "dana@oem.test")


async def prospect(
    client: AsyncTestClient[Any], headers: dict[str, str], *phones: tuple[str, str]
) -> dict[str, Any]:
    response = await client.post(
        "/api/prospects",
        headers=headers,
        json={
            "first_name": "Pat",
            "phones": [{"kind": kind, "number": number} for kind, number in phones],
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def consent(
    client: AsyncTestClient[Any],
    headers: dict[str, str],
    prospect_id: int,
    value: str,
    note: str = "",
) -> dict[str, Any]:
    response = await client.post(
        f"/api/prospects/{prospect_id}/sms/consent",
        headers=headers,
        json={"consent": value, "note": note},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def text(
    client: AsyncTestClient[Any], headers: dict[str, str], conversation_id: int, body: str = "Hi"
) -> Any:
    return await client.post(
        f"/api/conversations/{conversation_id}/messages",
        headers=headers,
        json={"channel": "sms", "body_text": body},
    )


async def test_only_a_green_prospect_may_be_texted(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
    sessionmaker: Any,
) -> None:
    pat = await prospect(client, cmu_headers, ("mobile", "(212) 555-0123"))
    lead = await client.post(
        f"/api/prospects/{pat['id']}/leads", headers=cmu_headers, json={"lead_type": "Quote"}
    )
    cid = pat["conversation_id"]
    status = (await client.get(f"/api/prospects/{pat['id']}/sms")).json()
    assert (status["status"], status["consent"], status["recipient"]) == ("grey", "unknown", None)
    assert status["phones"] == [
        {
            "kind": "mobile",
            "e164": "+12125550123",
            "line_type": "fixed_line_or_mobile",
            "can_text": True,
            "source": "type",
        }
    ]

    before = await count_rows(sessionmaker, Message, OutboxJob)
    grey = await text(client, cmu_headers, cid)
    assert grey.status_code == 422
    assert grey.json()["sms_status"] == "grey" and "No SMS consent" in grey.json()["detail"]

    green = await consent(client, cmu_headers, pat["id"], "opted_in", "said yes on the phone")
    assert (green["status"], green["recipient"]) == ("green", "+12125550123")
    sent = await text(client, cmu_headers, cid, "Your quote is ready")
    assert sent.status_code == 202 and sent.json()["to"] == ["+12125550123"]
    leads = (await client.get(f"/api/prospects/{pat['id']}/leads")).json()
    assert [(lead_["id"], lead_["follow_up_status"]) for lead_ in leads] == [
        (lead.json()["id"], "contacted")
    ]

    red = await consent(client, cmu_headers, pat["id"], "opted_out", "asked on the phone")
    assert red["status"] == "red" and "set by hand asked on the phone" in red["reason"]
    refused = await text(client, cmu_headers, cid)
    assert refused.status_code == 422 and refused.json()["sms_status"] == "red"
    assert "Opted out" in refused.json()["detail"]
    after = await count_rows(sessionmaker, Message, OutboxJob)
    assert after == {"message": before["message"] + 1, "outbox_job": before["outbox_job"] + 1}

    me = (await client.get("/api/auth/me")).json()
    history = [
        (h["consent"], h["source"], h["actor_account_id"], h["detail"]) for h in red["history"]
    ]
    assert history == [
        ("opted_out", "manual", me["id"], "asked on the phone"),
        ("opted_in", "manual", me["id"], "said yes on the phone"),
    ]
    assert await count_rows(sessionmaker, SmsConsentChange) == {"sms_consent_change": 2}


async def test_capability_comes_from_the_number_type_unless_a_lookup_says_otherwise(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
) -> None:
    # A London landline filed as mobile, and a North American number filed as home.
    pat = await prospect(
        client, cmu_headers, ("mobile", "+44 20 7946 0000"), ("home", "212 555 0188")
    )
    status = await consent(client, cmu_headers, pat["id"], "opted_in")
    assert status["status"] == "grey" and "none of this prospect's numbers" in status["reason"]
    assert [(p["line_type"], p["can_text"]) for p in status["phones"]] == [
        ("fixed_line", False),
        ("fixed_line_or_mobile", False),
    ]
    assert (await text(client, cmu_headers, pat["conversation_id"])).status_code == 422

    looked_up = await client.post(
        "/api/sms/lookups",
        headers=cmu_headers,
        json={"number": "(212) 555-0188", "can_text": True, "line_type": "mobile"},
    )
    assert looked_up.status_code == 200 and looked_up.json()["e164"] == "+12125550188"
    status = (await client.get(f"/api/prospects/{pat['id']}/sms")).json()
    assert (status["status"], status["recipient"]) == ("green", "+12125550188")
    assert status["phones"][1] == {
        "kind": "home",
        "e164": "+12125550188",
        "line_type": "mobile",
        "can_text": True,
        "source": "lookup",
    }
    bad = await client.post(
        "/api/sms/lookups", headers=cmu_headers, json={"number": "12", "can_text": True}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "number"


async def test_no_phone_at_all_is_grey(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
) -> None:
    pat = await prospect(client, cmu_headers)
    status = await consent(client, cmu_headers, pat["id"], "opted_in")
    assert status["status"] == "grey" and "no phone number" in status["reason"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hello Pat", {"encoding": "GSM-7", "segments": 1, "characters": 9, "units": 9}),
        # 81 characters, but each of these counts twice: 162 septets need two segments.
        ("{€}" * 27, {"encoding": "GSM-7", "segments": 2, "characters": 81, "units": 162}),
        ("Ok 👍", {"encoding": "UCS-2", "segments": 1, "characters": 4, "units": 5}),
    ],
)
async def test_segments_of_a_draft(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
    body: str,
    expected: dict[str, Any],
) -> None:
    response = await client.post("/api/sms/segments", headers=cmu_headers, json={"body": body})
    assert response.status_code == 200
    assert {k: response.json()[k] for k in expected} == expected


async def test_the_demo_simulates_a_reply_in_dev_but_not_in_production(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
    db_url: str,
    tmp_path: Path,
) -> None:
    pat = await prospect(client, cmu_headers, ("mobile", "+1 212 555 0123"))
    simulated = await client.post(
        "/api/demo/sms/inbound",
        headers=cmu_headers,
        json={"from_number": "212.555.0123", "body": "Sounds good"},
    )
    assert simulated.status_code == 201, simulated.text
    assert simulated.json()["conversation_id"] == pat["conversation_id"]
    bad = await client.post(
        "/api/demo/sms/inbound", headers=cmu_headers, json={"from_number": "555", "body": "x"}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "from_number"

    settings = make_settings(db_url, tmp_path, INBOX_MODE="production", INBOX_SECRET_KEY="k" * 40)
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as c:
        headers = await sign_in(c, "dana@oem.test")
        refused = await c.post(
            "/api/demo/sms/inbound",
            headers=headers,
            json={"from_number": "212.555.0123", "body": "Sounds good"},
        )
    assert refused.status_code == 404


async def test_a_text_end_to_end_over_a_real_server(
    db_url: str, tmp_path: Path, sessionmaker: Any
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    async with live_server(db_url, tmp_path) as server:
        dana = await User(server.url, "dana@oem.test").sign_in()
        sock = await Socket.open(server.url, dana.cookie)
        await sock.until("ready")
        pat = await dana.post(
            "/api/prospects",
            json={"first_name": "Pat", "phones": [{"kind": "mobile", "number": "2125550123"}]},
        )
        await dana.post(f"/api/prospects/{pat['id']}/sms/consent", json={"consent": "opted_in"})

        reply = await dana.post(
            "/api/demo/sms/inbound", json={"from_number": "+12125550123", "body": "Is it in stock?"}
        )
        created = await sock.until("message.created")
        assert created["data"]["message_id"] == reply["id"]
        notified = await sock.until("notification.created")
        assert notified["data"]["notification"]["message_id"] == reply["id"]

        sent = await dana.post(
            f"/api/conversations/{pat['conversation_id']}/messages",
            json={"channel": "sms", "body_text": "Yes, two left"},
        )
        updated = await sock.until("message.updated")
        assert updated["data"]["message_id"] == sent["id"]
        assert updated["data"]["status"] == "sent"
        await sock.close()
        await dana.close()
    log = [
        json.loads(line) for line in (tmp_path / "sandbox-outbox.jsonl").read_text().splitlines()
    ]
    assert [(e["channel"], e["to"], e["body_text"]) for e in log] == [
        ("sms", ["+12125550123"], "Yes, two left")
    ]
