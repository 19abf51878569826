"""Read-only transactions: a reader (a page load, a CSV export, a websocket replay) never holds
up a writer (ingest, a send), and on SQLite a write inside one fails instead of taking the lock."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.accounts.models import Account
from inbox.core.db import make_engine, make_sessionmaker
from tests.conftest import create_account

Maker = async_sessionmaker[AsyncSession]


async def test_an_open_read_transaction_does_not_hold_up_a_writer(
    engine: AsyncEngine, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    reader = make_sessionmaker(engine, read_only=True)
    async with reader() as reading:
        # The reader's transaction is open (as during a long export) ...
        assert await reading.scalar(sa.select(sa.func.count()).select_from(Account)) == 1
        # ... and a writer still commits at once, instead of waiting out the busy timeout.
        await asyncio.wait_for(create_account(sessionmaker, "sam@oem.test"), 5)
        # The reader keeps its snapshot until it ends.
        names = set(await reading.scalars(sa.select(Account.email)))
        assert "dana@oem.test" in names
    async with reader() as reading:
        assert await reading.scalar(sa.select(sa.func.count()).select_from(Account)) == 2


async def test_on_sqlite_a_write_in_a_read_transaction_fails_and_writers_are_unaffected(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "inbox.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    # The sessions below run one at a time, so they share one pooled connection: the writer
    # gets the very connection the reader used.
    writer, reader = make_sessionmaker(engine), make_sessionmaker(engine, read_only=True)
    try:
        await create_account(writer, "dana@oem.test")
        async with reader() as reading:
            with pytest.raises(OperationalError, match="readonly"):
                await reading.execute(sa.update(Account).values(name="Changed"))
        async with reader() as reading:
            assert await reading.scalar(sa.select(Account.name)) != "Changed"
        await create_account(writer, "sam@oem.test")  # the same connection writes again
        async with reader() as reading:
            assert await reading.scalar(sa.select(sa.func.count()).select_from(Account)) == 2
    finally:
        await engine.dispose()
