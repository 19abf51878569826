"""The inbox app on a real uvicorn server (seeded demo data, SMTP to an aiosmtpd sink, replies
read from a throwaway Dovecot) and headless Chromium to drive it, for tests/e2e."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from inbox.conversations.models import Channel, DeliveryStatus, Direction, Message
from server.app import create_app
from server.demo import seed_demo
from server.services import Services, build_services
from server.settings import Settings, load_settings
from tests.support.dovecot import PASSWORD as IMAP_PASSWORD
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DANA, DANA_PASSWORD = "dana@demo.inbox.test", "dana-demo-inbox"
SAM, SAM_PASSWORD = "sam@demo.inbox.test", "sam-demo-inbox"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 780}


def unavailable(reason: str) -> None:
    """Under CI a missing browser is a failure; on a laptop it is a skip with the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


@dataclass
class App:
    url: str
    settings: Settings
    services: Services
    smtp: SmtpServer | None
    dovecot: Dovecot | None
    mailbox: str


async def _wait_healthy(url: str, task: asyncio.Task[Any]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if task.done():
                task.result()
                raise RuntimeError("the server stopped during startup")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} never became healthy")


def _mail_env(smtp: SmtpServer | None, dovecot: Dovecot | None, mailbox: str) -> dict[str, str]:
    env = {}
    if smtp is not None:
        env |= {
            "INBOX_SMTP_HOST": smtp.host,
            "INBOX_SMTP_PORT": str(smtp.port),
            "INBOX_SMTP_TLS": "none",
        }
    if dovecot is not None:
        env |= {
            "INBOX_REPLY_ADDRESS": mailbox,
            "INBOX_IMAP_HOST": "127.0.0.1",
            "INBOX_IMAP_PORT": str(dovecot.port),
            "INBOX_IMAP_USERNAME": mailbox,
            "INBOX_IMAP_PASSWORD": IMAP_PASSWORD,
            "INBOX_IMAP_TLS": "none",
            "INBOX_IMAP_POLL_SECONDS": "1",
        }
    return env


@contextlib.asynccontextmanager
async def serve(smtp: SmtpServer | None, dovecot: Dovecot | None) -> AsyncIterator[App]:
    """The seeded app with its workers (send queue, IMAP watcher) on a free loopback port;
    without an SMTP server or Dovecot, email goes to the sandbox log and nothing is read."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    mailbox = dovecot.add_user() if dovecot is not None else ""
    with tempfile.TemporaryDirectory(prefix="inbox-e2e-") as data_dir:
        settings = load_settings(
            {
                "INBOX_DATA_DIR": data_dir,
                "INBOX_PUBLIC_URL": url,
                "INBOX_LOG_LEVEL": "WARNING",
                "INBOX_RUN_WORKERS": "true",
                **_mail_env(smtp, dovecot, mailbox),
            }
        )
        await seed_demo(settings, io.StringIO())
        services = build_services(settings)
        config = uvicorn.Config(
            create_app(settings, services),
            log_level="warning",
            lifespan="on",
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            await _wait_healthy(url, task)
            yield App(url, settings, services, smtp, dovecot, mailbox)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)
            sock.close()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install playwright)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class Api:
    """Dana's HTTP client, to set the scene the browser then shows."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=10)
        self.csrf = ""

    async def sign_in(self, email: str = DANA, password: str = DANA_PASSWORD) -> Api:
        response = await self.http.post(
            "/api/auth/login", json={"email": email, "password": password}
        )
        response.raise_for_status()
        self.csrf = response.json()["csrf_token"]
        return self

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        response = await self.http.request(
            method, path, json=json, headers={"x-csrf-token": self.csrf}
        )
        assert response.is_success, (response.status_code, response.text)
        return response.json() if response.content else None

    async def close(self) -> None:
        await self.http.aclose()


class Problems:
    """Page errors and CSP violations, which must stay empty."""

    def __init__(self, page: Any) -> None:
        self.items: list[str] = []
        page.on("pageerror", lambda exc: self.items.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        text = message.text
        # Failed loads are the server's answers (a 409, a 422) or the network the test cut.
        expected = "Failed to load resource" in text or "ERR_INTERNET_DISCONNECTED" in text
        if "Content Security Policy" in text or (message.type == "error" and not expected):
            self.items.append(text)


async def signed_in_page(
    browser: Any,
    app: App,
    viewport: dict[str, int] = WIDE,
    email: str = DANA,
    password: str = DANA_PASSWORD,
) -> Any:
    """A fresh browser context signed in (through the API, like the login form does)."""
    context = await browser.new_context(viewport=viewport)
    response = await context.request.post(
        f"{app.url}/api/auth/login", data={"email": email, "password": password}
    )
    assert response.ok, await response.text()
    page = await context.new_page()
    page.set_default_timeout(10_000)
    page.problems = Problems(page)
    return page


async def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# Opens a conversation by its address and times it: `total` from the click to the painted
# thread, `render` from the moment its JSON arrived (the thread marks it) to the paint.
OPEN_AND_TIME = """async (id) => {
  performance.clearMarks("thread:fetched");
  const opened = new Promise((resolve) =>
    document.addEventListener("thread-opened", resolve, { once: true }));
  const start = performance.now();
  location.hash = `#/all/${id}`;
  await opened;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const end = performance.now();
  const fetched = performance.getEntriesByName("thread:fetched").at(-1).startTime;
  return { total: end - start, render: end - fetched,
           messages: document.querySelectorAll("conversation-thread .message").length };
}"""


async def seed_messages(app: App, conversation_id: int, count: int) -> None:
    """A long thread written straight into the database: email (HTML) and SMS, both ways."""
    start = datetime.now(UTC) - timedelta(days=60)
    html = (
        "<p>Hi Dana,</p><p>Thanks for the <b>quote</b>. A few questions about the "
        "<i>RZ-48</i>:</p><ul><li>delivery</li><li>financing</li></ul>"
        '<p>See <a href="https://example.com/spec">the spec sheet</a>.</p><p>Best, Long</p>'
    )
    rows = []
    for n in range(count):
        email = n % 2 == 0
        rows.append(
            {
                "conversation_id": conversation_id,
                "channel": Channel.EMAIL if email else Channel.SMS,
                "direction": Direction.INBOUND if n % 3 else Direction.OUTBOUND,
                "author_name": "Long Test",
                "author_address": "long@example.com",
                "subject": f"Re: Quote {n}" if email else "",
                "body_text": f"Message {n}: thanks for the quote, a few questions follow.",
                "body_html": html if email else "",
                "status": DeliveryStatus.RECEIVED if n % 3 else DeliveryStatus.SENT,
                "created_at": start + timedelta(minutes=n),
            }
        )
    async with app.services.sessionmaker() as session:
        await session.execute(sa.insert(Message), rows)
        await session.commit()
