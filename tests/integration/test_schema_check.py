"""`inbox serve` refuses an out-of-date schema and names the command to run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from inbox.core.db import alembic_config, head_revision, make_engine, schema_is_current
from tests.conftest import PG_ADMIN_URL, _pg_admin
from tests.integration.test_migrations import OLD_HEADS

ROOT = Path(__file__).resolve().parents[2]


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_serve_refuses_an_unmigrated_sqlite_file_when_auto_migrate_is_off(tmp_path: Path) -> None:
    result = serve({"INBOX_DATA_DIR": str(tmp_path), "INBOX_AUTO_MIGRATE": "false"})
    assert result.returncode == 2
    assert "run `inbox migrate` first" in result.stderr


async def test_serve_refuses_an_unmigrated_postgres_database_and_migrate_fixes_it(
    tmp_path: Path, pg_url: str
) -> None:
    name = f"inbox_empty_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        env = {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": url}
        refused = serve(env)
        assert refused.returncode == 2
        assert "schema is at nothing" in refused.stderr and "inbox migrate" in refused.stderr
        migrated = subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr
        assert "up to date" in migrated.stdout
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_serve_refuses_a_database_still_at_the_old_branches_and_migrate_merges_them(
    tmp_path: Path, pg_url: str
) -> None:
    """A PostgreSQL database migrated by the code before the merge (several rows in the version
    table) is not current; `inbox migrate` brings it to the one head."""
    name = f"inbox_branches_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        for revision in OLD_HEADS:
            await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
        env = {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": url}
        refused = serve(env)
        assert refused.returncode == 2
        head = head_revision(url)
        assert f"schema is at {','.join(sorted(OLD_HEADS))} but this code needs {head}" in (
            refused.stderr
        )
        migrated = subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr
        assert "up to date" in migrated.stdout
        engine = make_engine(url)
        try:
            assert await schema_is_current(engine) == (True, head, head)
        finally:
            await engine.dispose()
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
