"""Inbound texts are kept by the webhook and placed in the background, durably and once.

The webhook (signed with the `twilio` package's RequestValidator) only verifies, keeps the raw
form in `inbound_sms` and answers; the SMS placer fetches the MMS media (from a media server on
loopback that can be slow or fail) and threads the text. Duplicates are kept and placed once;
media failing for a while is fetched again later, and media that cannot be fetched is noted;
two placers at once place each text once and a number's texts in order; a placer killed
between keeping and placing loses nothing; the app places a text right after its webhook, and
`inbox worker` places texts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from litestar import Litestar, Response, get
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from channels.storage import FileAttachmentStore
from inbox.conversations.models import Attachment, Message
from inbox.core.transactions import run_in_transaction
from inbox.events.log import MemoryPublisher
from inbox.events.models import Event
from inbox.sms.inbound import (
    LEASE,
    MEDIA_ATTEMPTS,
    PLACE_ATTEMPTS,
    SmsPlacer,
    claim_inbound_sms,
    do_accept_inbound_sms,
    do_place_inbound_sms,
)
from inbox.sms.messages import InboundSms, SmsMedia
from inbox.sms.models import InboundSmsRequest, SmsConsent, SmsConsentChange
from server.app import create_app
from server.services import build_services
from server.settings import Settings
from tests.conftest import count_rows, create_account
from tests.integration.test_sms_webhooks import (
    PUBLIC,
    make_placer,
    place_all,
    text,
    twilio_settings,
    webhook,
)
from tests.support.clock import FakeClock
from tests.support.live import free_port
from tests.support.processes import wait_for, workers
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN

SMS = "/webhooks/twilio/sms"
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 500


# --- a media server on loopback, scripted per file ---


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = JPEG
    content_type: str = "image/jpeg"
    delay: float = 0.0


@dataclass
class MediaServer:
    url: str = ""
    # Each file's answers in turn; the last one is given from then on.
    script: dict[str, list[Reply]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def media_url(self, name: str) -> str:
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}"

    async def answer(self, name: str) -> Response[bytes]:
        self.hits.append(name)
        replies = self.script.get(name) or [Reply(status=404, body=b"")]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    def app(self) -> Litestar:
        @get("/2010-04-01/Accounts/{account:str}/Messages/{sid:str}/Media/{name:str}")
        async def media(
            account: FromPath[str], sid: FromPath[str], name: FromPath[str]
        ) -> Response[bytes]:
            return await self.answer(name)

        return Litestar([media], openapi_config=None)


@pytest.fixture
async def media() -> AsyncIterator[MediaServer]:
    """In a thread of its own, so it answers while the test client blocks the test's loop."""
    server = MediaServer()
    port = free_port()
    server.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        server.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    uv = uvicorn.Server(config)
    uv.config.timeout_graceful_shutdown = 1
    thread = threading.Thread(target=uv.run, name="media-server", daemon=True)
    thread.start()
    for _ in range(250):
        if uv.started:
            break
        await asyncio.sleep(0.02)
    else:
        raise TimeoutError("the media server did not start")
    try:
        yield server
    finally:
        uv.should_exit = True
        await asyncio.to_thread(thread.join, 10)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, media: MediaServer) -> Settings:
    return twilio_settings(db_url, tmp_path, media.url)


@pytest.fixture
async def client(settings: Settings, sessionmaker: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    await create_account(sessionmaker, "dana@oem.test")  # someone to receive the events
    async with AsyncTestClient(app=create_app(settings), base_url=PUBLIC) as c:
        yield c


def mms(sid: str, from_: str, body: str, *urls: str) -> dict[str, str]:
    extra = {f"MediaUrl{n}": url for n, url in enumerate(urls)}
    types = {f"MediaContentType{n}": "image/jpeg" for n in range(len(urls))}
    return text(sid, from_, body, NumMedia=str(len(urls)), **extra, **types)


def later() -> FakeClock:
    """A clock for the placer, a moment after what the webhooks so far were stamped with."""
    return FakeClock(datetime.now(UTC) + timedelta(seconds=1))


def sid(n: int) -> str:
    return f"SM{n:032x}"


async def rows(sessionmaker: Any) -> list[InboundSmsRequest]:
    async with sessionmaker() as s:
        return list(await s.scalars(sa.select(InboundSmsRequest).order_by(InboundSmsRequest.id)))


async def messages(sessionmaker: Any) -> list[Message]:
    async with sessionmaker() as s:
        return list(await s.scalars(sa.select(Message).order_by(Message.id)))


async def created_events(sessionmaker: Any) -> list[int]:
    """The message ids of every message.created in the log (one account receives them)."""
    async with sessionmaker() as s:
        payloads = await s.scalars(sa.select(Event.payload).where(Event.type == "message.created"))
        return sorted(p["message_id"] for p in payloads)


async def keep(sessionmaker: Any, params: Mapping[str, str], now: datetime | None = None) -> bool:
    """What the webhook does once the signature is checked."""

    async def accept(session: AsyncSession) -> bool:
        at = now or datetime.now(UTC)
        return await do_accept_inbound_sms(
            session, params["MessageSid"], params["From"], params, at
        )

    return await run_in_transaction(sessionmaker, accept)


# --- kept once, placed once ---


async def test_duplicate_deliveries_are_kept_once_and_placed_once(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any
) -> None:
    params = text(sid(1), "+13125550142", "Is it still for sale?")
    for _ in range(3):
        assert (await webhook(client, SMS, params)).status_code == 200
    # Another text kept by two transactions at once (two deliveries racing): one row.
    racing = text(sid(2), "+13125550143", "Me too")
    both = await asyncio.gather(keep(sessionmaker, racing), keep(sessionmaker, racing))
    assert sorted(both) == [False, True]
    assert [r.sid for r in await rows(sessionmaker)] == [sid(1), sid(2)]
    assert await count_rows(sessionmaker, Message) == {"message": 0}, "not placed by the webhook"

    placer = make_placer(settings, sessionmaker)
    assert await place_all(placer) == 2
    first, second = await messages(sessionmaker)
    assert (first.external_id, first.body_text) == (sid(1), "Is it still for sale?")
    assert second.external_id == sid(2)
    assert await created_events(sessionmaker) == [first.id, second.id]
    row = (await rows(sessionmaker))[0]
    assert (row.state, row.message_id, row.attempts, row.error) == ("placed", first.id, 1, "")
    assert row.params == params
    assert first.created_at == row.received_at, "the message is dated when it came"

    # Retries after it was placed: nothing kept, nothing placed.
    assert (await webhook(client, SMS, params)).status_code == 200
    assert not await keep(sessionmaker, racing)
    assert await place_all(placer) == 0
    assert await count_rows(sessionmaker, Message, InboundSmsRequest) == {
        "message": 2,
        "inbound_sms": 2,
    }
    assert await created_events(sessionmaker) == [first.id, second.id]


async def test_a_forged_webhook_keeps_nothing(
    client: AsyncTestClient[Any], sessionmaker: Any
) -> None:
    params = text(sid(2), "+13125550142", "STOP")
    forged = await client.post(SMS, data=params, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    tampered = await webhook(client, SMS, params, url="https://elsewhere.example" + SMS)
    assert (forged.status_code, tampered.status_code) == (403, 403)
    assert await count_rows(sessionmaker, InboundSmsRequest, Message) == {
        "inbound_sms": 0,
        "message": 0,
    }


# --- media ---


async def test_the_webhook_answers_before_the_media_is_fetched(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any, media: MediaServer
) -> None:
    media.script["slow"] = [Reply(delay=1.5)]
    params = mms(sid(3), "+13125550142", "The dent", media.media_url("slow"))
    started = time.perf_counter()
    response = await webhook(client, SMS, params)
    answered = time.perf_counter() - started
    assert response.status_code == 200 and "<Response>" in response.text
    assert answered < 1.0, f"the webhook took {answered:.2f} s"
    assert media.hits == [] and await count_rows(sessionmaker, Message) == {"message": 0}

    assert await place_all(make_placer(settings, sessionmaker)) == 1
    assert media.hits == ["slow"]
    [message] = await messages(sessionmaker)
    async with sessionmaker() as s:
        [attachment] = await s.scalars(sa.select(Attachment))
    assert (attachment.message_id, attachment.size) == (message.id, len(JPEG))
    assert message.error == ""


async def test_media_failing_for_a_while_is_fetched_again_later(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any, media: MediaServer
) -> None:
    media.script["flaky"] = [Reply(status=503, body=b""), Reply(status=502, body=b""), Reply()]
    params = mms(sid(4), "+13125550142", "Photo", media.media_url("flaky"))
    assert (await webhook(client, SMS, params)).status_code == 200
    clock = later()
    placer = make_placer(settings, sessionmaker, clock=clock)

    for attempt, status in ((1, 503), (2, 502)):
        assert await placer.run_once() == 1
        [row] = await rows(sessionmaker)
        assert (row.state, row.attempts) == ("pending", attempt)
        assert row.error == f"media 1 of 1: HTTP {status}" and row.claimed_by == ""
        assert row.next_attempt_at > clock.now(), "it waits before trying again"
        assert await placer.run_once() == 0
        assert await count_rows(sessionmaker, Message) == {"message": 0}
        clock.at += timedelta(minutes=5)

    assert await placer.run_once() == 1
    [message] = await messages(sessionmaker)
    assert message.error == ""
    assert await count_rows(sessionmaker, Attachment) == {"attachment": 1}
    [row] = await rows(sessionmaker)
    assert (row.state, row.attempts, row.error, row.message_id) == ("placed", 3, "", message.id)
    assert media.hits == ["flaky"] * 3


async def test_media_that_cannot_be_fetched_is_noted_and_the_text_placed(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any, media: MediaServer
) -> None:
    media.script["ok"] = [Reply()]
    media.script["down"] = [Reply(status=503, body=b"")]  # never comes back
    # Gone (404) is for good: placed at once, without it.
    gone = mms(sid(5), "+13125550142", "Two photos", media.media_url("ok"), media.media_url("x"))
    # Down for longer than the retries: placed without it on the last attempt.
    down = mms(sid(6), "+13125550143", "One photo", media.media_url("down"))
    for params in (gone, down):
        assert (await webhook(client, SMS, params)).status_code == 200
    clock = later()
    placer = make_placer(settings, sessionmaker, clock=clock)

    assert await placer.run_once() == 2
    [first] = await messages(sessionmaker)
    assert first.external_id == sid(5)
    assert first.error == "media 2 of 2 not kept: HTTP 404"
    for _ in range(MEDIA_ATTEMPTS - 1):
        clock.at += timedelta(hours=1)
        assert await placer.run_once() == 1
    second = (await messages(sessionmaker))[-1]
    assert second.external_id == sid(6)
    assert second.error == (
        f"media 1 of 1 not kept: HTTP 503 (gave up after {MEDIA_ATTEMPTS} attempts)"
    )
    assert media.hits.count("down") == MEDIA_ATTEMPTS
    async with sessionmaker() as s:
        kept = list(await s.scalars(sa.select(Attachment.message_id)))
    assert kept == [first.id]
    assert [(r.state, r.error) for r in await rows(sessionmaker)] == [
        ("placed", "media 2 of 2: HTTP 404"),
        ("placed", f"media 1 of 1: HTTP 503 (gave up after {MEDIA_ATTEMPTS} attempts)"),
    ]


class UnreadableProvider:
    """A provider whose forms cannot be read (a bug, say): placing fails every time."""

    def parse_inbound(self, params: Mapping[str, str]) -> InboundSms:
        raise ValueError("no such field")

    async def fetch_media(self, media: SmsMedia) -> SmsMedia:
        return media


async def test_a_text_that_cannot_be_placed_is_retried_then_failed_and_kept(
    settings: Settings, sessionmaker: Any
) -> None:
    clock = later()
    placer = make_placer(settings, sessionmaker, clock=clock)
    placer.provider = UnreadableProvider()
    assert await keep(sessionmaker, text(sid(7), "+13125550142", "Hello"), clock.now())
    for attempt in range(1, PLACE_ATTEMPTS + 1):
        assert await placer.run_once() == 1
        [row] = await rows(sessionmaker)
        assert row.attempts == attempt and "no such field" in row.error
        assert row.state == ("failed" if attempt == PLACE_ATTEMPTS else "pending")
        clock.at += timedelta(hours=1)
    assert await placer.run_once() == 0
    assert await count_rows(sessionmaker, Message) == {"message": 0}


async def test_a_text_whose_placers_keep_dying_is_given_up(
    settings: Settings, sessionmaker: Any
) -> None:
    clock = later()
    assert await keep(sessionmaker, text(sid(15), "+13125550142", "Hello"), clock.now())
    for attempt in range(1, PLACE_ATTEMPTS + 1):  # each placer dies holding it
        async with sessionmaker() as s:
            [claim] = await claim_inbound_sms(s, f"dies-{attempt}", clock.now())
        assert claim.attempts == attempt
        clock.at += LEASE + timedelta(seconds=1)
    async with sessionmaker() as s:
        assert await claim_inbound_sms(s, "next", clock.now()) == []
    [row] = await rows(sessionmaker)
    assert row.state == "failed"
    assert row.error.startswith(f"given up: its placer stopped {PLACE_ATTEMPTS} times")


# --- many placers, one text once ---


async def test_two_placers_at_once_place_each_text_once_and_a_numbers_texts_in_order(
    settings: Settings, sessionmaker: Any
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    numbers = [f"+1312555{n:04d}" for n in range(8)]
    bodies = ["Hello", "STOP", "START", "Are you there?"]
    n = 0
    for body in bodies:
        for number in numbers:
            n += 1
            assert await keep(sessionmaker, text(sid(n), number, body))
    publisher = MemoryPublisher()
    woken: list[str] = []
    placers = [
        make_placer(settings, sessionmaker, worker=name, publisher=publisher)
        for name in ("placer-a", "placer-b")
    ]
    for placer in placers:
        placer.limit = 3  # small batches, so the two interleave
        placer.on_queued = lambda: woken.append("sender")

    async def drain(placer: SmsPlacer) -> int:
        handled = 0
        while (await count_rows(sessionmaker, Message))["message"] < n:
            handled += await placer.run_once()
            await asyncio.sleep(0)
        return handled

    handled = await asyncio.wait_for(asyncio.gather(*(drain(p) for p in placers)), 60)
    assert sum(handled) == n, handled

    placed = await messages(sessionmaker)
    assert sorted(m.external_id or "" for m in placed) == sorted(sid(i) for i in range(1, n + 1))
    assert {r.state for r in await rows(sessionmaker)} == {"placed"}
    assert await created_events(sessionmaker) == sorted(m.id for m in placed)
    published = [(e.account_id, e.seq) for e in publisher.published]
    assert len(published) == len(set(published)), "no event published twice"
    for number in numbers:
        # Placed in the order they came: the ids follow the bodies.
        theirs = [m.body_text for m in placed if m.author_address == number]
        assert theirs == bodies, number
    async with sessionmaker() as s:
        changes = list(
            await s.execute(sa.select(SmsConsentChange.phone_e164, SmsConsentChange.consent))
        )
    for number in numbers:
        # One opt-out and one opt-in per number, in that order.
        assert [c for p, c in changes if p == number] == [
            SmsConsent.OPTED_OUT,
            SmsConsent.OPTED_IN,
        ]
    assert woken == []  # no HELP: nothing queued


async def test_a_placer_whose_lease_lapsed_places_nothing(
    settings: Settings, sessionmaker: Any
) -> None:
    clock = later()
    params = text(sid(8), "+13125550142", "STOP")
    assert await keep(sessionmaker, params, clock.now())
    async with sessionmaker() as s:
        [slow] = await claim_inbound_sms(s, "slow-placer", clock.now())
    async with sessionmaker() as s:
        assert await claim_inbound_sms(s, "other", clock.now()) == [], "claimed: not due"
    clock.at += LEASE + timedelta(seconds=1)
    assert await make_placer(settings, sessionmaker, clock=clock).run_once() == 1

    # The slow one comes back with its text: its claim is gone, so it places nothing.
    sms = InboundSms(sid=sid(8), from_number="+13125550142", body="STOP")

    store = FileAttachmentStore(settings.attachments_dir)

    async def late(session: AsyncSession) -> bool:
        return await do_place_inbound_sms(
            session, slow, sms, "slow-placer", clock.now(), store=store, region="US", help_reply=""
        )

    assert not await run_in_transaction(sessionmaker, late)
    assert await count_rows(sessionmaker, Message, SmsConsentChange) == {
        "message": 1,
        "sms_consent_change": 1,
    }
    [row] = await rows(sessionmaker)
    assert (row.state, row.claimed_by, row.attempts) == ("placed", "test-placer", 2)


# --- crashes and restarts ---


async def test_a_placer_that_never_ran_or_died_holding_texts_loses_none(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any, media: MediaServer
) -> None:
    media.script["photo"] = [Reply()]
    # Kept by the webhook; no placer ran (a crash right after the answer).
    kept = mms(sid(9), "+13125550142", "Kept", media.media_url("photo"))
    assert (await webhook(client, SMS, kept)).status_code == 200
    # Claimed by a placer that then died (killed while fetching or placing: its transaction
    # never committed, so only its claim is left).
    held = text(sid(10), "+13125550143", "Held")
    assert (await webhook(client, SMS, held)).status_code == 200
    clock = later()
    async with sessionmaker() as s:
        [row] = await s.scalars(
            sa.select(InboundSmsRequest).where(InboundSmsRequest.sid == sid(10))
        )
        row.claimed_by, row.claimed_until, row.attempts = "dead", clock.now() + LEASE, 1
        await s.commit()

    restarted = make_placer(settings, sessionmaker, clock=clock)
    assert await place_all(restarted) == 1, "the one no one holds, at once"
    clock.at += LEASE + timedelta(seconds=1)
    assert await place_all(restarted) == 1, "the dead placer's, once its lease lapsed"
    assert await place_all(restarted) == 0
    assert sorted(m.body_text for m in await messages(sessionmaker)) == ["Held", "Kept"]
    assert await count_rows(sessionmaker, Attachment) == {"attachment": 1}


async def test_a_placer_stopped_mid_fetch_gives_its_texts_back(
    client: AsyncTestClient[Any], settings: Settings, sessionmaker: Any, media: MediaServer
) -> None:
    media.script["slow"] = [Reply(delay=30), Reply()]
    params = mms(sid(11), "+13125550142", "Slow", media.media_url("slow"))
    assert (await webhook(client, SMS, params)).status_code == 200
    stopping = asyncio.create_task(make_placer(settings, sessionmaker).run_once())
    await wait_for(lambda: asyncio.sleep(0, bool(media.hits)), 10)
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopping
    [row] = await rows(sessionmaker)
    assert (row.state, row.claimed_by, row.claimed_until, row.attempts) == ("pending", "", None, 0)
    # So the next placer need not wait for the lease.
    assert await place_all(make_placer(settings, sessionmaker)) == 1
    assert [m.body_text for m in await messages(sessionmaker)] == ["Slow"]


async def test_a_worker_killed_while_placing_loses_nothing(
    client: AsyncTestClient[Any],
    settings: Settings,
    sessionmaker: Any,
    media: MediaServer,
    db_url: str,
    tmp_path: Path,
) -> None:
    """A real `inbox worker` places a text; killed (-9) while fetching the next one's media,
    it leaves that text pending, and the next placer places it once its lease lapsed."""
    media.script["slow"] = [Reply(delay=30), Reply()]
    env = {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(tmp_path),
        "INBOX_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "INBOX_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "INBOX_TWILIO_BASE_URL": media.url,
    }
    async with workers(env) as start:
        worker = await start()
        assert (
            await webhook(client, SMS, text(sid(12), "+13125550142", "First"))
        ).status_code == 200

        async def placed(count: int) -> bool:
            return (await count_rows(sessionmaker, Message))["message"] == count

        await wait_for(lambda: placed(1), 30)
        second = mms(sid(13), "+13125550143", "Second", media.media_url("slow"))
        assert (await webhook(client, SMS, second)).status_code == 200
        await wait_for(lambda: asyncio.sleep(0, bool(media.hits)), 30)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

    row = (await rows(sessionmaker))[-1]
    assert (row.sid, row.state, row.attempts) == (sid(13), "pending", 1)
    assert row.claimed_by != "" and row.claimed_until is not None
    clock = FakeClock(row.claimed_until + timedelta(seconds=1))
    restarted = make_placer(settings, sessionmaker, clock=clock)
    assert await place_all(restarted) == 1
    assert await place_all(restarted) == 0
    assert [m.body_text for m in await messages(sessionmaker)] == ["First", "Second"]
    assert await count_rows(sessionmaker, Attachment) == {"attachment": 1}


async def test_the_app_places_a_text_right_after_its_webhook(
    db_url: str, tmp_path: Path, media: MediaServer, sessionmaker: Any
) -> None:
    settings = twilio_settings(db_url, tmp_path, media.url, INBOX_RUN_WORKERS="true")
    services = build_services(settings)
    services.sms_placer.poll_interval = 60  # so only the webhook's wake can be this quick
    await create_account(sessionmaker, "dana@oem.test")
    async with AsyncTestClient(app=create_app(settings, services), base_url=PUBLIC) as client:
        await asyncio.sleep(0.5)  # the placer's first pass, on start, found nothing
        started = time.perf_counter()
        assert (await webhook(client, SMS, text(sid(14), "+13125550142", "Hi"))).status_code == 200

        async def placed() -> bool:
            return (await count_rows(sessionmaker, Message))["message"] == 1

        await wait_for(placed, 10)
        took = time.perf_counter() - started
    assert took < 5, f"placed {took:.2f} s after the webhook"
    assert len(await created_events(sessionmaker)) == 1
