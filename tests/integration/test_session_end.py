"""Sessions end when they should: logout, a new password and a deactivation sign the account out
over HTTP (401) and close its open websockets with 4401, in this process and in another one
fed over Redis, and even while Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Role
from tests.conftest import create_account
from tests.integration.test_realtime_scaleout import PrivateRedis
from tests.support.live import (
    LiveServer,
    Socket,
    User,
    free_port,
    live_server,
    start_pair,
)

Maker = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "a brand new password"


@pytest.fixture
async def server(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[LiveServer]:
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    await create_account(sessionmaker, "dana@oem.test")
    async with live_server(db_url, tmp_path, INBOX_RUN_WORKERS="false") as s:
        yield s


async def open_socket(url: str, user: User) -> Socket:
    ws = await Socket.open(url, user.cookie)
    await ws.until("ready")
    return ws


async def closed_with(ws: Socket, timeout: float = 5.0) -> int | None:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.ws.recv()
    return ws.ws.close_code


async def patch(user: User, url: str, **data: Any) -> Any:
    response = await user.http.patch(url, headers={"x-csrf-token": user.csrf}, json=data)
    assert response.status_code == 200, response.text
    return response.json()


async def account_id(admin: User, email: str) -> int:
    accounts = (await admin.http.get("/api/accounts")).json()
    return int(next(a["id"] for a in accounts if a["email"] == email))


async def still_open(ws: Socket, user: User) -> None:
    """The socket still streams: a change of the user's own reaches it."""
    prospect = await user.post(
        "/api/prospects", json={"first_name": "Pat", "emails": ["pat@example.com"]}
    )
    await user.put(f"/api/conversations/{prospect['conversation_id']}/flag")
    flagged = await ws.until("conversation.updated")
    assert flagged["data"]["conversation_id"] == prospect["conversation_id"]


async def test_logout_closes_that_sessions_sockets_only(server: LiveServer) -> None:
    laptop = await User(server.url, "dana@oem.test").sign_in()
    phone = await User(server.url, "dana@oem.test").sign_in()
    laptop_ws, phone_ws = (
        await open_socket(server.url, laptop),
        await open_socket(server.url, phone),
    )
    laptop_cookie = laptop.cookie

    response = await laptop.http.post("/api/auth/logout", headers={"x-csrf-token": laptop.csrf})
    assert response.status_code == 204
    assert await closed_with(laptop_ws) == 4401
    # The other session of the same account carries on.
    await still_open(phone_ws, phone)
    assert (await phone.http.get("/api/auth/me")).status_code == 200
    # A socket opened with the ended session's cookie is refused the same way.
    late = await Socket.open(server.url, laptop_cookie)
    assert await closed_with(late) == 4401
    await asyncio.gather(phone_ws.close(), laptop.close(), phone.close())


@pytest.mark.parametrize("change", ["password", "deactivate"])
async def test_a_new_password_or_a_deactivation_ends_every_session(
    server: LiveServer, change: str
) -> None:
    admin = await User(server.url, "root@oem.test").sign_in()
    dana = await User(server.url, "dana@oem.test").sign_in()
    dana_ws = await open_socket(server.url, dana)
    admin_ws = await open_socket(server.url, admin)
    dana_id = await account_id(admin, "dana@oem.test")

    body = {"password": NEW_PASSWORD} if change == "password" else {"is_active": False}
    await patch(admin, f"/api/accounts/{dana_id}", **body)

    assert await closed_with(dana_ws) == 4401
    me = await dana.http.get("/api/auth/me")
    assert me.status_code == 401 and me.json()["code"] == "unauthenticated"
    # The admin who made the change is not touched.
    await still_open(admin_ws, admin)
    if change == "password":
        again = await dana.http.post(
            "/api/auth/login", json={"email": "dana@oem.test", "password": NEW_PASSWORD}
        )
        assert again.status_code == 200
    else:
        # Turning the account back on does not bring the old session back.
        await patch(admin, f"/api/accounts/{dana_id}", is_active=True)
        assert (await dana.http.get("/api/auth/me")).status_code == 401
    await asyncio.gather(admin_ws.close(), admin.close(), dana.close())


async def test_an_admin_changing_their_own_password_stays_signed_in_where_they_did_it(
    server: LiveServer,
) -> None:
    here = await User(server.url, "root@oem.test").sign_in()
    elsewhere = await User(server.url, "root@oem.test").sign_in()
    here_ws, elsewhere_ws = (
        await open_socket(server.url, here),
        await open_socket(server.url, elsewhere),
    )
    await patch(
        here, f"/api/accounts/{await account_id(here, 'root@oem.test')}", password=NEW_PASSWORD
    )
    assert await closed_with(elsewhere_ws) == 4401
    assert (await elsewhere.http.get("/api/auth/me")).status_code == 401
    assert (await here.http.get("/api/auth/me")).status_code == 200
    await still_open(here_ws, here)
    await asyncio.gather(here_ws.close(), here.close(), elsewhere.close())


async def test_renaming_an_account_ends_nothing(server: LiveServer) -> None:
    admin = await User(server.url, "root@oem.test").sign_in()
    dana = await User(server.url, "dana@oem.test").sign_in()
    dana_ws = await open_socket(server.url, dana)
    await patch(admin, f"/api/accounts/{await account_id(admin, 'dana@oem.test')}", name="D")
    await still_open(dana_ws, dana)
    assert (await dana.http.get("/api/auth/me")).status_code == 200
    await asyncio.gather(dana_ws.close(), admin.close(), dana.close())


# Across processes: the socket lives in one `inbox serve`, the change is made in another.


@pytest.mark.slow
async def test_sessions_end_on_another_process_over_redis(
    db_url: str, tmp_path: Path, redis_url: str, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    await create_account(sessionmaker, "dana@oem.test")
    await create_account(sessionmaker, "sam@oem.test")
    a, b = await start_pair(db_url, tmp_path, redis_url)
    try:
        admin = await User(a.url, "root@oem.test").sign_in()
        dana = await User(b.url, "dana@oem.test").sign_in()
        sam_a = await User(a.url, "sam@oem.test").sign_in()
        sam_b = User(b.url, "sam@oem.test")
        sam_b.http.cookies.set("inbox_session", sam_a.http.cookies["inbox_session"])
        sam_b.csrf = sam_a.csrf
        dana_ws = await open_socket(b.url, dana)
        sam_ws = await open_socket(b.url, sam_b)

        # Dana's password is reset on A: her socket on B closes, and B refuses her cookie.
        await patch(
            admin,
            f"/api/accounts/{await account_id(admin, 'dana@oem.test')}",
            password=NEW_PASSWORD,
        )
        assert await closed_with(dana_ws) == 4401
        assert (await dana.http.get("/api/auth/me")).status_code == 401

        # Sam signs out on A: the socket of that session on B closes.
        await sam_b.http.get("/api/auth/me")  # still fine until then
        logout = await sam_a.http.post("/api/auth/logout", headers={"x-csrf-token": sam_a.csrf})
        assert logout.status_code == 204
        assert await closed_with(sam_ws) == 4401
        assert (await sam_b.http.get("/api/auth/me")).status_code == 401
        await asyncio.gather(admin.close(), dana.close(), sam_a.close(), sam_b.close())
    finally:
        await asyncio.gather(a.stop(), b.stop())


@pytest.mark.slow
async def test_with_redis_down_a_deactivation_still_closes_sockets_elsewhere(
    db_url: str, tmp_path: Path, redis_url: str, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    await create_account(sessionmaker, "dana@oem.test")
    redis = PrivateRedis(free_port(), tmp_path)
    await redis.start()
    try:
        a, b = await start_pair(db_url, tmp_path, redis.url)
        try:
            admin = await User(a.url, "root@oem.test").sign_in()
            dana = await User(b.url, "dana@oem.test").sign_in()
            dana_ws = await open_socket(b.url, dana)
            dana_id = await account_id(admin, "dana@oem.test")
            redis.stop()
            await patch(admin, f"/api/accounts/{dana_id}", is_active=False)
            # B learns it from the database while the bus is down (every few seconds).
            assert await closed_with(dana_ws, timeout=15) == 4401
            await asyncio.gather(admin.close(), dana.close())
        finally:
            await asyncio.gather(a.stop(), b.stop())
    finally:
        redis.stop()
