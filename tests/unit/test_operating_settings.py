"""Settings for operating safely: no silent sandbox in production, trusted proxies, the OpenAPI
switch, and URLs whose passwords never reach a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import uvicorn_proxy_options
from server.settings import SettingsError, load_settings, redact_url

KEY = "k" * 40


def test_production_has_no_provider_unless_one_is_named(tmp_path: Path) -> None:
    prod = load_settings(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_MODE": "production", "INBOX_SECRET_KEY": KEY}
    )
    assert (prod.email.provider, prod.sms.provider) == ("none", "none")
    assert [w.split(":")[0] for w in prod.warnings] == ["email", "sms"]
    assert "INBOX_SMTP_HOST" in prod.warnings[0] and "INBOX_SMS_PROVIDER" in prod.warnings[1]

    explicit = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_MODE": "production",
            "INBOX_SECRET_KEY": KEY,
            "INBOX_EMAIL_PROVIDER": "sandbox",
            "INBOX_SMS_PROVIDER": "sandbox",
        }
    )
    assert (explicit.email.provider, explicit.sms.provider) == ("sandbox", "sandbox")
    assert explicit.warnings == []

    smtp = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_MODE": "production",
            "INBOX_SECRET_KEY": KEY,
            "INBOX_SMTP_HOST": "smtp.oem.example",
        }
    )
    assert smtp.email.provider == "smtp"


@pytest.mark.parametrize("mode", ["dev", "demo"])
def test_dev_and_demo_keep_the_sandbox_by_default(tmp_path: Path, mode: str) -> None:
    s = load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_MODE": mode})
    assert (s.email.provider, s.sms.provider, s.warnings) == ("sandbox", "sandbox", [])
    assert s.web.openapi


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"INBOX_EMAIL_PROVIDER": "pigeon"}, "INBOX_EMAIL_PROVIDER"),
        ({"INBOX_EMAIL_PROVIDER": "smtp"}, "INBOX_EMAIL_PROVIDER"),  # without a host
        ({"INBOX_SMS_PROVIDER": "none"}, "INBOX_SMS_PROVIDER"),
        ({"INBOX_TRUSTED_PROXIES": "10.0.0.1, proxy.local"}, "INBOX_TRUSTED_PROXIES"),
        ({"INBOX_OPENAPI": "sometimes"}, "INBOX_OPENAPI"),
    ],
)
def test_a_bad_operating_setting_names_its_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INBOX_DATA_DIR": str(tmp_path), **env})
    assert str(caught.value).startswith(f"{variable}: ")


def test_forwarded_headers_are_trusted_only_from_the_named_proxies(tmp_path: Path) -> None:
    none = load_settings({"INBOX_DATA_DIR": str(tmp_path)})
    assert none.web.trusted_proxies == ()
    assert uvicorn_proxy_options(none) == {"proxy_headers": False, "forwarded_allow_ips": []}
    named = load_settings(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_TRUSTED_PROXIES": "10.0.0.1, 172.16.0.0/12 ,::1"}
    )
    assert named.web.trusted_proxies == ("10.0.0.1", "172.16.0.0/12", "::1")
    assert uvicorn_proxy_options(named) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.1", "172.16.0.0/12", "::1"],
    }


def test_the_openapi_schema_is_off_in_production_unless_asked_for(tmp_path: Path) -> None:
    base = {"INBOX_DATA_DIR": str(tmp_path), "INBOX_MODE": "production", "INBOX_SECRET_KEY": KEY}
    assert not load_settings(base).web.openapi
    assert load_settings({**base, "INBOX_OPENAPI": "true"}).web.openapi
    off = load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_OPENAPI": "false"})
    assert not off.web.openapi


@pytest.mark.parametrize(
    ("env", "secret"),
    [
        ({"INBOX_DATABASE_URL": "mysql://inbox:hunter2secret@db/inbox"}, "hunter2secret"),
        ({"INBOX_REDIS_URL": "http://:hunter2secret@redis:6379/0"}, "hunter2secret"),
        ({"INBOX_PUBLIC_URL": "ftp://me:hunter2secret@host/"}, "hunter2secret"),
    ],
)
def test_a_url_in_an_error_never_shows_its_password(
    tmp_path: Path, env: dict[str, str], secret: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"INBOX_DATA_DIR": str(tmp_path), **env})
    assert secret not in str(caught.value) and "***" in str(caught.value)


def test_redact_url() -> None:
    assert (
        redact_url("postgresql+asyncpg://inbox:p%40ss@db:5432/inbox")
        == "postgresql+asyncpg://inbox:***@db:5432/inbox"
    )
    assert redact_url("redis://:pw@redis/0") == "redis://:***@redis/0"
    assert redact_url("sqlite+aiosqlite:///var/inbox.db") == "sqlite+aiosqlite:///var/inbox.db"
    assert redact_url("postgresql://inbox@db/inbox") == "postgresql://inbox@db/inbox"
