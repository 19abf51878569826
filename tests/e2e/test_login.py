"""In headless Chromium: sign in (wrongly, then rightly), read the seeded inbox, open a
conversation, reply, flag it, sign out. The server is the real app on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from inbox.accounts import actor_of
from inbox.conversations import get_thread, list_conversations
from inbox.db import make_engine, make_sessionmaker
from inbox.models import Account
from inbox.schemas import ConversationSummary, ThreadRead
from server.app import create_app
from server.demo import seed_demo
from server.settings import Settings, load_settings

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
EMAIL, PASSWORD = "dana@demo.inbox.test", "dana-demo-inbox"
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    """Under CI a missing browser is a failure; on a laptop it is a skip with the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Live:
    url: str
    settings: Settings


async def _wait_healthy(url: str, task: asyncio.Task[Any]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            if task.done():
                task.result()  # raises what stopped the server
                raise RuntimeError("the server stopped during startup")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} never became healthy")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    """The seeded demo app served by uvicorn on a free loopback port, in this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        {"INBOX_DATA_DIR": str(tmp_path), "INBOX_PUBLIC_URL": url, "INBOX_LOG_LEVEL": "WARNING"}
    )
    await seed_demo(settings, io.StringIO())
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", ws_per_message_deflate=False
    )
    server = uvicorn.Server(config)
    # Handing uvicorn the bound socket leaves no window for another process to take the port.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await _wait_healthy(url, task)
        yield Live(url, settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def _dana_sees(settings: Settings) -> tuple[ConversationSummary, ThreadRead]:
    """What the database says Dana's inbox starts with: the newest conversation and its thread."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            account = await session.scalar(sa.select(Account).where(Account.email == EMAIL))
            assert account is not None
            dana = actor_of(account)
            first = (await list_conversations(session, dana, "all", limit=1)).items[0]
            return first, await get_thread(session, dana, first.id)
    finally:
        await engine.dispose()


def _words(text: str) -> str:
    return " ".join(text.split())


async def test_sign_in_read_reply_and_sign_out(browser: Any, live: Live) -> None:
    from playwright.async_api import expect

    newest, thread = await _dana_sees(live.settings)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    # Signed out, the app sends you to the sign-in page.
    await page.goto(f"{live.url}/")
    await expect(page).to_have_url(f"{live.url}/login")

    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    await expect(page).to_have_url(f"{live.url}/login")

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{live.url}/")
    await expect(page.get_by_role("banner")).to_contain_text("Dana Whitfield")
    names = page.locator(".conversation-name")
    await expect(names.first).to_have_text(newest.prospect_name)
    assert await names.count() >= 20

    # Open the newest conversation: every message, oldest first, and it is no longer unread.
    first = page.locator("a.conversation").first
    await first.click()
    thread_pane = page.locator("conversation-thread")
    await expect(thread_pane.get_by_role("heading", level=2)).to_have_text(newest.prospect_name)
    bodies = thread_pane.locator(".message-body")
    await expect(bodies).to_have_count(len(thread.messages))
    # Email shows as its HTML (paragraphs), so compare the words, not the line breaks.
    assert _words(await bodies.first.inner_text()) == _words(thread.messages[0].body_text)
    assert _words(await bodies.last.inner_text()) == _words(thread.messages[-1].body_text)
    await expect(first).not_to_have_class(re.compile(r"\bunread\b"))

    # Reply by email; the message joins the thread and the conversation counts as replied.
    reply = "Thanks! I'll ask the dealer and get back to you today."
    await thread_pane.get_by_role("radio", name="Email").check()
    await thread_pane.get_by_label("Message", exact=True).fill(reply)
    await thread_pane.get_by_role("button", name="Send").click()
    await expect(bodies).to_have_count(len(thread.messages) + 1)
    await expect(bodies.last).to_have_text(reply)
    await expect(page.locator("a.conversation").first).to_contain_text(f"Sent: {reply}")

    flag = thread_pane.get_by_role("button", name="Flag")
    await flag.click()
    await expect(flag).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("navigation").get_by_role("link", name="Flagged").click()
    await expect(page.locator(".conversation-name").first).to_have_text(newest.prospect_name)

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{live.url}/login")
    await page.goto(f"{live.url}/")
    await expect(page).to_have_url(f"{live.url}/login")
    assert problems == []
