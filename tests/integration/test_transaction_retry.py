"""A transaction that loses a deadlock is run again, in the background and behind HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from litestar import Litestar, post
from litestar.middleware import DefineMiddleware
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Account, Role
from inbox.core.db import make_engine, make_sessionmaker
from inbox.core.transactions import is_retryable, run_in_transaction
from server.problems import EXCEPTION_HANDLERS
from server.retry import RETRY_HEADER, TransactionRetryMiddleware, conflict_handler
from tests.conftest import _truncate as truncate
from tests.conftest import create_account


@pytest.fixture
async def pg_sessionmaker(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """PostgreSQL only: SQLite's writers queue on one lock (BEGIN IMMEDIATE) and never
    deadlock."""
    await truncate(pg_url)
    engine = make_engine(pg_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_a_real_deadlock_is_retried_and_both_transactions_land(
    pg_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sessionmaker = pg_sessionmaker
    cmu = await create_account(sessionmaker, "dana@oem.test")
    admin = await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    both_hold_one = asyncio.Barrier(2)
    runs: list[str] = []

    def crossing(name: str, first: int, second: int) -> Any:
        async def work(session: AsyncSession) -> None:
            runs.append(name)
            await session.execute(
                sa.update(Account).where(Account.id == first).values(name=f"{name} 1")
            )
            if runs.count(name) == 1:  # only the first attempts wait for each other
                await both_hold_one.wait()
            await session.execute(
                sa.update(Account).where(Account.id == second).values(name=f"{name} 2")
            )

        return work

    await asyncio.wait_for(
        asyncio.gather(
            run_in_transaction(sessionmaker, crossing("a", cmu.id, admin.id)),
            run_in_transaction(sessionmaker, crossing("b", admin.id, cmu.id)),
        ),
        30,
    )
    # PostgreSQL aborted one of the two; it ran a second time and both committed.
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])
    async with sessionmaker() as session:
        names = set(await session.scalars(sa.select(Account.name)))
    assert names in ({"a 1", "a 2"}, {"b 1", "b 2"})


class _Lost(Exception):
    sqlstate = "40P01"


def _deadlock() -> DBAPIError:
    return DBAPIError("UPDATE account", {}, _Lost("deadlock detected"))


class Note(msgspec.Struct):
    text: str


def _app(losses: int, seen: list[str]) -> Litestar:
    @post("/notes", status_code=201)
    async def add_note(data: JSONBody[Note]) -> dict[str, str]:
        seen.append(data.text)
        if len(seen) <= losses:
            raise _deadlock()
        return {"saved": data.text}

    return Litestar(
        route_handlers=[add_note],
        middleware=[DefineMiddleware(TransactionRetryMiddleware, max_body=1024)],
        exception_handlers={**EXCEPTION_HANDLERS, DBAPIError: conflict_handler},
    )


async def test_a_request_that_lost_a_race_is_replayed_with_its_body() -> None:
    seen: list[str] = []
    async with AsyncTestClient(_app(losses=2, seen=seen)) as client:
        response = await client.post("/notes", json={"text": "call back"})
    assert response.status_code == 201
    assert response.json() == {"saved": "call back"}
    assert seen == ["call back"] * 3
    assert RETRY_HEADER.decode() not in response.headers


async def test_a_request_that_keeps_losing_answers_503_not_500() -> None:
    seen: list[str] = []
    async with AsyncTestClient(_app(losses=100, seen=seen)) as client:
        response = await client.post("/notes", json={"text": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "transaction_conflict"
    assert RETRY_HEADER.decode() not in response.headers
    assert len(seen) == 5


async def test_other_database_errors_are_not_retried() -> None:
    seen: list[str] = []

    @post("/boom")
    async def boom() -> None:
        seen.append("x")
        raise DBAPIError("SELECT 1", {}, Exception("connection refused"))

    app = Litestar(
        route_handlers=[boom],
        middleware=[DefineMiddleware(TransactionRetryMiddleware, max_body=1024)],
        exception_handlers={**EXCEPTION_HANDLERS, DBAPIError: conflict_handler},
    )
    async with AsyncTestClient(app) as client:
        response = await client.post("/boom")
    assert response.status_code == 500
    assert seen == ["x"]
    assert not is_retryable(DBAPIError("SELECT 1", {}, Exception("no")))
    assert is_retryable(_deadlock())
