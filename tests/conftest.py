"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

With CI=true a missing service fails the run; locally it skips with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.accounts.models import Account, Role
from inbox.accounts.schemas import AccountCreate
from inbox.accounts.service import do_create_account
from inbox.core.access import Actor, actor_of
from inbox.core.db import make_engine, make_sessionmaker, migrate
from inbox.tables import Base
from tests.support.dovecot import Dovecot, running_dovecot

CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get(
    "INBOX_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def service_missing(what: str) -> None:
    """Fail under CI, skip locally: a test never silently passes without its service."""
    if CI:
        pytest.fail(f"{what} is required when CI=true", pytrace=False)
    pytest.skip(f"{what} is not available")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = sa.make_url(PG_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this run, migrated; dropped at the end."""
    name = f"inbox_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # any failure means no PostgreSQL
        service_missing(f"PostgreSQL at {PG_ADMIN_URL} ({exc})")
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate, url)
    yield url
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


TABLES = [t.name for t in reversed(Base.metadata.sorted_tables)]


async def _truncate(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "inbox.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_url")
    # A sync fixture, so that it may pick the database kind at run time; the loop is idle here.
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


async def create_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    email: str,
    role: Role = Role.CONTACT_MANAGER,
    password: str = "correct horse battery",
) -> Actor:
    async with sessionmaker() as session:
        read = await do_create_account(
            session,
            None,
            AccountCreate(
                email=email, name=email.split("@")[0].title(), role=role, password=password
            ),
        )
        await session.commit()
        account = await session.get(Account, read.id)
        assert account is not None
        return actor_of(account)


@pytest.fixture
async def cmu(sessionmaker: async_sessionmaker[AsyncSession]) -> Actor:
    return await create_account(sessionmaker, "dana@oem.test")


@pytest.fixture
async def admin(sessionmaker: async_sessionmaker[AsyncSession]) -> Actor:
    return await create_account(sessionmaker, "root@oem.test", Role.ADMIN)


async def count_rows(
    sessionmaker: async_sessionmaker[AsyncSession], *tables: Any
) -> dict[str, int]:
    """Row counts of the given tables, to show a refused request wrote nothing."""
    async with sessionmaker() as session:
        return {
            t.__tablename__: int(
                await session.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            )
            for t in tables
        }


REDIS_URL = os.environ.get("INBOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
async def redis_url() -> str:
    """The shared Redis; tests isolate themselves by channel prefix (pub/sub ignores db numbers)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # any failure means no Redis
        service_missing(f"Redis at {REDIS_URL} ({exc})")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A Dovecot of our own for the whole session: IMAP and LMTP on loopback ports."""
    try:
        with running_dovecot() as server:
            yield server
    except FileNotFoundError:
        service_missing("Dovecot (apt-get install dovecot-imapd dovecot-lmtpd)")
