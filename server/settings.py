"""Settings: one typed object read once from `INBOX_*` variables (and an optional `.env`)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import secrets
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from channels.email.imap import ImapConfig
from channels.email.smtp import SmtpConfig
from channels.email.smtp import SmtpTls as Tls
from channels.sms.twilio import TwilioConfig

T = TypeVar("T", bound=str)
Mode = Literal["production", "dev", "demo"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# "none": nothing configured in production; a send there fails with an error that says so.
SmsProvider = Literal["sandbox", "twilio", "none"]
EmailProvider = Literal["smtp", "sandbox", "none"]
TLS_MODES: tuple[Tls, ...] = ("none", "starttls", "tls")
MODES: tuple[Mode, ...] = ("production", "dev", "demo")
EMAIL_PROVIDERS: tuple[EmailProvider, ...] = ("smtp", "sandbox")  # "none" is never asked for
SMS_PROVIDERS: tuple[SmsProvider, ...] = ("sandbox", "twilio")
DEFAULT_HELP_REPLY = (
    "You are texting our customer care team; reply here to reach your contact. "
    "Msg & data rates may apply. Reply STOP to opt out."
)
SMTP_PORTS: dict[Tls, int] = {"none": 25, "starttls": 587, "tls": 465}
IMAP_PORTS: dict[Tls, int] = {"none": 143, "starttls": 143, "tls": 993}
# The app refuses request bodies above this; attachments must fit in one request.
MAX_ATTACHMENT_BYTES = 24 * 1024 * 1024


class SettingsError(Exception):
    """A missing or malformed setting; the message is one line naming the variable."""


# Every section is built by `load_settings`, the one place that knows the variables and their
# defaults: the sections themselves have none, so a default cannot disagree with the loader.


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    url: str  # INBOX_DATABASE_URL, with its async driver
    auto_migrate: bool  # INBOX_AUTO_MIGRATE


@dataclass(frozen=True, kw_only=True)
class RedisSettings:
    url: str | None  # INBOX_REDIS_URL; None: events stay in this process
    prefix: str  # INBOX_REDIS_PREFIX


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    public_url: str  # INBOX_PUBLIC_URL, without a trailing /
    secret_key: str  # INBOX_SECRET_KEY (or the dev and demo key, see `keep_secret_key`)
    # Where the dev or demo key is kept when INBOX_SECRET_KEY is unset; None when it is set.
    secret_key_file: Path | None
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IP addresses
    # or networks, or "*"); empty: none, the client is the peer of the TCP connection.
    trusted_proxies: tuple[str, ...]
    openapi: bool  # INBOX_OPENAPI: serve the OpenAPI schema and its viewers under /schema
    ws_queue_size: int  # INBOX_WS_QUEUE_SIZE

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """The background work (`server/background.py`), in the app or in `inbox worker`."""

    in_app: bool  # INBOX_RUN_WORKERS
    send_lease_seconds: int
    task_check_seconds: int
    event_retention_days: int
    imap_lease_seconds: int
    imap_poll_seconds: int


@dataclass(frozen=True, kw_only=True)
class EmailSettings:
    provider: EmailProvider  # smtp: the `smtp` section sends
    domain: str  # INBOX_EMAIL_DOMAIN: Message-IDs
    reply_address: str
    max_attachment_bytes: int


@dataclass(frozen=True, kw_only=True)
class SmsSettings:
    provider: SmsProvider  # twilio: the `twilio` section sends
    help_reply: str


@dataclass(frozen=True, kw_only=True)
class SandboxSettings:
    """Where the sandbox channels write what they "send" (data_dir/sandbox-outbox.jsonl)."""

    log: Path
    delay_ms: int  # INBOX_SANDBOX_DELAY_MS


@dataclass(frozen=True, kw_only=True)
class Settings:
    mode: Mode
    data_dir: Path
    attachments_dir: Path
    log_level: str
    phone_region: str
    database: DatabaseSettings
    redis: RedisSettings
    web: WebSettings
    workers: WorkerSettings
    email: EmailSettings
    sms: SmsSettings
    sandbox: SandboxSettings
    # The channels' own configurations; None when their host (or credentials) are unset.
    smtp: SmtpConfig | None  # INBOX_SMTP_HOST
    imap: ImapConfig | None  # INBOX_IMAP_HOST
    # Twilio's credentials, for sending (sms.provider twilio), the webhooks' signatures and
    # MMS media: set when INBOX_TWILIO_ACCOUNT_SID or INBOX_TWILIO_AUTH_TOKEN is.
    twilio: TwilioConfig | None

    @property
    def warnings(self) -> list[str]:
        """What an operator must know about this configuration (logged at start-up and shown
        by /health): today, a channel with nowhere to send in production."""
        found = []
        if self.email.provider == "none":
            found.append(
                "email: no provider configured, sends fail (set INBOX_SMTP_HOST, "
                "or INBOX_EMAIL_PROVIDER=sandbox to keep mail in the sandbox log)"
            )
        if self.sms.provider == "none":
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


def _choice(name: str, raw: str, choices: tuple[T, ...]) -> T:
    for choice in choices:
        if raw == choice:
            return choice
    expected = f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]
    raise SettingsError(f"{name}: expected {expected}, got {raw!r}")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _int(env, name, default, minimum=1)
    if port > 65535:
        raise SettingsError(f"{name}: expected a port number, got {port}")
    return port


KEY_FILE_NAME = "secret_key"


def _secret_key(env: Mapping[str, str], mode: Mode, data_dir: Path) -> tuple[str, Path | None]:
    """The key, and where a dev or demo key is kept. Reads that file when it exists, and
    writes nothing: a key not kept yet is a fresh one that `keep_secret_key` writes."""
    key = env.get("INBOX_SECRET_KEY", "")
    if key:
        if len(key) < 32:
            raise SettingsError("INBOX_SECRET_KEY: must be at least 32 characters")
        return key, None
    if mode == "production":
        raise SettingsError("INBOX_SECRET_KEY: required in production (at least 32 characters)")
    # Dev and demo keep a generated key under the data directory so sessions survive restarts.
    path = data_dir / KEY_FILE_NAME
    if path.is_file():
        kept = path.read_text().strip()
        if len(kept) < 32:
            raise SettingsError(
                f"INBOX_SECRET_KEY: unset, and {path} holds no key of at least 32 characters"
            )
        return kept, path
    return secrets.token_urlsafe(48), path


def keep_secret_key(settings: Settings) -> Settings:
    """Dev and demo without INBOX_SECRET_KEY: keep the generated key in the data directory
    (readable by its owner only), so sessions survive a restart and every process signs with
    the same key. Called by the commands that serve or work (`inbox serve`, `inbox worker`,
    `inbox demo` and the ASGI entry point), never by `load_settings`. When another process kept
    a key first, the settings returned carry that one."""
    path = settings.web.secret_key_file
    if path is None:
        return settings
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under another name, then linked into place: a process starting at the
        # same moment sees either no file or the complete key, and only one key wins.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(settings.web.secret_key)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    kept = path.read_text().strip()
    if kept == settings.web.secret_key:
        return settings
    return replace(settings, web=replace(settings.web, secret_key=kept))


def _domain_of(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    # An IP address or a bare host makes a poor Message-ID domain.
    if "." not in host or host.replace(".", "").isdigit():
        return "inbox.localhost"
    return host


def _email_provider(env: Mapping[str, str], mode: Mode) -> EmailProvider:
    """SMTP when a host is set; unset, the sandbox in dev and demo, and nothing in production
    (sends fail), unless INBOX_EMAIL_PROVIDER=sandbox says so."""
    raw = (env.get("INBOX_EMAIL_PROVIDER") or "").lower()
    host = env.get("INBOX_SMTP_HOST")
    if raw:
        provider = _choice("INBOX_EMAIL_PROVIDER", raw, EMAIL_PROVIDERS)
        if provider == "smtp" and not host:
            raise SettingsError("INBOX_EMAIL_PROVIDER: smtp needs INBOX_SMTP_HOST")
        return provider
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


def _smtp(env: Mapping[str, str], ca_file: str | None) -> SmtpConfig | None:
    """The SMTP server when INBOX_SMTP_HOST is set; its other variables are checked anyway."""
    tls = _choice("INBOX_SMTP_TLS", (env.get("INBOX_SMTP_TLS") or "starttls").lower(), TLS_MODES)
    port = _port(env, "INBOX_SMTP_PORT", SMTP_PORTS[tls])
    username, password = env.get("INBOX_SMTP_USERNAME", ""), env.get("INBOX_SMTP_PASSWORD", "")
    if password and not username:
        raise SettingsError("INBOX_SMTP_USERNAME: required when INBOX_SMTP_PASSWORD is set")
    host = env.get("INBOX_SMTP_HOST")
    if not host:
        return None
    return SmtpConfig(
        host=host, port=port, username=username, password=password, tls=tls, ca_file=ca_file
    )


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


def _sms(env: Mapping[str, str], mode: Mode) -> SmsSettings:
    raw = (env.get("INBOX_SMS_PROVIDER") or "").lower()
    # Production never falls back to the sandbox by itself: unset, texts have nowhere to go.
    provider: SmsProvider = "none" if mode == "production" else "sandbox"
    if raw:
        provider = _choice("INBOX_SMS_PROVIDER", raw, SMS_PROVIDERS)
    help_reply = env.get("INBOX_SMS_HELP_REPLY")
    if help_reply is not None and len(help_reply) > 1600:
        raise SettingsError("INBOX_SMS_HELP_REPLY: at most 1600 characters")
    return SmsSettings(
        provider=provider,
        help_reply=DEFAULT_HELP_REPLY if help_reply is None else help_reply.strip(),
    )


def _twilio(env: Mapping[str, str], sms: SmsSettings, public_url: str) -> TwilioConfig | None:
    """Twilio's credentials: checked in full when Twilio sends (INBOX_SMS_PROVIDER=twilio);
    otherwise kept when given, for the webhooks' signatures and MMS media."""
    sid = (env.get("INBOX_TWILIO_ACCOUNT_SID") or "").strip()
    token = (env.get("INBOX_TWILIO_AUTH_TOKEN") or "").strip()
    sender = (env.get("INBOX_TWILIO_FROM") or "").strip()
    if sms.provider == "twilio":
        if not sid.startswith("AC"):
            raise SettingsError("INBOX_TWILIO_ACCOUNT_SID: an AC... account SID is required")
        if not token:
            raise SettingsError("INBOX_TWILIO_AUTH_TOKEN: required with INBOX_SMS_PROVIDER=twilio")
        if not (sender.startswith("MG") or re.fullmatch(r"\+[1-9][0-9]{6,14}", sender)):
            raise SettingsError(
                "INBOX_TWILIO_FROM: expected an E.164 number (+15551234567) or a Messaging "
                f"Service SID (MG...), got {sender!r}"
            )
    base_url = _url(env, "INBOX_TWILIO_BASE_URL", ("http", "https")) or "https://api.twilio.com"
    if not (sid or token or sms.provider == "twilio"):
        return None
    return TwilioConfig(
        account_sid=sid,
        auth_token=token,
        sender=sender,
        base_url=base_url.rstrip("/"),
        status_callback_url=f"{public_url}/webhooks/twilio/status",
    )


def _imap(env: Mapping[str, str], ca_file: str | None) -> ImapConfig | None:
    """The reply mailbox when INBOX_IMAP_HOST is set; its other variables are checked anyway."""
    tls = _choice("INBOX_IMAP_TLS", (env.get("INBOX_IMAP_TLS") or "tls").lower(), TLS_MODES)
    port = _port(env, "INBOX_IMAP_PORT", IMAP_PORTS[tls])
    host = env.get("INBOX_IMAP_HOST")
    username = env.get("INBOX_IMAP_USERNAME", "")
    if not host:
        return None
    if not username:
        raise SettingsError("INBOX_IMAP_USERNAME: required when INBOX_IMAP_HOST is set")
    return ImapConfig(
        host=host,
        port=port,
        username=username,
        password=env.get("INBOX_IMAP_PASSWORD", ""),
        tls=tls,
        mailbox=env.get("INBOX_IMAP_MAILBOX") or "INBOX",
        ca_file=ca_file,
    )


def _workers(env: Mapping[str, str]) -> WorkerSettings:
    return WorkerSettings(
        in_app=_bool(env, "INBOX_RUN_WORKERS", True),
        send_lease_seconds=_int(env, "INBOX_SEND_LEASE_SECONDS", 60, minimum=1),
        task_check_seconds=_int(env, "INBOX_TASK_CHECK_SECONDS", 30, minimum=1),
        event_retention_days=_int(env, "INBOX_EVENT_RETENTION_DAYS", 7, minimum=1),
        imap_lease_seconds=_int(env, "INBOX_IMAP_LEASE_SECONDS", 60, minimum=2),
        imap_poll_seconds=_int(env, "INBOX_IMAP_POLL_SECONDS", 60, minimum=1),
    )


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None
) -> Settings:
    """Read settings once. Raises SettingsError naming the first bad variable. Writes nothing
    (see `keep_secret_key` for the dev and demo key)."""
    if environ is None:
        env = {**_read_dotenv(dotenv or Path(".env")), **os.environ}
    else:
        env = dict(environ)
    mode = _choice("INBOX_MODE", env.get("INBOX_MODE") or "dev", MODES)
    data_dir = Path(env.get("INBOX_DATA_DIR") or "var")
    log_level = (env.get("INBOX_LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"INBOX_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}")
    public_url = (
        _url(env, "INBOX_PUBLIC_URL", ("http", "https")) or "http://127.0.0.1:8000"
    ).rstrip("/")
    domain = env.get("INBOX_EMAIL_DOMAIN") or _domain_of(public_url)
    if "@" in domain or "/" in domain or " " in domain:
        raise SettingsError(f"INBOX_EMAIL_DOMAIN: expected a domain name, got {domain!r}")
    region = (env.get("INBOX_PHONE_REGION") or "US").upper()
    if len(region) != 2 or not region.isalpha():
        raise SettingsError(
            f"INBOX_PHONE_REGION: expected a two-letter region code, got {region!r}"
        )
    database_url = _database_url(env, data_dir)
    redis_url = _url(env, "INBOX_REDIS_URL", ("redis", "rediss", "unix"))
    secret_key, secret_key_file = _secret_key(env, mode, data_dir)
    workers = _workers(env)
    email_provider = _email_provider(env, mode)
    ca_file = _tls_ca_file(env)
    smtp = _smtp(env, ca_file)
    imap = _imap(env, ca_file)
    reply_address = _reply_address(env, domain)
    max_attachment_bytes = _max_attachment_bytes(env)
    sms = _sms(env, mode)
    twilio = _twilio(env, sms, public_url)
    return Settings(
        mode=mode,
        data_dir=data_dir,
        attachments_dir=Path(env.get("INBOX_ATTACHMENTS_DIR") or data_dir / "attachments"),
        log_level=log_level,
        phone_region=region,
        database=DatabaseSettings(
            url=database_url,
            auto_migrate=_bool(env, "INBOX_AUTO_MIGRATE", database_url.startswith("sqlite")),
        ),
        redis=RedisSettings(url=redis_url, prefix=env.get("INBOX_REDIS_PREFIX") or "inbox"),
        web=WebSettings(
            public_url=public_url,
            secret_key=secret_key,
            secret_key_file=secret_key_file,
            trusted_proxies=_trusted_proxies(env),
            openapi=_bool(env, "INBOX_OPENAPI", mode != "production"),
            ws_queue_size=_int(env, "INBOX_WS_QUEUE_SIZE", 1000, minimum=10),
        ),
        workers=workers,
        email=EmailSettings(
            provider=email_provider,
            domain=domain,
            reply_address=reply_address,
            max_attachment_bytes=max_attachment_bytes,
        ),
        sms=sms,
        sandbox=SandboxSettings(
            log=data_dir / "sandbox-outbox.jsonl",
            delay_ms=_int(env, "INBOX_SANDBOX_DELAY_MS", 0),
        ),
        smtp=smtp,
        imap=imap,
        twilio=twilio,
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
