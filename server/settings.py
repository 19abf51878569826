"""Settings: one typed object read once from `INBOX_*` variables (and an optional `.env`)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["production", "dev", "demo"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    mode: Mode = "dev"
    database_url: str
    redis_url: str | None = None
    secret_key: str
    public_url: str = "http://127.0.0.1:8000"
    email_domain: str = "inbox.localhost"
    attachments_dir: Path = Path("var/attachments")
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    phone_region: str = "US"
    run_workers: bool = True
    auto_migrate: bool = False
    event_retention_days: int = 7
    sandbox_delay_ms: int = 0
    send_lease_seconds: int = 60
    redis_prefix: str = "inbox"
    ws_queue_size: int = 1000

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def sandbox_log(self) -> Path:
        return self.data_dir / "sandbox-outbox.jsonl"


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise SettingsError(f"{name}: expected a {' or '.join(schemes)} URL, got {raw!r}")
    return raw


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    raw = env.get("INBOX_DATABASE_URL")
    if not raw:
        return f"sqlite+aiosqlite:///{(data_dir / 'inbox.db').as_posix()}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    aliases = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    scheme = aliases.get(scheme, scheme)
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise SettingsError(
            f"INBOX_DATABASE_URL: expected a sqlite:// or postgresql:// URL, got {raw!r}"
        )
    return scheme + "://" + raw.split("://", 1)[1]


def _secret_key(env: Mapping[str, str], mode: Mode, data_dir: Path) -> str:
    key = env.get("INBOX_SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise SettingsError("INBOX_SECRET_KEY: must be at least 32 characters")
        return key
    if mode == "production":
        raise SettingsError("INBOX_SECRET_KEY: required in production (at least 32 characters)")
    # Dev and demo keep a generated key under the data directory so sessions survive restarts.
    path = data_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _domain_of(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    # An IP address or a bare host makes a poor Message-ID domain.
    if "." not in host or host.replace(".", "").isdigit():
        return "inbox.localhost"
    return host


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None
) -> Settings:
    """Read settings once. Raises SettingsError naming the first bad variable."""
    if environ is None:
        env = {**_read_dotenv(dotenv or Path(".env")), **os.environ}
    else:
        env = dict(environ)
    mode = env.get("INBOX_MODE", "dev") or "dev"
    if mode not in ("production", "dev", "demo"):
        raise SettingsError(f"INBOX_MODE: expected production, dev or demo, got {mode!r}")
    data_dir = Path(env.get("INBOX_DATA_DIR") or "var")
    log_level = (env.get("INBOX_LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"INBOX_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}")
    public_url = _url(env, "INBOX_PUBLIC_URL", ("http", "https")) or "http://127.0.0.1:8000"
    domain = env.get("INBOX_EMAIL_DOMAIN") or _domain_of(public_url)
    if "@" in domain or "/" in domain or " " in domain:
        raise SettingsError(f"INBOX_EMAIL_DOMAIN: expected a domain name, got {domain!r}")
    region = (env.get("INBOX_PHONE_REGION") or "US").upper()
    if len(region) != 2 or not region.isalpha():
        raise SettingsError(
            f"INBOX_PHONE_REGION: expected a two-letter region code, got {region!r}"
        )
    database_url = _database_url(env, data_dir)
    return Settings(
        mode=mode,  # type: ignore[arg-type]
        database_url=database_url,
        redis_url=_url(env, "INBOX_REDIS_URL", ("redis", "rediss", "unix")),
        secret_key=_secret_key(env, mode, data_dir),  # type: ignore[arg-type]
        public_url=public_url.rstrip("/"),
        email_domain=domain,
        attachments_dir=Path(env.get("INBOX_ATTACHMENTS_DIR") or data_dir / "attachments"),
        data_dir=data_dir,
        log_level=log_level,
        phone_region=region,
        run_workers=_bool(env, "INBOX_RUN_WORKERS", True),
        auto_migrate=_bool(env, "INBOX_AUTO_MIGRATE", database_url.startswith("sqlite")),
        event_retention_days=_int(env, "INBOX_EVENT_RETENTION_DAYS", 7, minimum=1),
        sandbox_delay_ms=_int(env, "INBOX_SANDBOX_DELAY_MS", 0),
        send_lease_seconds=_int(env, "INBOX_SEND_LEASE_SECONDS", 60, minimum=1),
        redis_prefix=env.get("INBOX_REDIS_PREFIX") or "inbox",
        ws_queue_size=_int(env, "INBOX_WS_QUEUE_SIZE", 1000, minimum=10),
    )


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every plugin it loads at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
