"""Several users writing at once against `inbox serve`: no 5xx, every write made once, every
user's event log gapless. On PostgreSQL this used to deadlock in the event log's account lock
(195 of 360 writes answered 500); `bench/concurrency.py` runs the same load at full size."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.conftest import create_account
from tests.support.live import ServerProcess, free_port, server_env
from tests.support.workload import (
    Outcome,
    check_database,
    create_prospects,
    run_load,
    sign_in,
)

USERS = ["ann@oem.test", "ben@oem.test", "cat@oem.test"]


async def _users(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[int, str]]:
    return [((await create_account(sessionmaker, email)).id, email) for email in USERS]


async def _serve(db_url: str, tmp_path: Path) -> ServerProcess:
    port = free_port()
    server = ServerProcess(server_env(db_url, tmp_path, port), port)
    await server.start()
    return server


async def test_mixed_everyday_writes_by_three_users_at_once(
    db_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    users = await _users(sessionmaker)
    server = await _serve(db_url, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers={"origin": server.url}) as c:
            await sign_in(c, USERS[0])
            prospects = await create_prospects(c, 4)  # few rows: the users collide on them
        outcome = await run_load(server.url, users, clients=12, writes=15, prospects=prospects)
    finally:
        log = await server.stop()

    assert outcome.transport_errors == []
    assert outcome.requests == 12 * 15
    assert outcome.server_errors == 0, (dict(outcome.statuses), log[-3000:])
    # Every write answered success: nothing in this load is refused (flags, assignments and
    # tasks on visible conversations; emails to the prospect).
    assert {status for _, status in outcome.statuses} <= {200, 201, 202}, outcome.statuses
    assert outcome.tasks_created > 0 and outcome.emails_queued > 0
    assert await check_database(engine, outcome) == []


async def test_two_users_each_creating_twenty_tasks_at_the_same_moment(
    db_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    users = await _users(sessionmaker)
    server = await _serve(db_url, tmp_path)
    try:
        clients = [
            httpx.AsyncClient(base_url=server.url, headers={"origin": server.url})
            for _ in users[:2]
        ]
        for client, (_, email) in zip(clients, users[:2], strict=True):
            await sign_in(client, email)
        prospects = await create_prospects(clients[0], 1)
        prospect_id = prospects[0][0]

        async def create(client: httpx.AsyncClient, n: int) -> int:
            body = {"prospect_id": prospect_id, "description": f"Call {n}"}
            body["due_at"] = "2030-01-01T09:00:00Z"
            return (await client.post("/api/tasks", json=body)).status_code

        statuses = await asyncio.gather(
            *(create(client, n) for n in range(20) for client in clients)
        )
        # Two parallel flags of the same conversation by one user (two tabs).
        flags = await asyncio.gather(
            *(clients[0].put(f"/api/conversations/{prospects[0][1]}/flag") for _ in range(2))
        )
        for client in clients:
            await client.aclose()
    finally:
        log = await server.stop()

    assert statuses == [201] * 40, log[-3000:]
    assert [r.status_code for r in flags] == [200, 200], log[-3000:]
    assert all(r.json()["flagged"] for r in flags)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM task")) == 40
    assert await check_database(engine, Outcome(), tasks_before=40) == []
