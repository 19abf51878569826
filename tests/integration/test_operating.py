"""Operating it safely: no silent sandbox in production, one-line database errors, the public URL
explained, login throttling per client and account behind trusted proxies only, security
headers on every response, the OpenAPI switch, and opt-out words with punctuation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar import get
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.sessions import do_login
from inbox.errors import RateLimited
from server.app import SECURITY_HEADERS, create_app
from tests.conftest import PG_ADMIN_URL, _pg_admin, create_account
from tests.integration.test_api import make_settings, sign_in
from tests.integration.test_sms_webhooks import make_placer, place_all, signature, text
from tests.support.live import PASSWORD, ServerProcess, free_port, server_env
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN

Maker = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]
KEY = "s" * 40
PUBLIC = "http://testserver.local"
PRODUCTION = {"INBOX_MODE": "production", "INBOX_SECRET_KEY": KEY}


@contextlib.asynccontextmanager
async def serving(db_url: str, tmp_path: Path, **extra: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app (workers off unless asked for) with these settings on top."""
    app = create_app(make_settings(db_url, tmp_path, **extra))
    async with AsyncTestClient(app=app, base_url=PUBLIC) as client:
        yield client


async def new_prospect(client: AsyncTestClient[Any], headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/api/prospects",
        headers=headers,
        json={
            "first_name": "Pat",
            "emails": ["pat@example.com"],
            "phones": [{"kind": "mobile", "number": "+1 212 555 0123"}],
        },
    )
    assert response.status_code == 201, response.text
    prospect: dict[str, Any] = response.json()
    consent = await client.post(
        f"/api/prospects/{prospect['id']}/sms/consent",
        headers=headers,
        json={"consent": "opted_in"},
    )
    assert consent.status_code == 200, consent.text
    return prospect


async def send_both(
    client: AsyncTestClient[Any], headers: dict[str, str], conversation_id: int
) -> None:
    for channel in ("email", "sms"):
        sent = await client.post(
            f"/api/conversations/{conversation_id}/messages",
            headers=headers,
            json={"channel": channel, "subject": "Quote", "body_text": "Hi Pat"},
        )
        assert sent.status_code == 202, sent.text


async def settled(client: AsyncTestClient[Any], conversation_id: int) -> dict[str, Any]:
    """The outbound messages by channel, once the app's own send queue is done with them."""
    for _ in range(100):
        thread = (await client.get(f"/api/conversations/{conversation_id}")).json()
        sent = {m["channel"]: m for m in thread["messages"] if m["direction"] == "outbound"}
        if all(m["status"] not in ("queued", "sending") for m in sent.values()):
            return sent
        await asyncio.sleep(0.1)
    raise AssertionError(f"still sending: {sent}")


# 6a. Production never falls back to the sandbox by itself.


async def test_production_without_providers_fails_each_send_loudly(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    async with serving(db_url, tmp_path, **PRODUCTION, INBOX_RUN_WORKERS="true") as c:
        health = await c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        warnings = health.json()["warnings"]
        assert [w.split(":")[0] for w in warnings] == ["email", "sms"]
        assert "sends fail" in warnings[0] and "INBOX_SMTP_HOST" in warnings[0]

        headers = await sign_in(c, "dana@oem.test")
        prospect = await new_prospect(c, headers)
        await send_both(c, headers, prospect["conversation_id"])
        sent = await settled(c, prospect["conversation_id"])
    assert {ch: m["status"] for ch, m in sent.items()} == {"email": "failed", "sms": "failed"}
    assert "no email provider is configured" in sent["email"]["error"]
    assert "INBOX_SMTP_HOST" in sent["email"]["error"]
    assert "no SMS provider is configured" in sent["sms"]["error"]
    assert not (tmp_path / "sandbox-outbox.jsonl").exists(), "nothing went to the sandbox"


async def test_production_says_so_at_start_up(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    app = create_app(make_settings(db_url, tmp_path, INBOX_MODE="production", INBOX_SECRET_KEY=KEY))
    await app.state.services.engine.dispose()
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("email: no provider configured") for m in said), said
    assert any(m.startswith("sms: no provider configured") for m in said), said


async def test_production_uses_the_sandbox_when_told_to(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    async with serving(
        db_url,
        tmp_path,
        **PRODUCTION,
        INBOX_RUN_WORKERS="true",
        INBOX_EMAIL_PROVIDER="sandbox",
        INBOX_SMS_PROVIDER="sandbox",
    ) as c:
        assert "warnings" not in (await c.get("/health")).json()
        headers = await sign_in(c, "dana@oem.test")
        prospect = await new_prospect(c, headers)
        await send_both(c, headers, prospect["conversation_id"])
        sent = await settled(c, prospect["conversation_id"])
    assert {ch: m["status"] for ch, m in sent.items()} == {"email": "sent", "sms": "sent"}
    assert len((tmp_path / "sandbox-outbox.jsonl").read_text().splitlines()) == 2


# 6b. One line naming the setting, never a traceback or a password.


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


USER_CREATE = ("user", "create", "--email", "a@oem.test", "--name", "A", "--password-stdin")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://inbox:hunter2secret@127.0.0.1:{free_port()}/inbox",  # nothing listens
        "postgresql://inbox:hunter2secret@no-such-host.invalid/inbox",
    ],
)
@pytest.mark.parametrize(
    "command", [("serve", "--port", "1"), ("worker",), ("migrate",), USER_CREATE]
)
def test_an_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, url: str, command: tuple[str, ...]
) -> None:
    result = cli(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": url},
        *command,
        stdin="a long enough password\n",
    )
    line = one_line(result)
    assert line.startswith("inbox: INBOX_DATABASE_URL: cannot use the database at ")
    assert "postgresql+asyncpg://inbox:***@" in line
    assert "hunter2secret" not in result.stderr + result.stdout


async def test_user_create_before_migrate_says_to_migrate(tmp_path: Path, pg_url: str) -> None:
    name = f"inbox_empty_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = sa.make_url(PG_ADMIN_URL).set(database=name, password="pw")
        env = {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_DATABASE_URL": url.render_as_string(hide_password=False),
        }
        line = one_line(cli(env, *USER_CREATE, stdin="a long enough password\n"))
        assert line.startswith("inbox: INBOX_DATABASE_URL (postgresql+asyncpg://postgres:***@")
        assert "schema is at nothing" in line and line.endswith("run `inbox migrate` first.")
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # SQLite with auto-migration off says the same.
    sqlite = {"INBOX_DATA_DIR": str(tmp_path / "sqlite"), "INBOX_AUTO_MIGRATE": "false"}
    line = one_line(cli(sqlite, *USER_CREATE, stdin="a long enough password\n"))
    assert line.endswith("run `inbox migrate` first.")


def test_a_bad_database_url_is_echoed_without_its_password(tmp_path: Path) -> None:
    result = cli(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_DATABASE_URL": "mysql://u:hunter2secret@db/x"},
        "serve",
    )
    assert one_line(result) == (
        "inbox: INBOX_DATABASE_URL: expected a sqlite:// or postgresql:// URL, "
        "got 'mysql://u:***@db/x'"
    )


# 6c. Another address than INBOX_PUBLIC_URL.


async def test_another_address_is_named_as_such(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    async with serving(db_url, tmp_path) as c:
        assert (await c.get("/api/auth/address")).json() == {"public_url": PUBLIC}
        refused = await c.post(
            "/api/auth/login",
            json={"email": "dana@oem.test", "password": PASSWORD},
            headers={"origin": "http://10.0.0.5:8000"},
        )
    assert refused.status_code == 403
    detail = refused.json()["detail"]
    assert detail.startswith(
        "This address (http://10.0.0.5:8000) is not the configured public URL "
        f"({PUBLIC}). Open {PUBLIC}"
    )
    assert "INBOX_PUBLIC_URL" in detail and "Cross-origin" not in detail


# 6d. Login throttling.


async def attempt(maker: Maker, password: str, client: str, at: datetime) -> str:
    async with maker() as session:
        try:
            signed_in = await do_login(session, "dana@oem.test", password, client, at)
        except RateLimited as exc:
            return f"wait {exc.retry_after}"
        await session.commit()
        return "in" if signed_in else "wrong"


async def test_failures_slow_down_that_client_for_that_account_only(sessionmaker: Maker) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    attacker, owner = "198.51.100.7", "203.0.113.9"
    t0 = datetime.now(UTC)
    for n in range(5):
        assert await attempt(sessionmaker, "guess", attacker, t0 + timedelta(seconds=n)) == "wrong"
    # The sixth try from there waits 5 s after the last failure, even with the right password.
    at = t0 + timedelta(seconds=5)
    assert await attempt(sessionmaker, PASSWORD, attacker, at) == "wait 4"
    # The owner, elsewhere, is not locked out.
    assert await attempt(sessionmaker, PASSWORD, owner, at) == "in"
    # Each further failure doubles the wait.
    assert await attempt(sessionmaker, "guess", attacker, t0 + timedelta(seconds=9)) == "wrong"
    at = t0 + timedelta(seconds=10)
    assert await attempt(sessionmaker, PASSWORD, attacker, at) == "wait 9"
    assert await attempt(sessionmaker, PASSWORD, attacker, t0 + timedelta(seconds=19)) == "in"
    # A success clears that pair's count.
    at = t0 + timedelta(seconds=20)
    assert await attempt(sessionmaker, "guess", attacker, at) == "wrong"
    assert await attempt(sessionmaker, PASSWORD, attacker, at) == "in"


async def test_a_client_trying_many_accounts_is_slowed_on_its_own(sessionmaker: Maker) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    t0 = datetime.now(UTC)
    for n in range(20):
        async with sessionmaker() as session:
            who = f"user{n}@oem.test"
            assert await do_login(session, who, "guess", "198.51.100.7", t0) is None
            await session.commit()
    assert await attempt(sessionmaker, PASSWORD, "198.51.100.7", t0) == "wait 5"
    assert await attempt(sessionmaker, PASSWORD, "203.0.113.9", t0) == "in"


async def login_via(url: str, forwarded_for: str, password: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        return await http.post(
            "/api/auth/login",
            json={"email": "dana@oem.test", "password": password},
            headers={"x-forwarded-for": forwarded_for},
        )


@pytest.mark.slow
@pytest.mark.parametrize("trusted", [False, True])
async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    db_url: str, tmp_path: Path, sessionmaker: Maker, trusted: bool
) -> None:
    """`inbox serve` (uvicorn as the CLI runs it) on loopback: the test is the proxy."""
    await create_account(sessionmaker, "dana@oem.test")
    port = free_port()
    extra = {"INBOX_TRUSTED_PROXIES": "127.0.0.1"} if trusted else {}
    server = ServerProcess(server_env(db_url, tmp_path, port, **extra), port)
    await server.start()
    try:
        for _ in range(5):
            wrong = await login_via(server.url, "198.51.100.7", "guess")
            assert wrong.status_code == 401
        blocked = await login_via(server.url, "198.51.100.7", PASSWORD)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        other = await login_via(server.url, "203.0.113.9", PASSWORD)
        # Untrusted, the header is ignored: every request is the same client (127.0.0.1),
        # so a forged header cannot shake off the wait. Trusted, it names the client.
        assert other.status_code == (200 if trusted else 429), other.text
    finally:
        await server.stop()


# 6e. Security headers on errors; the OpenAPI switch.


@get("/boom", exclude_from_auth=True, include_in_schema=False)
async def boom() -> None:
    raise RuntimeError("a bug")


async def test_error_responses_carry_the_security_headers(db_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(db_url, tmp_path))
    app.register(boom)
    async with AsyncTestClient(app=app, base_url=PUBLIC) as client:
        answers = [
            await client.get("/no/such/page"),
            await client.get("/static/no-such-file.js"),
            await client.delete("/health"),
            await client.get("/boom"),
            await client.get("/api/auth/me"),
            await client.post(
                "/api/auth/login",
                json={"email": "a@oem.test", "password": "x"},
                headers={"origin": "http://x.test"},
            ),
            await client.get("/login"),
        ]
    assert [r.status_code for r in answers] == [404, 404, 405, 500, 401, 403, 200]
    for response in answers:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name)


@pytest.mark.parametrize(
    ("env", "status"),
    [
        ({"INBOX_MODE": "production", "INBOX_SECRET_KEY": KEY}, 404),
        ({"INBOX_MODE": "production", "INBOX_SECRET_KEY": KEY, "INBOX_OPENAPI": "true"}, 200),
        ({}, 200),
        ({"INBOX_OPENAPI": "false"}, 404),
    ],
)
async def test_the_openapi_schema_can_be_switched_off(
    db_url: str, tmp_path: Path, env: dict[str, str], status: int
) -> None:
    async with serving(db_url, tmp_path, **env) as c:
        assert (await c.get("/schema/openapi.json")).status_code == status


# 6f. Opt-out words with punctuation.


async def test_opt_out_words_with_punctuation_opt_out(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    """Texts arriving at the real webhook, signed as Twilio signs them."""
    await create_account(sessionmaker, "dana@oem.test")
    twilio = {"INBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "INBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    # The webhook keeps each text; the SMS placer threads it and acts on its keyword.
    placer = make_placer(make_settings(db_url, tmp_path, **twilio), sessionmaker)
    async with serving(db_url, tmp_path, **twilio) as c:
        headers = await sign_in(c, "dana@oem.test")
        prospect = await new_prospect(c, headers)
        status_url = f"/api/prospects/{prospect['id']}/sms"

        async def inbound(sid: int, body: str) -> str:
            params = text(f"SM{sid:032x}", "+12125550123", body)
            path = "/webhooks/twilio/sms"
            signed = {"X-Twilio-Signature": signature(PUBLIC + path, params)}
            assert (await c.post(path, data=params, headers=signed)).status_code == 200
            assert await place_all(placer) == 1
            return str((await c.get(status_url)).json()["status"])

        for n, body in enumerate(["Stop.", "STOP!", "stop!!!", "Unsubscribe?", "  opt out. "]):
            assert await inbound(2 * n, body) == "red", body
            latest = (await c.get(status_url)).json()["history"][0]
            assert (latest["consent"], latest["source"]) == ("opted_out", "keyword")
            assert await inbound(2 * n + 1, "Start!") == "green", body
        assert await inbound(99, "Stop, I said it already!") == "green", "a sentence is not one"
