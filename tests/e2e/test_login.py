"""In headless Chromium: sign in (wrongly, then rightly), read the seeded inbox, open a
conversation, reply, flag it, sign out. The server is the real app on a loopback port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from inbox.accounts.models import Account
from inbox.conversations.schemas import ConversationSummary, ThreadRead
from inbox.conversations.service import get_thread, list_conversations
from inbox.core.access import actor_of
from inbox.core.db import make_engine, make_sessionmaker
from server.settings import Settings
from tests.support.browser import DANA, DANA_PASSWORD, App, chromium, serve

EMAIL, PASSWORD = DANA, DANA_PASSWORD
TIMEOUT_MS = 10_000


@pytest.fixture
async def live() -> AsyncIterator[App]:
    """The seeded demo app on a free loopback port (email to the sandbox, nothing read)."""
    async with serve(None, None) as app:
        yield app


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as browser:
        yield browser


async def _dana_sees(settings: Settings) -> tuple[ConversationSummary, ThreadRead]:
    """What the database says Dana's inbox starts with: the newest conversation and its thread."""
    engine = make_engine(settings.database.url)
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


async def test_sign_in_read_reply_and_sign_out(browser: Any, live: App) -> None:
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
