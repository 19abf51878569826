"""Engine and session factory, and the schema's migration state."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parents[1] / "migrations"
# An execution option: the transaction only reads. On SQLite it then begins deferred (a
# reader never takes the write lock, so a long export or a burst of page loads does not hold
# up ingest and sends) with `PRAGMA query_only` on, so a write there fails instead of
# quietly taking the lock.
READ_ONLY = "inbox_read_only"


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file, so a fresh clone runs without setup."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if is_sqlite(url):
        ensure_sqlite_dir(url)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # aiosqlite opens its own transactions; let SQLAlchemy emit BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            read_only = bool(conn.get_execution_options().get(READ_ONLY, False))
            info = conn.connection.info  # kept with the pooled connection
            if info.get(READ_ONLY, False) != read_only:
                conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
                info[READ_ONLY] = read_only
            # A writer takes the write lock up front: two never deadlock on a lock upgrade.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT construct of the session's database, for ON CONFLICT (both SQLite and
    PostgreSQL have it, each in its own dialect module)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_sessionmaker(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions for use cases; `read_only` ones are for transactions that never write."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str:
    """The migrations' one head; a second one (a new revision that does not follow the head
    before it) is refused with what to do, rather than Alembic's advice to upgrade "heads"."""
    from alembic.script import ScriptDirectory

    heads = sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if len(heads) != 1:
        raise RuntimeError(
            f"the migrations have {len(heads)} heads ({', '.join(heads)}) but must be one line:"
            " a new revision's down_revision is the single head before it"
        )
    return heads[0]


def _upgrade(url: str) -> None:
    from alembic import command

    ensure_sqlite_dir(url)
    head_revision(url)
    # One line, one head. A database migrated before 0013 holds the heads of the branches
    # that 0013 merges; Alembic applies 0013 to it by rewriting its version table, no DDL.
    command.upgrade(alembic_config(url), "head")


def migrate(url: str) -> None:
    """Bring the schema to the newest revision. Blocking; the migration environment runs its
    own event loop, so inside a running loop it is moved to a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(url)
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(_upgrade, url).result()


async def schema_is_current(engine: AsyncEngine) -> tuple[bool, str | None, str]:
    """(current?, the database's revisions comma-joined, the code's head revision).

    Current means the version table holds exactly the head: a database still at the branches
    that 0013 merges (or at a revision this code does not know) is not, and `migrate` fixes it.
    """
    from alembic.runtime.migration import MigrationContext

    head = head_revision(engine.url.render_as_string(hide_password=False))

    def _current(conn: sa.Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(conn).get_current_heads())

    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    return current == (head,), ",".join(sorted(current)) or None, head
