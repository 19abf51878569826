"""The HTTP API: sessions everywhere, roles, CSRF, problem details, bad input that writes nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inbox.accounts.models import Account, Role
from inbox.contacts.models import Prospect, ProspectPhone
from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel, Message
from inbox.email.schemas import InboundMessage
from inbox.outbox.models import OutboxJob
from server.app import create_app
from server.settings import load_settings
from tests.conftest import count_rows, create_account

PASSWORD = "correct horse battery"


def make_settings(db_url: str, tmp_path: Path, **extra: str) -> Any:
    return load_settings(
        {
            "INBOX_DATABASE_URL": db_url,
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_RUN_WORKERS": "false",
            "INBOX_PUBLIC_URL": "http://testserver.local",
            **extra,
        }
    )


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


async def sign_in(client: AsyncTestClient[Any], email: str) -> dict[str, str]:
    """Sign in; returns the headers a browser sends on changes."""
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"x-csrf-token": response.json()["csrf_token"]}


@pytest.fixture
async def cmu_headers(client: AsyncTestClient[Any], sessionmaker: Any) -> dict[str, str]:
    await create_account(sessionmaker, "dana@oem.test")
    return await sign_in(client, "dana@oem.test")


async def test_every_documented_route_answers_401_without_a_session(
    client: AsyncTestClient[Any],
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    public: dict[str, int] = {}
    checked = 0
    for path, operations in schema["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in operations:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            response = await client.request(method.upper(), url, json={})
            if response.status_code != 401:
                public[f"{method.upper()} {path}"] = response.status_code
                continue
            checked += 1
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "unauthenticated"
    # The webhooks take no session: they answer 403 to anything Twilio did not sign.
    assert public == {
        "POST /api/auth/login": 400,
        "POST /webhooks/twilio/sms": 403,
        "POST /webhooks/twilio/status": 403,
    }
    assert checked >= 15


async def test_a_contact_manager_gets_403_on_admin_routes_and_changes_nothing(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str], sessionmaker: Any
) -> None:
    before = await count_rows(sessionmaker, Account)
    assert (await client.get("/api/accounts")).status_code == 403
    created = await client.post(
        "/api/accounts",
        headers=cmu_headers,
        json={
            "email": "new@oem.test",
            "name": "New",
            "role": "admin",
            "password": "long enough pw",
        },
    )
    assert created.status_code == 403
    assert created.json()["code"] == "permission_denied"
    promoted = await client.patch("/api/accounts/1", headers=cmu_headers, json={"role": "admin"})
    assert promoted.status_code == 403
    assert await count_rows(sessionmaker, Account) == before


async def test_an_admin_manages_accounts(client: AsyncTestClient[Any], sessionmaker: Any) -> None:
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    headers = await sign_in(client, "root@oem.test")
    created = await client.post(
        "/api/accounts",
        headers=headers,
        json={
            "email": "Sam@OEM.test",
            "name": "Sam",
            "role": "contact_manager",
            "password": "long enough pw",
        },
    )
    assert created.status_code == 201
    assert created.json()["email"] == "sam@oem.test"
    again = await client.post(
        "/api/accounts",
        headers=headers,
        json={
            "email": "sam@oem.test",
            "name": "Sam",
            "role": "contact_manager",
            "password": "long enough pw",
        },
    )
    assert again.status_code == 409
    emails = [a["email"] for a in (await client.get("/api/accounts")).json()]
    assert emails == ["root@oem.test", "sam@oem.test"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": "Pat", "phones": [{"kind": "mobile", "number": "12"}]}, "phones[0].number"),
        ({"first_name": "Pat", "emails": ["not-an-address"]}, "emails[0]"),
        ({"first_name": "Pat", "shoe_size": 44}, "shoe_size"),
        ({"first_name": 7}, "first_name"),
        (
            {"first_name": "Pat", "phones": [{"kind": "fax", "number": "2125550123"}]},
            "phones[0].kind",
        ),
        ({}, "last_name"),
    ],
)
async def test_a_bad_prospect_gets_400_naming_the_field_and_writes_nothing(
    client: AsyncTestClient[Any],
    cmu_headers: dict[str, str],
    sessionmaker: Any,
    payload: dict[str, Any],
    field: str,
) -> None:
    before = await count_rows(sessionmaker, Prospect, ProspectPhone)
    response = await client.post("/api/prospects", headers=cmu_headers, json=payload)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status"] == 400 and problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]]
    assert await count_rows(sessionmaker, Prospect, ProspectPhone) == before


async def test_a_refused_send_writes_nothing(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str], sessionmaker: Any
) -> None:
    prospect = (
        await client.post(
            "/api/prospects",
            headers=cmu_headers,
            json={"first_name": "Pat", "emails": ["pat@example.com"]},
        )
    ).json()
    await client.post(
        f"/api/prospects/{prospect['id']}/leads",
        headers=cmu_headers,
        json={"lead_type": "Quote request"},
    )
    url = f"/api/conversations/{prospect['conversation_id']}/messages"
    before = await count_rows(sessionmaker, Message, OutboxJob)

    empty = await client.post(url, headers=cmu_headers, json={"channel": "email", "body_text": ""})
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "body_text"
    own = await client.post(
        url,
        headers=cmu_headers,
        json={"channel": "email", "body_text": "Hi", "cc": ["dana@oem.test"]},
    )
    assert own.status_code == 400
    assert "remove it from Cc" in own.json()["detail"]
    no_mobile = await client.post(
        url, headers=cmu_headers, json={"channel": "sms", "body_text": "Hi"}
    )
    assert no_mobile.status_code == 422

    assert await count_rows(sessionmaker, Message, OutboxJob) == before
    leads = (await client.get(f"/api/prospects/{prospect['id']}/leads")).json()
    assert [lead["follow_up_status"] for lead in leads] == ["not_contacted"]


async def test_changes_without_the_csrf_token_are_refused(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str], sessionmaker: Any
) -> None:
    before = await count_rows(sessionmaker, Prospect)
    missing = await client.post("/api/prospects", json={"first_name": "Pat"})
    wrong = await client.post(
        "/api/prospects", headers={"x-csrf-token": "guess"}, json={"first_name": "Pat"}
    )
    foreign = await client.post(
        "/api/prospects",
        json={"first_name": "Pat"},
        headers={**cmu_headers, "origin": "https://evil.example"},
    )
    assert [r.status_code for r in (missing, wrong, foreign)] == [403, 403, 403]
    assert await count_rows(sessionmaker, Prospect) == before
    ok = await client.post("/api/prospects", headers=cmu_headers, json={"first_name": "Pat"})
    assert ok.status_code == 201


async def test_failed_logins_are_rate_limited(
    client: AsyncTestClient[Any], sessionmaker: Any
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    for _ in range(5):
        wrong = await client.post(
            "/api/auth/login", json={"email": "dana@oem.test", "password": "nope"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "Wrong email or password."
    locked = await client.post(
        "/api/auth/login", json={"email": "dana@oem.test", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "session" not in locked.cookies and "inbox_session" not in locked.cookies


async def test_the_session_cookie_is_httponly_samesite_and_logout_ends_it(
    client: AsyncTestClient[Any], sessionmaker: Any
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    response = await client.post(
        "/api/auth/login", json={"email": "dana@oem.test", "password": PASSWORD}
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    headers = {"x-csrf-token": response.json()["csrf_token"]}
    assert (await client.get("/api/auth/me")).json()["email"] == "dana@oem.test"
    assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
    client.cookies.clear()
    client.cookies.set("inbox_session", response.cookies["inbox_session"])
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_the_cookie_is_secure_behind_https(
    db_url: str, tmp_path: Path, sessionmaker: Any
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    app = create_app(make_settings(db_url, tmp_path, INBOX_PUBLIC_URL="https://inbox.oem.test"))
    async with AsyncTestClient(app=app, base_url="https://inbox.oem.test") as c:
        response = await c.post(
            "/api/auth/login", json={"email": "dana@oem.test", "password": PASSWORD}
        )
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_conversation_round_trip_through_the_api(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str], sessionmaker: Any
) -> None:
    prospect = (
        await client.post(
            "/api/prospects",
            headers=cmu_headers,
            json={
                "first_name": "Pat",
                "last_name": "Lee",
                "emails": ["Pat@Example.com"],
                "phones": [{"kind": "mobile", "number": "(212) 555-0123"}],
            },
        )
    ).json()
    assert prospect["phones"] == [{"kind": "mobile", "e164": "+12125550123"}]
    for query in ("pat lee", "PAT@example.com", "212.555.0123", "+1 212 555 0123"):
        found = (await client.get("/api/prospects", params={"q": query})).json()
        assert [p["id"] for p in found] == [prospect["id"]], query
    assert (await client.get("/api/prospects", params={"q": "nobody"})).json() == []

    cid = prospect["conversation_id"]
    sent = await client.post(
        f"/api/conversations/{cid}/messages",
        headers=cmu_headers,
        json={"channel": "email", "subject": "Your quote", "body_text": "Hi Pat"},
    )
    assert sent.status_code == 202 and sent.json()["status"] == "queued"
    assert (await client.put(f"/api/conversations/{cid}/flag", headers=cmu_headers)).json()[
        "flagged"
    ]
    page = (await client.get("/api/conversations", params={"filter": "replied"})).json()
    assert [c["id"] for c in page["items"]] == [cid]
    assert page["items"][0]["flagged"] is True and page["items"][0]["replied"] is True
    thread = (await client.get(f"/api/conversations/{cid}")).json()
    assert [m["body_text"] for m in thread["messages"]] == ["Hi Pat"]
    assert thread["messages"][0]["to"] == ["pat@example.com"]
    events = (await client.get("/api/events", params={"after": 0})).json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {"message.created", "conversation.updated"} <= {e["type"] for e in events}


async def test_unknown_things_are_404_problems(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str]
) -> None:
    for url in ("/api/conversations/999", "/api/prospects/999"):
        response = await client.get(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    response = await client.post("/api/notifications/999/read", headers=cmu_headers)
    assert response.status_code == 404


async def test_an_oversized_body_is_413(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/prospects",
        headers={**cmu_headers, "content-type": "application/json"},
        content=b'{"first_name": "' + b"x" * (26 * 1024 * 1024) + b'"}',
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_health_reports_the_database(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "img-src 'self' data: https:;" in policy  # remote images only when asked for


async def test_a_collision_is_a_409_problem_listing_what_is_new(
    client: AsyncTestClient[Any], cmu_headers: dict[str, str], sessionmaker: Any
) -> None:
    prospect = (
        await client.post(
            "/api/prospects",
            headers=cmu_headers,
            json={"first_name": "Pat", "emails": ["pat@example.com"]},
        )
    ).json()
    url = f"/api/conversations/{prospect['conversation_id']}/messages"
    first = (
        await client.post(url, headers=cmu_headers, json={"channel": "email", "body_text": "one"})
    ).json()
    stale = await client.post(
        url,
        headers=cmu_headers,
        json={"channel": "email", "body_text": "two", "seen_message_id": first["id"] - 1},
    )
    assert stale.status_code == 202, "my own newer send is no collision"
    async with sessionmaker() as s:
        await do_record_inbound(
            s,
            prospect["conversation_id"],
            InboundMessage(
                channel=Channel.EMAIL, from_address="pat@example.com", body_text="A question"
            ),
            thread_rule="test",
        )
        await s.commit()
    collided = await client.post(
        url,
        headers=cmu_headers,
        json={"channel": "email", "body_text": "three", "seen_message_id": first["id"] + 1},
    )
    assert collided.status_code == 409
    problem = collided.json()
    assert problem["code"] == "conflict"
    assert [m["body_text"] for m in problem["new_messages"]] == ["A question"]
