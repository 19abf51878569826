"""The migrations are one line that Alembic itself can check, on SQLite and on PostgreSQL.

One head; after `upgrade head` the models and the schema agree (but for the deliberate
exceptions of `inbox.migrations.NOT_IN_MODELS`); a database migrated by the code before the
merge (several rows in `alembic_version`) reaches the head with its data and without DDL; and
downgrading to base leaves an empty database that upgrades again.
"""

from __future__ import annotations

import ast
import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from inbox.core.db import (
    MIGRATIONS_DIR,
    alembic_config,
    head_revision,
    make_engine,
    migrate,
    schema_is_current,
)
from inbox.migrations import NOT_IN_MODELS, include_name, not_in_models
from inbox.tables import Base
from tests.conftest import PG_ADMIN_URL, _pg_admin

MERGE = "0013_one_line"
# The rows that the code before 0013 left in `alembic_version` after migrating (0003 and 0010
# are not among them: 0009 and 0011 depended on them). 0013 merges exactly these.
OLD_HEADS = (
    "0002_suppression",
    "0004_sms",
    "0005_workflows",
    "0006_email_out",
    "0007_email_in",
    "0008_search_speed",
    "0009_search_names",
    "0011_search_recency",
    "0012_message_author",
)
# What a migration may import: a migration never imports another one (or the app), so it stays
# as it was written whatever changes after it.
MIGRATION_IMPORTS = {"__future__", "collections", "typing", "sqlalchemy", "alembic"}
# SQLite's reflection skips expression indexes (lower(name)), and autogenerate with it, each
# with a warning; PostgreSQL compares them, and on SQLite the test looks them up by name.
SKIPS_EXPRESSION_INDEXES = pytest.mark.filterwarnings("ignore:.*expression-based index")


SCRIPT = ScriptDirectory.from_config(alembic_config("sqlite://"))
HEAD = head_revision("sqlite://")  # refuses more than one


def test_the_history_is_one_line_from_the_merge_to_the_one_head() -> None:
    assert len(SCRIPT.get_heads()) == 1
    revisions = list(SCRIPT.walk_revisions())
    assert [r.revision for r in revisions if r.dependencies] == []
    assert [r.revision for r in revisions if r.down_revision is None] == ["0001"]
    # From the head down to the merge, each revision follows exactly one other.
    revision = SCRIPT.get_revision(HEAD)
    while revision.revision != MERGE:
        assert isinstance(revision.down_revision, str), revision.revision
        revision = SCRIPT.get_revision(revision.down_revision)
    assert sorted(revision.down_revision or ()) == sorted(OLD_HEADS)


def test_no_migration_imports_another() -> None:
    for path in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert imported <= MIGRATION_IMPORTS, (path.name, imported - MIGRATION_IMPORTS)


# --- on a database ---


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind, without any migration applied."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_url")  # PostgreSQL is there (or the test skips or fails)
    name = f"inbox_migrations_{uuid.uuid4().hex[:8]}"
    # A sync fixture, so that it may pick the database kind at run time; the loop is idle here.
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _diffs(conn: sa.Connection, *, everything: bool = False) -> list[Any]:
    opts: dict[str, Any] = {"compare_type": True}
    if not everything:
        opts["include_name"] = include_name
    return list(compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata))


def _name_of(diff: Any) -> tuple[str, str]:
    """(kind, name) of one of compare_metadata's differences, named as in NOT_IN_MODELS."""
    if isinstance(diff, list):  # a column's changes come as a list of them
        diff = diff[0]
    kind = diff[0]
    if kind.endswith("_table"):
        return "table", diff[1].name
    if kind.endswith("_column"):
        return "column", f"{diff[2]}.{diff[3].name}"
    if kind.endswith("_index"):
        return "index", f"{diff[1].table.name}.{diff[1].name}"
    return kind, str(diff[1:])


def _versions(conn: sa.Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


async def _run(url: str, fn: Any) -> Any:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


@SKIPS_EXPRESSION_INDEXES
async def test_the_models_and_the_migrated_schema_agree(db_url: str) -> None:
    dialect = sa.make_url(db_url).get_backend_name()

    def check(conn: sa.Connection) -> None:
        assert _versions(conn) == {HEAD}
        assert _diffs(conn) == []
        # Each exception is there to be skipped: the list holds nothing that is not needed.
        skipped = {_name_of(d) for d in _diffs(conn, everything=True)}
        assert all(not_in_models(kind, name) for kind, name in skipped), skipped
        if conn.dialect.name == "sqlite":
            expression_indexes = {
                index.name
                for table in Base.metadata.tables.values()
                for index in table.indexes
                if any(not isinstance(e, sa.Column) for e in index.expressions)
            }
            names = set(
                conn.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'"))
            )
            assert expression_indexes and expression_indexes <= names
        for entry_dialect, kind, entry in NOT_IN_MODELS:
            if entry_dialect == dialect:
                prefix = entry.removesuffix("*")
                assert any(
                    k == kind and (n == entry or (entry != prefix and n.startswith(prefix)))
                    for k, n in skipped
                ), entry

    await _run(db_url, check)


# --- a database migrated by the code before 0013, with data in it ---

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _table(name: str, *columns: str, **typed: sa.types.TypeEngine[Any]) -> sa.TableClause:
    return sa.table(
        name, *(sa.column(c) for c in columns), *(sa.column(c, t) for c, t in typed.items())
    )


# Today's schema written out, as a migration would be: only the columns these rows need.
ROWS: list[tuple[sa.TableClause, list[dict[str, Any]]]] = [
    (
        _table(
            "account",
            "id", "email", "name", "role", "password_hash", "from_name", "from_email",
            "signature_first", "signature_reply", "event_seq",
            is_active=sa.Boolean(), created_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "email": "dana@oem.test", "name": "Dana", "role": "contact_manager",
                "password_hash": "x", "from_name": "Dana", "from_email": "dana@oem.test",
                "signature_first": "Dana", "signature_reply": "D.", "event_seq": 7,
                "is_active": True, "created_at": NOW,
            }
        ],
    ),
    (
        _table(
            "prospect",
            "id", "first_name", "last_name", "postal_code", "product_of_interest", "kind",
            created_at=sa.DateTime(timezone=True), updated_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "first_name": "Ada", "last_name": "Lovelace", "postal_code": "10115",
                "product_of_interest": "Roadster", "kind": "prospect",
                "created_at": NOW, "updated_at": NOW,
            }
        ],
    ),
    (
        _table(
            "conversation", "id", "prospect_id", "assignee_id", "subject",
            last_activity_at=sa.DateTime(timezone=True), created_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "prospect_id": 1, "assignee_id": 1, "subject": "Brakes",
                "last_activity_at": NOW, "created_at": NOW,
            }
        ],
    ),
    (
        _table(
            "message",
            "id", "conversation_id", "author_account_id", "channel", "direction",
            "author_address", "author_name", "subject", "body_text", "body_html", "in_reply_to",
            "references", "status", "error", "thread_rule", "reply_to", "body_text_full",
            recipients=sa.JSON(), is_automatic=sa.Boolean(), created_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "conversation_id": 1, "author_account_id": None, "channel": "email",
                "direction": "inbound", "author_address": "ada@example.test",
                "author_name": "Ada Lovelace", "subject": "Brakes",
                "body_text": "The brakes squeal when cold.", "body_html": "", "in_reply_to": "",
                "references": "", "status": "received", "error": "", "thread_rule": "",
                "reply_to": "", "body_text_full": "The brakes squeal when cold.",
                "recipients": [{"address": "dana@oem.test", "kind": "to"}],
                "is_automatic": False, "created_at": NOW,
            },
            {
                "id": 2, "conversation_id": 1, "author_account_id": 1, "channel": "email",
                "direction": "outbound", "author_address": "dana@oem.test",
                "author_name": "Dana", "subject": "Re: Brakes",
                "body_text": "Bring it in on Monday.", "body_html": "<p>Bring it in</p>",
                "in_reply_to": "<1@example.test>", "references": "<1@example.test>",
                "status": "sent", "error": "", "thread_rule": "reply",
                "reply_to": "service@oem.test", "body_text_full": "",
                "recipients": [{"address": "ada@example.test", "kind": "to"}],
                "is_automatic": False, "created_at": NOW,
            },
        ],
    ),
    (
        _table(
            "recipient_outcome", "message_id", "address", "kind", "status", "detail",
            updated_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "message_id": 2, "address": "ada@example.test", "kind": "to", "status": "sent",
                "detail": "250 OK", "updated_at": NOW,
            }
        ],
    ),
    (
        _table(
            "lead",
            "id", "prospect_id", "lead_type", "source", "category", "purchase_timeframe",
            "follow_up_status", "dealer", "qualify_state", created_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "prospect_id": 1, "lead_type": "New", "source": "Web",
                "category": "Sales", "purchase_timeframe": "30 days",
                "follow_up_status": "contacted", "dealer": "Main St", "qualify_state": "none",
                "created_at": NOW,
            }
        ],
    ),
    (
        _table(
            "task", "id", "prospect_id", "assignee_id", "description",
            due_at=sa.DateTime(timezone=True), created_at=sa.DateTime(timezone=True),
            updated_at=sa.DateTime(timezone=True),
        ),
        [
            {
                "id": 1, "prospect_id": 1, "assignee_id": 1, "description": "Call back",
                "due_at": NOW, "created_at": NOW, "updated_at": NOW,
            }
        ],
    ),
]  # fmt: skip


def _upgrade_to_old_heads(url: str) -> None:
    """Today's schema as the code before 0013 left it: each of its heads applied in turn."""
    config = alembic_config(url)
    for revision in OLD_HEADS:
        command.upgrade(config, revision)


def _contents(conn: sa.Connection) -> dict[str, list[Any]]:
    return {
        table.name: [tuple(row) for row in conn.execute(sa.select(table).order_by(sa.text("1")))]
        for table, _ in ROWS
    }


def _found(conn: sa.Connection, word: str) -> list[int]:
    """The messages the full-text index finds for a word (and, on PostgreSQL, a name prefix)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT rowid FROM message_fts WHERE message_fts MATCH :word ORDER BY rowid"
    else:
        sql = (
            "SELECT id FROM message WHERE search_tsv @@ to_tsquery('english', :word)"
            " AND search_names @@ 'f616461'::tsquery ORDER BY id"  # first name "ada"
        )
    return list(conn.scalars(sa.text(sql), {"word": word}))


async def test_a_database_migrated_before_the_merge_keeps_its_data_and_gets_no_ddl(
    empty_url: str,
) -> None:
    await asyncio.to_thread(_upgrade_to_old_heads, empty_url)

    def fill(conn: sa.Connection) -> dict[str, list[Any]]:
        assert _versions(conn) == set(OLD_HEADS)
        for table, rows in ROWS:
            conn.execute(table.insert(), rows)
        conn.commit()
        assert _found(conn, "squeal") == [1]
        return _contents(conn)

    before = await _run(empty_url, fill)

    statements: list[str] = []

    def upgrade(conn: sa.Connection) -> None:
        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(" ".join(statement.split()))

        sa.event.listen(conn, "before_cursor_execute", record)
        config = alembic_config(empty_url)
        config.attributes["connection"] = conn  # env.py migrates on this connection
        command.upgrade(config, MERGE)
        conn.commit()
        sa.event.remove(conn, "before_cursor_execute", record)
        assert _versions(conn) == {MERGE}

    engine = make_engine(empty_url)
    try:
        assert await schema_is_current(engine) == (False, ",".join(sorted(OLD_HEADS)), HEAD)
        await _run(empty_url, upgrade)
        await asyncio.to_thread(migrate, empty_url)  # and on to the head, through what follows
        assert await schema_is_current(engine) == (True, HEAD, HEAD)
    finally:
        await engine.dispose()

    # Only the version table changed: the merge replaces the old heads with itself.
    writes = [
        s for s in statements if not s.upper().startswith(("SELECT", "PRAGMA", "BEGIN", "SHOW"))
    ]
    assert writes, statements
    assert all(" alembic_version " in f"{s} " for s in writes), writes
    assert not [s for s in writes if s.upper().startswith(("CREATE", "ALTER", "DROP"))]

    def after(conn: sa.Connection) -> dict[str, list[Any]]:
        assert _found(conn, "squeal") == [1]
        return _contents(conn)

    assert await _run(empty_url, after) == before


# --- downgrade ---


def _leftovers(conn: sa.Connection) -> list[str]:
    """Every table, view, index, trigger and function the migrations could have left behind."""
    if conn.dialect.name == "sqlite":
        sql = (
            "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE '%alembic_version%'"
        )
    else:
        sql = """
            SELECT 'relation ' || relname FROM pg_class
            WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'alembic_version%'
            UNION ALL
            SELECT 'function ' || proname FROM pg_proc
            WHERE pronamespace = 'public'::regnamespace"""
    return sorted(conn.scalars(sa.text(sql)))


def _up_down_up(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")


@SKIPS_EXPRESSION_INDEXES
async def test_downgrade_to_base_leaves_nothing_and_upgrades_again(empty_url: str) -> None:
    await asyncio.to_thread(_up_down_up, empty_url)

    def empty(conn: sa.Connection) -> None:
        assert _versions(conn) == set()
        assert _leftovers(conn) == []

    await _run(empty_url, empty)
    await asyncio.to_thread(command.upgrade, alembic_config(empty_url), "head")

    def agree(conn: sa.Connection) -> None:
        assert _versions(conn) == {HEAD}
        assert _diffs(conn) == []

    await _run(empty_url, agree)
