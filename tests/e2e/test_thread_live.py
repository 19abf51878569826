"""A long thread in the browser: it opens on its newest page, pages back on request, and
applies new messages and status changes in place from the events, without fetching the thread
again; frames that arrive while its snapshot loads are kept and applied once."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from inbox.conversations.models import DeliveryStatus, Message
from inbox.sms.messages import SmsStatusReport, do_record_sms_status
from tests.support.browser import Api, App, seed_messages, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def app() -> AsyncIterator[App]:
    async with serve(None, None) as running:
        yield running


async def texting_prospect(api: Api) -> tuple[int, str]:
    number = f"+1718555{uuid.uuid4().int % 10000:04d}"
    prospect = await api.call(
        "POST",
        "/api/prospects",
        {
            "first_name": "Long",
            "last_name": uuid.uuid4().hex[:6],
            "phones": [{"kind": "mobile", "number": number}],
        },
    )
    return prospect["conversation_id"], number


def thread_requests(page: Any, conversation_id: int) -> list[str]:
    """The URLs of the requests this page makes for the thread (the thread or its pages)."""
    seen: list[str] = []
    pattern = re.compile(rf"/api/conversations/{conversation_id}(/messages)?(\?.*)?$")
    page.on(
        "request",
        lambda request: (
            seen.append(request.url)
            if request.method == "GET" and pattern.search(request.url)
            else None
        ),
    )
    return seen


async def test_a_long_thread_pages_back_and_applies_events_in_place(
    page: Any, app: App, api: Api
) -> None:
    from playwright.async_api import expect

    cid, number = await texting_prospect(api)
    await seed_messages(app, cid, 1000)
    requests = thread_requests(page, cid)
    await page.goto(f"{app.url}/#/all/{cid}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    thread = page.locator("conversation-thread")
    messages = thread.locator(".message")
    await expect(messages).to_have_count(40)
    assert [re.sub(r".*/api", "/api", u) for u in requests] == [f"/api/conversations/{cid}"]

    # Earlier messages come a page at a time when asked for.
    await thread.get_by_role("button", name="Show earlier messages").click()
    await expect(messages).to_have_count(140)
    await expect(thread.locator(".message-body").nth(1)).to_contain_text("Message 861:")
    assert len(requests) == 2 and "/messages?cursor=" in requests[1]

    # A new text arrives: only what came after the newest message held is fetched.
    requests.clear()
    await api.call("POST", "/api/demo/sms/inbound", {"from_number": number, "body": "Still there?"})
    await expect(thread.locator(".message-body").last).to_have_text("Still there?")
    await expect(messages).to_have_count(141)
    assert len(requests) == 1 and re.search(r"/messages\?after=\d+$", requests[0]), requests

    # A delivery report on the newest outbound text: the event carries the status, no request.
    requests.clear()
    async with app.services.sessionmaker() as session:
        newest = await session.scalar(
            sa.select(sa.func.max(Message.id)).where(
                Message.conversation_id == cid, Message.status == DeliveryStatus.SENT
            )
        )
        await session.execute(
            sa.update(Message).where(Message.id == newest).values(external_id=f"SM{newest}")
        )
        await session.commit()
    async with app.services.transaction() as session:
        assert await do_record_sms_status(
            session, SmsStatusReport(sid=f"SM{newest}", status=DeliveryStatus.DELIVERED)
        )
    item = thread.locator(f'li[data-id="{newest}"]')
    await expect(item.locator(".message-status")).to_contain_text("Delivered")
    await page.wait_for_load_state("networkidle")
    assert requests == []
    await expect(messages).to_have_count(141)


async def open_while_a_text_arrives(
    page: Any, app: App, api: Api, cid: int, number: str, body: str, snapshot_first: bool
) -> None:
    """Open the thread with its response held back until the text's frame has arrived; the
    snapshot is read before the text (`snapshot_first`) or after it."""
    held = asyncio.get_running_loop().create_future()
    release, answered = asyncio.Event(), asyncio.Event()

    claimed: list[Any] = []

    async def hold(route: Any) -> None:
        if claimed:  # only the first: the open under test
            await route.continue_()
            return
        claimed.append(route)
        response = await route.fetch() if snapshot_first else None
        held.set_result(None)
        await release.wait()
        await route.fulfill(response=response or await route.fetch())
        answered.set()

    pattern = re.compile(rf"/api/conversations/{cid}$")
    await page.route(pattern, hold)
    try:
        await page.goto(f"{app.url}/#/all/{cid}")
        await held
        seq = await page.evaluate("Number(sessionStorage.getItem('inbox.seq'))")
        await api.call("POST", "/api/demo/sms/inbound", {"from_number": number, "body": body})
        await page.wait_for_function(
            f"Number(sessionStorage.getItem('inbox.seq')) > {seq}", polling=50
        )
    finally:
        release.set()
    await answered.wait()
    await page.unroute(pattern)


async def test_a_frame_that_arrives_before_the_snapshot_is_applied_once(
    page: Any, app: App, api: Api
) -> None:
    """The thread's response is held back while a text arrives: the frame comes first and is
    kept; the snapshot, older than it, is drawn and the frame applied on top, once. When the
    snapshot is the newer one, the frame is skipped."""
    from playwright.async_api import expect

    cid, number = await texting_prospect(api)
    await page.goto(f"{app.url}/#/all")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    await expect(page.locator("a.conversation").first).to_be_visible()
    await page.wait_for_load_state("networkidle")
    thread = page.locator("conversation-thread")
    bodies = thread.locator(".message-body")
    requests = thread_requests(page, cid)

    for n, snapshot_first in enumerate((True, False)):
        requests.clear()
        body = f"Frame first {n}"
        await open_while_a_text_arrives(page, app, api, cid, number, body, snapshot_first)
        await expect(bodies.last).to_have_text(body)
        await page.wait_for_load_state("networkidle")
        await expect(bodies).to_have_count(n + 1)
        ids = await thread.locator(".message").evaluate_all("els => els.map(e => e.dataset.id)")
        assert len(ids) == len(set(ids)) == n + 1
        fetched_after = [u for u in requests if "/messages" in u]
        # Older snapshot: the kept frame fetches what came after it. Newer: nothing to do.
        assert len(fetched_after) == (1 if snapshot_first else 0), requests
        await page.goto(f"{app.url}/#/all")
        await expect(thread.locator("#thread-heading")).to_have_count(0)
