"""Settings: one typed object read once from `INBOX_*` variables (and an optional `.env`)."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Mode = Literal["production", "dev", "demo"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SmtpTls = Literal["none", "starttls", "tls"]
# "none": nothing configured in production; a send there fails with an error that says so.
SmsProvider = Literal["sandbox", "twilio", "none"]
EmailProvider = Literal["smtp", "sandbox", "none"]
DEFAULT_HELP_REPLY = (
    "You are texting our customer care team; reply here to reach your contact. "
    "Msg & data rates may apply. Reply STOP to opt out."
)
SMTP_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
# The app refuses request bodies above this; attachments must fit in one request.
MAX_ATTACHMENT_BYTES = 24 * 1024 * 1024


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
    task_check_seconds: int = 30
    email_provider: EmailProvider = "sandbox"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: SmtpTls = "starttls"
    reply_address: str = "replies@inbox.localhost"
    max_attachment_bytes: int = 10 * 1024 * 1024
    sms_provider: SmsProvider = "sandbox"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    sms_help_reply: str = DEFAULT_HELP_REPLY
    imap_host: str | None = None
    imap_port: int = 993
    imap_username: str = ""
    imap_password: str = ""
    imap_tls: SmtpTls = "tls"
    imap_mailbox: str = "INBOX"
    imap_lease_seconds: int = 60
    imap_poll_seconds: int = 60
    tls_ca_file: str | None = None
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IP addresses
    # or networks, or "*"); empty: none, the client is the peer of the TCP connection.
    trusted_proxies: tuple[str, ...] = ()
    # Serve the OpenAPI schema and its viewers under /schema.
    openapi: bool = True

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

    @property
    def warnings(self) -> list[str]:
        """What an operator must know about this configuration (logged at start-up and shown
        by /health): today, a channel with nowhere to send in production."""
        found = []
        if self.email_provider == "none":
            found.append(
                "email: no provider configured, sends fail (set INBOX_SMTP_HOST, "
                "or INBOX_EMAIL_PROVIDER=sandbox to keep mail in the sandbox log)"
            )
        if self.sms_provider == "none":
            found.append(
                "sms: no provider configured, sends fail (set INBOX_SMS_PROVIDER=twilio, "
                "or INBOX_SMS_PROVIDER=sandbox to keep texts in the sandbox log)"
            )
        return found


def redact_url(url: str) -> str:
    """A URL fit for a message or a log: its password (if any) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{userinfo}@{host}").geturl()


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
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise SettingsError(f"{name}: not a valid URL ({redact_url(raw)!r})") from None
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise SettingsError(
            f"{name}: expected a {' or '.join(schemes)} URL, got {redact_url(raw)!r}"
        )
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
            "INBOX_DATABASE_URL: expected a sqlite:// or postgresql:// URL, "
            f"got {redact_url(raw)!r}"
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


def _email_provider(env: Mapping[str, str], mode: str) -> EmailProvider:
    """SMTP when a host is set; unset, the sandbox in dev and demo, and nothing in production
    (sends fail), unless INBOX_EMAIL_PROVIDER=sandbox says so."""
    raw = (env.get("INBOX_EMAIL_PROVIDER") or "").lower()
    host = env.get("INBOX_SMTP_HOST")
    if raw == "smtp":
        if not host:
            raise SettingsError("INBOX_EMAIL_PROVIDER: smtp needs INBOX_SMTP_HOST")
        return "smtp"
    if raw == "sandbox":
        return "sandbox"
    if raw:
        raise SettingsError(f"INBOX_EMAIL_PROVIDER: expected smtp or sandbox, got {raw!r}")
    if host:
        return "smtp"
    return "none" if mode == "production" else "sandbox"


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("INBOX_TRUSTED_PROXIES") or ""
    proxies = tuple(p.strip() for p in raw.split(",") if p.strip())
    for proxy in proxies:
        if proxy == "*":
            continue
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                "INBOX_TRUSTED_PROXIES: expected IP addresses or networks separated by commas "
                f"(or *), got {proxy!r}"
            ) from None
    return proxies


def _smtp(env: Mapping[str, str]) -> dict[str, Any]:
    tls = (env.get("INBOX_SMTP_TLS") or "starttls").lower()
    if tls not in SMTP_PORTS:
        raise SettingsError(f"INBOX_SMTP_TLS: expected none, starttls or tls, got {tls!r}")
    port = _int(env, "INBOX_SMTP_PORT", SMTP_PORTS[tls], minimum=1)
    if port > 65535:
        raise SettingsError(f"INBOX_SMTP_PORT: expected a port number, got {port}")
    username, password = env.get("INBOX_SMTP_USERNAME", ""), env.get("INBOX_SMTP_PASSWORD", "")
    if password and not username:
        raise SettingsError("INBOX_SMTP_USERNAME: required when INBOX_SMTP_PASSWORD is set")
    return {
        "smtp_host": env.get("INBOX_SMTP_HOST") or None,
        "smtp_port": port,
        "smtp_username": username,
        "smtp_password": password,
        "smtp_tls": tls,
    }


def _tls_ca_file(env: Mapping[str, str]) -> str | None:
    """The PEM bundle that SMTP and IMAP verify their servers against (instead of the system's
    CAs); it must be readable and hold at least one certificate."""
    value = env.get("INBOX_TLS_CA_FILE") or None
    if value is None:
        return None
    path = Path(value).expanduser()
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise SettingsError(f"INBOX_TLS_CA_FILE: no such file {value!r}") from None
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"INBOX_TLS_CA_FILE: not a readable PEM file of CA certificates ({value!r}: {exc})"
        ) from None
    return str(path)


def _reply_address(env: Mapping[str, str], domain: str) -> str:
    address = env.get("INBOX_REPLY_ADDRESS") or f"replies@{domain}"
    local, _, host = address.partition("@")
    if not local or "." not in host or "+" in local or any(c in address for c in " <>,;"):
        raise SettingsError(
            f"INBOX_REPLY_ADDRESS: expected a plain address without +, got {address!r}"
        )
    return address.lower()


def _max_attachment_bytes(env: Mapping[str, str]) -> int:
    value = _int(env, "INBOX_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, minimum=1)
    if value > MAX_ATTACHMENT_BYTES:
        raise SettingsError(
            f"INBOX_MAX_ATTACHMENT_BYTES: at most {MAX_ATTACHMENT_BYTES} bytes, got {value}"
        )
    return value


def _sms(env: Mapping[str, str], mode: str) -> dict[str, Any]:
    raw = (env.get("INBOX_SMS_PROVIDER") or "").lower()
    if raw and raw not in ("sandbox", "twilio"):
        raise SettingsError(f"INBOX_SMS_PROVIDER: expected sandbox or twilio, got {raw!r}")
    # Production never falls back to the sandbox by itself: unset, texts have nowhere to go.
    provider = raw or ("none" if mode == "production" else "sandbox")
    sid = (env.get("INBOX_TWILIO_ACCOUNT_SID") or "").strip()
    token = (env.get("INBOX_TWILIO_AUTH_TOKEN") or "").strip()
    sender = (env.get("INBOX_TWILIO_FROM") or "").strip()
    if provider == "twilio":
        if not sid.startswith("AC"):
            raise SettingsError("INBOX_TWILIO_ACCOUNT_SID: an AC... account SID is required")
        if not token:
            raise SettingsError("INBOX_TWILIO_AUTH_TOKEN: required with INBOX_SMS_PROVIDER=twilio")
        if not (sender.startswith("MG") or re.fullmatch(r"\+[1-9][0-9]{6,14}", sender)):
            raise SettingsError(
                "INBOX_TWILIO_FROM: expected an E.164 number (+15551234567) or a Messaging "
                f"Service SID (MG...), got {sender!r}"
            )
    help_reply = env.get("INBOX_SMS_HELP_REPLY")
    if help_reply is not None and len(help_reply) > 1600:
        raise SettingsError("INBOX_SMS_HELP_REPLY: at most 1600 characters")
    return {
        "sms_provider": provider,
        "twilio_account_sid": sid,
        "twilio_auth_token": token,
        "twilio_from": sender,
        "twilio_base_url": (
            _url(env, "INBOX_TWILIO_BASE_URL", ("http", "https")) or "https://api.twilio.com"
        ).rstrip("/"),
        "sms_help_reply": DEFAULT_HELP_REPLY if help_reply is None else help_reply.strip(),
    }


IMAP_PORTS: dict[str, int] = {"none": 143, "starttls": 143, "tls": 993}


def _imap(env: Mapping[str, str]) -> dict[str, Any]:
    tls = (env.get("INBOX_IMAP_TLS") or "tls").lower()
    if tls not in IMAP_PORTS:
        raise SettingsError(f"INBOX_IMAP_TLS: expected none, starttls or tls, got {tls!r}")
    port = _int(env, "INBOX_IMAP_PORT", IMAP_PORTS[tls], minimum=1)
    if port > 65535:
        raise SettingsError(f"INBOX_IMAP_PORT: expected a port number, got {port}")
    host = env.get("INBOX_IMAP_HOST") or None
    username = env.get("INBOX_IMAP_USERNAME", "")
    if host and not username:
        raise SettingsError("INBOX_IMAP_USERNAME: required when INBOX_IMAP_HOST is set")
    return {
        "imap_host": host,
        "imap_port": port,
        "imap_username": username,
        "imap_password": env.get("INBOX_IMAP_PASSWORD", ""),
        "imap_tls": tls,
        "imap_mailbox": env.get("INBOX_IMAP_MAILBOX") or "INBOX",
        "imap_lease_seconds": _int(env, "INBOX_IMAP_LEASE_SECONDS", 60, minimum=2),
        "imap_poll_seconds": _int(env, "INBOX_IMAP_POLL_SECONDS", 60, minimum=1),
    }


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
        task_check_seconds=_int(env, "INBOX_TASK_CHECK_SECONDS", 30, minimum=1),
        email_provider=_email_provider(env, mode),
        **_smtp(env),
        reply_address=_reply_address(env, domain),
        max_attachment_bytes=_max_attachment_bytes(env),
        **_sms(env, mode),
        **_imap(env),
        tls_ca_file=_tls_ca_file(env),
        trusted_proxies=_trusted_proxies(env),
        openapi=_bool(env, "INBOX_OPENAPI", mode != "production"),
    )


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every plugin it loads at INFO; only its warnings matter here.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


def log_warnings(settings: Settings) -> None:
    """Say at start-up what the configuration leaves out (see `Settings.warnings`)."""
    for warning in settings.warnings:
        logging.getLogger("inbox.settings").warning("%s", warning)
