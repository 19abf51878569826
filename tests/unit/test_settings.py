"""Settings are read once from INBOX_* variables; a bad one stops start-up naming the variable."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from channels.email.imap import ImapConfig
from channels.email.smtp import SmtpConfig
from channels.sms.twilio import TwilioConfig
from server.settings import (
    DatabaseSettings,
    EmailSettings,
    RedisSettings,
    SandboxSettings,
    Settings,
    SettingsError,
    SmsSettings,
    WebSettings,
    WorkerSettings,
    keep_secret_key,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 40
IMAP = {"INBOX_IMAP_HOST": "imap.oem.example", "INBOX_IMAP_USERNAME": "replies@oem.example"}


def test_defaults_give_the_embedded_sqlite_app(tmp_path: Path) -> None:
    settings = load_settings({"INBOX_DATA_DIR": str(tmp_path)})
    assert settings.database.url == f"sqlite+aiosqlite:///{tmp_path}/inbox.db"
    assert settings.redis.url is None and settings.database.auto_migrate
    assert len(settings.web.secret_key) >= 32
    assert (settings.smtp, settings.imap, settings.twilio) == (None, None, None)
    assert settings.workers.in_app and settings.workers.task_check_seconds == 30


def test_postgres_urls_get_the_async_driver(tmp_path: Path) -> None:
    settings = load_settings(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": "postgresql://u@db:5432/inbox"}
    )
    assert settings.database.url == "postgresql+asyncpg://u@db:5432/inbox"
    assert not settings.database.auto_migrate


def test_loading_settings_writes_nothing(tmp_path: Path) -> None:
    """Not the data directory, not the dev key: the command that serves keeps the key."""
    data_dir = tmp_path / "var"
    for mode in ("dev", "demo"):
        settings = load_settings({"INBOX_DATA_DIR": str(data_dir), "INBOX_MODE": mode})
        assert settings.web.secret_key_file == data_dir / "secret_key"
    assert not data_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_dev_key_is_kept_by_the_command_that_serves(tmp_path: Path) -> None:
    env = {"INBOX_DATA_DIR": str(tmp_path / "var")}
    first = load_settings(env)
    kept = keep_secret_key(first)
    assert kept.web.secret_key == first.web.secret_key
    path = tmp_path / "var" / "secret_key"
    assert path.read_text() == first.web.secret_key
    assert path.stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]
    # Sessions survive a restart: the next process reads the kept key ...
    again = load_settings(env)
    assert again.web.secret_key == first.web.secret_key
    assert keep_secret_key(again) == again
    # ... and one that generated another before it was kept adopts the kept one.
    late = replace(again, web=replace(again.web, secret_key="x" * 48))
    assert keep_secret_key(late).web.secret_key == first.web.secret_key
    # A key from the environment is never written.
    given = load_settings({"INBOX_DATA_DIR": str(tmp_path / "other"), "INBOX_SECRET_KEY": KEY})
    assert given.web.secret_key_file is None and keep_secret_key(given) == given
    assert not (tmp_path / "other").exists()


def test_a_kept_key_too_short_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("short")
    with pytest.raises(SettingsError, match=r"^INBOX_SECRET_KEY: unset, and .* holds no key"):
        load_settings({"INBOX_DATA_DIR": str(tmp_path)})


def test_the_channel_sections_are_the_channel_configs(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_PUBLIC_URL": "https://inbox.oem.example/",
            "INBOX_SMTP_HOST": "smtp.oem.example",
            "INBOX_IMAP_HOST": "imap.oem.example",
            "INBOX_IMAP_USERNAME": "replies@oem.example",
            "INBOX_IMAP_TLS": "starttls",
            "INBOX_SMS_PROVIDER": "twilio",
            "INBOX_TWILIO_ACCOUNT_SID": "AC123",
            "INBOX_TWILIO_AUTH_TOKEN": "token",
            "INBOX_TWILIO_FROM": "+15551234567",
        }
    )
    assert settings.smtp == SmtpConfig(host="smtp.oem.example", port=587)
    assert settings.imap == ImapConfig(
        host="imap.oem.example",
        port=143,
        username="replies@oem.example",
        password="",
        tls="starttls",
    )
    assert settings.twilio == TwilioConfig(
        account_sid="AC123",
        auth_token="token",
        sender="+15551234567",
        status_callback_url="https://inbox.oem.example/webhooks/twilio/status",
    )
    # The defaults that follow another setting agree with the channel's own.
    assert load_settings({"INBOX_DATA_DIR": str(tmp_path), **IMAP}).imap == ImapConfig(
        host="imap.oem.example", port=993, username="replies@oem.example", password=""
    )


def test_settings_have_one_source_of_defaults() -> None:
    """The sections declare no defaults of their own: `load_settings` is the one place."""
    sections = [
        Settings,
        DatabaseSettings,
        RedisSettings,
        WebSettings,
        WorkerSettings,
        EmailSettings,
        SmsSettings,
        SandboxSettings,
    ]
    for section in sections:
        defaulted = [
            f.name
            for f in dataclasses.fields(section)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        assert defaulted == [], f"{section.__name__} has defaults: {defaulted}"
    assert "type: ignore" not in (ROOT / "server" / "settings.py").read_text()


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
        ({"INBOX_IMAP_PORT": "99999"}, "INBOX_IMAP_PORT"),
        ({"INBOX_IMAP_TLS": "ssl"}, "INBOX_IMAP_TLS"),
        ({"INBOX_IMAP_HOST": "imap.oem.example"}, "INBOX_IMAP_USERNAME"),
        ({"INBOX_IMAP_LEASE_SECONDS": "1"}, "INBOX_IMAP_LEASE_SECONDS"),
        ({"INBOX_WS_QUEUE_SIZE": "5"}, "INBOX_WS_QUEUE_SIZE"),
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
    https = load_settings({**base, "INBOX_PUBLIC_URL": "https://inbox.oem.example"})
    assert https.web.secure_cookies and https.email.domain == "inbox.oem.example"
    http = load_settings({**base, "INBOX_PUBLIC_URL": "http://127.0.0.1:8000"})
    assert not http.web.secure_cookies
