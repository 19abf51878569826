"""Settings are read once from INBOX_* variables; a bad one stops start-up naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_give_the_embedded_sqlite_app(tmp_path: Path) -> None:
    settings = load_settings({"INBOX_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/inbox.db"
    assert settings.redis_url is None and settings.auto_migrate
    assert len(settings.secret_key) >= 32
    # The generated dev key is kept, so sessions survive a restart.
    assert load_settings({"INBOX_DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_urls_get_the_async_driver(tmp_path: Path) -> None:
    settings = load_settings(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": "postgresql://u@db:5432/inbox"}
    )
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/inbox"
    assert not settings.auto_migrate


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"INBOX_MODE": "production"}, "INBOX_SECRET_KEY"),
        ({"INBOX_SECRET_KEY": "short"}, "INBOX_SECRET_KEY"),
        ({"INBOX_DATABASE_URL": "mysql://x/y"}, "INBOX_DATABASE_URL"),
        ({"INBOX_REDIS_URL": "http://redis"}, "INBOX_REDIS_URL"),
        ({"INBOX_PUBLIC_URL": "ftp://x"}, "INBOX_PUBLIC_URL"),
        ({"INBOX_LOG_LEVEL": "LOUD"}, "INBOX_LOG_LEVEL"),
        ({"INBOX_RUN_WORKERS": "maybe"}, "INBOX_RUN_WORKERS"),
        ({"INBOX_EVENT_RETENTION_DAYS": "0"}, "INBOX_EVENT_RETENTION_DAYS"),
        ({"INBOX_PHONE_REGION": "USA"}, "INBOX_PHONE_REGION"),
        ({"INBOX_MODE": "staging"}, "INBOX_MODE"),
    ],
)
def test_a_bad_setting_names_its_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INBOX_DATA_DIR": str(tmp_path), **env})
    assert str(caught.value).startswith(f"{variable}: ")
    assert "\n" not in str(caught.value)


def test_the_cli_stops_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"INBOX_DATA_DIR": str(tmp_path), "INBOX_MODE": "production"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "inbox: INBOX_SECRET_KEY: required in production (at least 32 characters)"
    ]


def test_secure_cookies_follow_the_public_url(tmp_path: Path) -> None:
    base = {"INBOX_DATA_DIR": str(tmp_path)}
    assert load_settings({**base, "INBOX_PUBLIC_URL": "https://inbox.oem.example"}).secure_cookies
    assert not load_settings({**base, "INBOX_PUBLIC_URL": "http://127.0.0.1:8000"}).secure_cookies
    assert (
        load_settings({**base, "INBOX_PUBLIC_URL": "https://inbox.oem.example"}).email_domain
        == "inbox.oem.example"
    )
