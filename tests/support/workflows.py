"""An in-process API client with a settable clock, for the workflow tests (queues, tasks,
snippets, dashboard)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from server.app import create_app
from server.services import build_services
from server.settings import load_settings
from tests.support.clock import FakeClock

PASSWORD = "correct horse battery"


class Api:
    """One app, several signed-in users. Each method checks the status it expects."""

    def __init__(self, client: AsyncTestClient[Any], clock: FakeClock) -> None:
        self.client = client
        self.clock = clock
        self.csrf: dict[str, str] = {}
        self.cookies: dict[str, str] = {}

    async def sign_in(self, email: str) -> None:
        response = await self.client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.csrf[email] = response.json()["csrf_token"]
        self.cookies[email] = response.cookies["inbox_session"]

    async def call(
        self, who: str, method: str, url: str, *, expect: int = 200, **kwargs: Any
    ) -> Any:
        self.client.cookies.clear()
        self.client.cookies.set("inbox_session", self.cookies[who])
        headers = {"x-csrf-token": self.csrf[who]}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json() if response.content else None

    async def prospect(self, who: str, first: str, last: str = "", **fields: Any) -> Any:
        body = {"first_name": first, "last_name": last, **fields}
        return await self.call(who, "POST", "/api/prospects", json=body, expect=201)

    async def lead(self, who: str, prospect_id: int, lead_type: str = "Brochure", **f: Any) -> Any:
        body = {"lead_type": lead_type, **f}
        return await self.call(
            who, "POST", f"/api/prospects/{prospect_id}/leads", json=body, expect=201
        )


@asynccontextmanager
async def api_for(db_url: str, tmp_path: Path, **env: str) -> AsyncIterator[Api]:
    settings = load_settings(
        {
            "INBOX_DATABASE_URL": db_url,
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_RUN_WORKERS": "false",
            "INBOX_PUBLIC_URL": "http://testserver.local",
            **env,
        }
    )
    services = build_services(settings)
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    services.clock = clock
    app = create_app(settings, services)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield Api(client, clock)
