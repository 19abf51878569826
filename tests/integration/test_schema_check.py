"""`inbox serve` refuses an out-of-date schema and names the command to run."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, _pg_admin

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
