"""GET /api/accounts/assignable: the names a contact manager may give a conversation to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inbox.accounts.models import Role
from server.app import create_app
from tests.conftest import create_account
from tests.integration.test_api import make_settings, sign_in


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


async def test_assignable_accounts_need_a_session(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/api/accounts/assignable")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_a_contact_manager_sees_active_names_and_roles_but_no_emails(
    client: AsyncTestClient[Any], sessionmaker: Any
) -> None:
    dana = await create_account(sessionmaker, "dana@oem.test")
    sam = await create_account(sessionmaker, "sam@oem.test")
    root = await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    gone = await create_account(sessionmaker, "gone@oem.test")
    admin_headers = await sign_in(client, "root@oem.test")
    deactivated = await client.patch(
        f"/api/accounts/{gone.id}", headers=admin_headers, json={"is_active": False}
    )
    assert deactivated.status_code == 200, deactivated.text
    await client.post("/api/auth/logout", headers=admin_headers)

    headers = await sign_in(client, "dana@oem.test")
    response = await client.get("/api/accounts/assignable")
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"id": dana.id, "name": "Dana", "role": "contact_manager"},
        {"id": root.id, "name": "Root", "role": "admin"},
        {"id": sam.id, "name": "Sam", "role": "contact_manager"},
    ]
    # The full list stays the admin's.
    assert (await client.get("/api/accounts", headers=headers)).status_code == 403
