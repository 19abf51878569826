"""Odd input answers a 400 problem naming the field and writes nothing, on both databases.

One test per root cause the fuzzer found (issue 14, item 3): integers past 64 bits, a digit that
is not ASCII, JSON nested 1,000 deep, a timestamp whose UTC instant is off the calendar, and a
NUL character in stored text or in a search term.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inbox.accounts.models import Account, Role
from inbox.contacts.models import Prospect, ProspectPhone
from inbox.conversations.models import Message
from inbox.leads.models import Lead
from inbox.outbox.models import OutboxJob
from inbox.queues.models import SavedView
from inbox.snippets.models import Snippet
from inbox.tasks.models import Task
from server.app import create_app
from tests.conftest import count_rows, create_account
from tests.integration.test_api import make_settings, sign_in

TABLES = (Account, Prospect, ProspectPhone, Lead, Task, Snippet, SavedView, Message, OutboxJob)
BIG = 2**64
NUL = "a\x00b"
OFF_THE_CALENDAR = "9999-12-31T23:59:59-14:00"


class Api:
    def __init__(self, client: AsyncTestClient[Any], headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.prospect_id = 0
        self.conversation_id = 0

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        return await self.client.request(method, url, headers=headers or self.headers, **kwargs)


@pytest.fixture
async def api(db_url: str, tmp_path: Path, sessionmaker: Any) -> AsyncIterator[Api]:
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        api = Api(client, await sign_in(client, "root@oem.test"))
        prospect = await api.request(
            "POST", "/api/prospects", json={"first_name": "Pat", "emails": ["pat@example.test"]}
        )
        assert prospect.status_code == 201, prospect.text
        api.prospect_id = prospect.json()["id"]
        api.conversation_id = prospect.json()["conversation_id"]
        yield api


async def refused(api: Api, sessionmaker: Any, method: str, url: str, field: str, **kw: Any) -> Any:
    """The request is a 400 problem naming `field`, and no table changed."""
    before = await count_rows(sessionmaker, *TABLES)
    response = await api.request(method, url, **kw)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert await count_rows(sessionmaker, *TABLES) == before
    return problem


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", f"/api/conversations/{BIG}", None, "conversation_id"),
        ("PATCH", f"/api/accounts/{BIG}", {"name": "X"}, "account_id"),
        ("POST", f"/api/tasks/{BIG}/complete", None, "task_id"),
        ("GET", f"/api/tasks?offset={BIG}", None, "offset"),
        ("GET", f"/api/tasks?prospect_id={BIG}", None, "prospect_id"),
        ("GET", f"/api/tasks?assignee={BIG}", None, "assignee"),
        ("GET", f"/api/events?after={BIG}", None, "after"),
        ("GET", f"/api/search?account_id={BIG}", None, "account_id"),
        ("GET", f"/api/queues/1/leads?offset={BIG}", None, "offset"),
        (
            "POST",
            "/api/tasks",
            {"prospect_id": BIG, "description": "Call", "due_at": "2030-01-01T09:00:00Z"},
            "prospect_id",
        ),
        ("PUT", "/api/conversations/{cid}/assignee", {"assignee_id": BIG}, "assignee_id"),
        ("PUT", "/api/queues/order", {"ids": [1, -BIG]}, "ids[1]"),
        (
            "POST",
            "/api/leads/follow-up-status",
            {"lead_ids": [BIG], "follow_up_status": "contacted"},
            "lead_ids[0]",
        ),
        (
            "POST",
            "/api/conversations/{cid}/messages",
            {"channel": "email", "body_text": "Hi", "seen_message_id": BIG},
            "seen_message_id",
        ),
    ],
)
async def test_an_integer_past_64_bits_is_refused(
    api: Api, sessionmaker: Any, method: str, url: str, body: Any, field: str
) -> None:
    url = url.format(cid=api.conversation_id)
    await refused(api, sessionmaker, method, url, field, json=body)


@pytest.mark.parametrize("digit", ["³", "٣", "³3"])
async def test_a_digit_that_is_not_ascii_is_not_an_id(
    api: Api, sessionmaker: Any, digit: str
) -> None:
    await refused(api, sessionmaker, "GET", f"/api/tasks?assignee={digit}", "assignee")
    await refused(api, sessionmaker, "GET", f"/api/tasks?prospect_id={digit}", "prospect_id")
    response = await api.request("GET", f"/api/conversations/{digit}")
    assert response.status_code == 404  # no route has such a path
    assert response.headers["content-type"].startswith("application/problem+json")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
async def test_json_nested_too_deep_is_refused(api: Api, sessionmaker: Any, depth: int) -> None:
    headers = {**api.headers, "content-type": "application/json"}
    top = await refused(
        api, sessionmaker, "POST", "/api/prospects", "body", content=nested(depth), headers=headers
    )
    assert "nests deeper than 32 levels" in top["detail"]
    body = '{"first_name": ' + nested(depth) + "}"
    await refused(
        api, sessionmaker, "POST", "/api/prospects", "first_name", content=body, headers=headers
    )


async def test_json_nested_as_deep_as_a_body_goes_is_read(api: Api) -> None:
    response = await api.request(
        "POST", "/api/queues", json={"name": "Leads", "criteria": {"lead_type": ["New"]}}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", f"/api/tasks?due_from={OFF_THE_CALENDAR}", None, "due_from"),
        ("GET", "/api/tasks?due_to=0001-01-01T00:00:00%2B01:00", None, "due_to"),
        ("GET", f"/api/search?date_from={OFF_THE_CALENDAR}", None, "date_from"),
        ("GET", f"/api/search/export.csv?date_to={OFF_THE_CALENDAR}", None, "date_to"),
        (
            "POST",
            "/api/tasks",
            {"prospect_id": "{pid}", "description": "Call", "due_at": OFF_THE_CALENDAR},
            "due_at",
        ),
        (
            "POST",
            "/api/prospects/{pid}/leads",
            {"lead_type": "New", "due_at": OFF_THE_CALENDAR},
            "due_at",
        ),
        (
            "POST",
            "/api/queues",
            {"name": "Late", "criteria": {"created_to": OFF_THE_CALENDAR}},
            "criteria.created_to",
        ),
    ],
)
async def test_a_time_off_the_calendar_in_utc_is_refused(
    api: Api, sessionmaker: Any, method: str, url: str, body: Any, field: str
) -> None:
    if body and body.get("prospect_id") == "{pid}":
        body = {**body, "prospect_id": api.prospect_id}
    url = url.format(pid=api.prospect_id)
    problem = await refused(api, sessionmaker, method, url, field, json=body)
    assert "between the years 1 and 9999" in problem["detail"]


async def test_a_lead_due_without_a_time_zone_is_refused(api: Api, sessionmaker: Any) -> None:
    url = f"/api/prospects/{api.prospect_id}/leads"
    body = {"lead_type": "New", "due_at": "2030-01-01T09:00:00"}
    await refused(api, sessionmaker, "POST", url, "due_at", json=body)


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/api/prospects", {"first_name": NUL}, "first_name"),
        ("POST", "/api/prospects", {"last_name": "Lee", "emails": [f"{NUL}@x.test"]}, "emails[0]"),
        ("PATCH", "/api/prospects/{pid}", {"postal_code": NUL}, "postal_code"),
        ("POST", "/api/prospects/{pid}/leads", {"lead_type": NUL}, "lead_type"),
        ("POST", "/api/snippets", {"title": "Hi", "body": NUL}, "body"),
        ("POST", "/api/queues", {"name": "Q", "criteria": {"dealer": [NUL]}}, "criteria.dealer[0]"),
        (
            "POST",
            "/api/conversations/{cid}/messages",
            {"channel": "email", "body_text": NUL},
            "body_text",
        ),
        ("PUT", "/api/me/profile", {"from_name": NUL, "from_email": "me@oem.test"}, "from_name"),
        ("POST", "/api/prospects", {"first_name": "Pat", NUL: 1}, NUL.replace("\x00", "\\u0000")),
        ("GET", "/api/search?q=a%00b", None, "q"),
        ("GET", "/api/search?first_name=a%00b", None, "first_name"),
        ("GET", "/api/prospects?q=a%00b", None, "q"),
        ("GET", "/api/tasks?assignee=me%00", None, "assignee"),
        ("DELETE", "/api/suppressions/a%00b@x.test", None, "address"),
    ],
)
async def test_a_nul_character_is_refused(
    api: Api, sessionmaker: Any, method: str, url: str, body: Any, field: str
) -> None:
    url = url.format(pid=api.prospect_id, cid=api.conversation_id)
    problem = await refused(api, sessionmaker, method, url, field, json=body)
    assert "NUL" in problem["detail"]


async def test_a_nul_in_the_search_term_refuses_the_export_before_its_header(
    api: Api, sessionmaker: Any
) -> None:
    response = await api.request("GET", "/api/search/export.csv?q=a%00b")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"] == [
        {"field": "q", "message": "must not contain the NUL character (\\u0000)"}
    ]
    fine = await api.request("GET", "/api/search/export.csv?q=hello")
    assert fine.status_code == 200
    assert fine.headers["content-type"] == "text/csv; charset=utf-8"


def multipart(message: str, filename: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = b"odd-input-boundary"
    body = b"".join(
        [
            b"--" + boundary + b"\r\n",
            b'Content-Disposition: form-data; name="message"\r\n\r\n',
            message.encode() + b"\r\n--" + boundary + b"\r\n",
            b'Content-Disposition: form-data; name="attachments"; filename="' + filename + b'"\r\n',
            b"Content-Type: text/plain\r\n\r\nhello\r\n--" + boundary + b"--\r\n",
        ]
    )
    return body, {"content-type": f"multipart/form-data; boundary={boundary.decode()}"}


async def test_a_nul_in_a_multipart_message_or_file_name_is_refused(
    api: Api, sessionmaker: Any
) -> None:
    url = f"/api/conversations/{api.conversation_id}/messages/multipart"
    for message, filename, field in [
        ('{"channel": "email", "body_text": "a\\u0000b"}', b"a.txt", "message.body_text"),
        ('{"channel": "email", "body_text": "Hi"}', b"a\x00.txt", "attachments"),
    ]:
        body, headers = multipart(message, filename)
        await refused(
            api, sessionmaker, "POST", url, field, content=body, headers={**api.headers, **headers}
        )


async def test_every_operation_documents_its_problems(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400", "403", "500"} | ({"404"} if "{" in path else set())
            if not path.startswith("/webhooks/"):
                expected.add("401")
            assert expected <= responses.keys(), f"{method} {path}: {sorted(responses)}"
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], status
    login = schema["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"401", "429"} <= login.keys()
    task_id = schema["paths"]["/api/tasks/{task_id}"]["get"]["parameters"][0]
    assert task_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
