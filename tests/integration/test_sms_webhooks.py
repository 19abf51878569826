"""Twilio's webhooks, signed by the `twilio` package's own RequestValidator: forged requests
change nothing; inbound texts (kept by the webhook, then placed by the SMS placer) thread by
number, act on STOP/START/HELP and keep MMS media; delivery reports move a text's status
forward and are pushed as message.updated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from twilio.request_validator import RequestValidator

from channels.sms.twilio import TwilioSmsChannel
from channels.storage import FileAttachmentStore
from inbox.contacts.models import Prospect
from inbox.conversations.models import Attachment, Conversation, DeliveryStatus, Message
from inbox.core.ports import Clock, SystemClock
from inbox.events.log import MemoryPublisher
from inbox.events.models import Event
from inbox.notifications.models import Notification
from inbox.outbox.models import OutboxJob
from inbox.sms.inbound import SmsPlacer
from inbox.sms.models import InboundSmsRequest, PhoneLookup, SmsConsentChange
from server.app import create_app
from server.settings import Settings
from tests.conftest import count_rows, create_account
from tests.integration.test_api import make_settings, sign_in
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, fake_twilio

PUBLIC = "http://testserver.local"
HELP_REPLY = "Oakridge care team. Reply STOP to opt out."
TABLES = (
    Message,
    Prospect,
    Conversation,
    SmsConsentChange,
    Notification,
    Event,
    Attachment,
    InboundSmsRequest,
)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with fake_twilio() as fake:
        yield fake


def twilio_settings(db_url: str, tmp_path: Path, base_url: str, **extra: str) -> Settings:
    settings: Settings = make_settings(
        db_url,
        tmp_path,
        INBOX_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        INBOX_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        INBOX_TWILIO_BASE_URL=base_url,
        INBOX_SMS_HELP_REPLY=HELP_REPLY,
        **extra,
    )
    return settings


@pytest.fixture
def settings(db_url: str, tmp_path: Path, twilio: FakeTwilio) -> Settings:
    return twilio_settings(db_url, tmp_path, twilio.url)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    # The app's own workers are off (INBOX_RUN_WORKERS=false): the tests run the placer.
    async with AsyncTestClient(app=create_app(settings), base_url=PUBLIC) as c:
        yield c


def make_placer(
    settings: Settings,
    sessionmaker: Any,
    *,
    clock: Clock | None = None,
    worker: str = "test-placer",
    publisher: MemoryPublisher | None = None,
) -> SmsPlacer:
    """The SMS placer as the app builds it, in the test's own event loop."""
    assert settings.twilio is not None
    return SmsPlacer(
        sessionmaker,
        TwilioSmsChannel(settings.twilio),
        publisher or MemoryPublisher(),
        clock or SystemClock(),
        worker,
        store=FileAttachmentStore(settings.attachments_dir),
        region=settings.phone_region,
        help_reply=settings.sms.help_reply,
    )


@pytest.fixture
def placer(settings: Settings, sessionmaker: Any) -> SmsPlacer:
    return make_placer(settings, sessionmaker)


async def place_all(placer: SmsPlacer) -> int:
    """Run the placer until nothing is due; how many texts it handled."""
    handled = 0
    while n := await placer.run_once():
        handled += n
    return handled


@pytest.fixture
async def headers(client: AsyncTestClient[Any], sessionmaker: Any) -> dict[str, str]:
    await create_account(sessionmaker, "dana@oem.test")
    return await sign_in(client, "dana@oem.test")


def signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def webhook(
    client: AsyncTestClient[Any], path: str, params: dict[str, str], **sign_as: str
) -> Any:
    sig = signature(sign_as.get("url", PUBLIC + path), params)
    return await client.post(path, data=params, headers={"X-Twilio-Signature": sig})


def text(sid: str, from_: str, body: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": from_,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


async def new_prospect(
    client: AsyncTestClient[Any], headers: dict[str, str], **data: Any
) -> dict[str, Any]:
    response = await client.post("/api/prospects", headers=headers, json=data)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def sms_status(client: AsyncTestClient[Any], prospect_id: int) -> dict[str, Any]:
    result: dict[str, Any] = (await client.get(f"/api/prospects/{prospect_id}/sms")).json()
    return result


async def test_forged_or_unsigned_webhooks_get_403_and_change_nothing(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any, placer: SmsPlacer
) -> None:
    pat = await new_prospect(
        client, headers, first_name="Pat", phones=[{"kind": "mobile", "number": "2125550123"}]
    )
    before = await count_rows(sessionmaker, *TABLES)
    params = text("SM" + "1" * 32, "+12125550123", "STOP")
    path = "/webhooks/twilio/sms"
    good = signature(PUBLIC + path, params)
    attempts = {
        "tampered body": (path, {**params, "Body": "START"}, good),
        "wrong URL": (path, params, signature("https://evil.example" + path, params)),
        "wrong token": (path, params, signature(PUBLIC + path, params, "not-the-token")),
        "missing header": (path, params, None),
        "status, tampered": (
            "/webhooks/twilio/status",
            {"MessageSid": "SM1", "MessageStatus": "failed"},
            signature(
                PUBLIC + "/webhooks/twilio/status", {"MessageSid": "SM1", "MessageStatus": "sent"}
            ),
        ),
    }
    for what, (url, data, sig) in attempts.items():
        sent = {"X-Twilio-Signature": sig} if sig else {}
        response = await client.post(url, data=data, headers=sent)
        assert response.status_code == 403, what
    assert await place_all(placer) == 0
    assert await count_rows(sessionmaker, *TABLES) == before
    assert (await sms_status(client, pat["id"]))["consent"] == "unknown"
    # The same request, signed as Twilio signs it, goes through.
    response = await client.post(path, data=params, headers={"X-Twilio-Signature": good})
    assert response.status_code == 200 and "<Response>" in response.text
    assert await place_all(placer) == 1
    assert (await sms_status(client, pat["id"]))["status"] == "red"


async def test_an_inbound_text_threads_to_the_prospect_owning_the_number(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any, placer: SmsPlacer
) -> None:
    pat = await new_prospect(
        client,
        headers,
        first_name="Pat",
        last_name="Lee",
        phones=[
            {"kind": "mobile", "number": "+44 7911 123456"},
            {"kind": "work", "number": "(212) 555-0199"},
        ],
    )
    await new_prospect(client, headers, first_name="Other", emails=["o@example.com"])
    sid = "SM" + "a" * 32
    response = await webhook(client, "/webhooks/twilio/sms", text(sid, "+12125550199", "Hi!"))
    assert response.status_code == 200
    # Twilio retries: the same MessageSid again changes nothing, before or after it is placed.
    again = await webhook(client, "/webhooks/twilio/sms", text(sid, "+12125550199", "Hi!"))
    assert again.status_code == 200
    assert await place_all(placer) == 1
    again = await webhook(client, "/webhooks/twilio/sms", text(sid, "+12125550199", "Hi!"))
    assert again.status_code == 200
    assert await place_all(placer) == 0

    thread = (await client.get(f"/api/conversations/{pat['conversation_id']}")).json()
    [message] = thread["messages"]
    assert message["body_text"] == "Hi!" and message["channel"] == "sms"
    assert message["direction"] == "inbound" and message["author_address"] == "+12125550199"
    assert message["author_name"] == "Pat Lee" and message["thread_rule"] == "known_phone"
    notifications = (await client.get("/api/notifications")).json()
    assert [n["message_id"] for n in notifications["items"]] == [message["id"]]
    events = (await client.get("/api/events", params={"after": 0})).json()
    created = [e for e in events if e["type"] == "message.created"]
    assert [e["payload"]["message_id"] for e in created] == [message["id"]]

    await webhook(client, "/webhooks/twilio/sms", text("SM" + "b" * 32, "+447911123456", "Me too"))
    await place_all(placer)
    thread = (await client.get(f"/api/conversations/{pat['conversation_id']}")).json()
    assert [m["body_text"] for m in thread["messages"]] == ["Hi!", "Me too"]
    assert await count_rows(sessionmaker, Prospect, Message) == {"prospect": 2, "message": 2}


async def test_a_text_from_an_unknown_number_starts_a_new_prospect(
    client: AsyncTestClient[Any], headers: dict[str, str], placer: SmsPlacer
) -> None:
    await webhook(client, "/webhooks/twilio/sms", text("SM" + "c" * 32, "+13125550142", "Price?"))
    await place_all(placer)
    [found] = (await client.get("/api/prospects", params={"q": "(312) 555-0142"})).json()
    assert found["phones"] == [{"kind": "mobile", "e164": "+13125550142"}]
    thread = (await client.get(f"/api/conversations/{found['conversation_id']}")).json()
    assert [m["thread_rule"] for m in thread["messages"]] == ["new_prospect"]
    assert thread["conversation"]["needs_reply"] is True
    status = await sms_status(client, found["id"])
    assert status["status"] == "grey" and status["consent"] == "unknown"
    # It texted us, so the number takes texts whatever its type says.
    assert [(p["can_text"], p["source"]) for p in status["phones"]] == [(True, "lookup")]


async def test_stop_start_and_help_keywords(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any, placer: SmsPlacer
) -> None:
    pat = await new_prospect(
        client, headers, first_name="Pat", phones=[{"kind": "mobile", "number": "212-555-0123"}]
    )
    same_number = await new_prospect(
        client, headers, first_name="Sam", phones=[{"kind": "home", "number": "+1 212 555 0123"}]
    )
    await client.post(
        f"/api/prospects/{pat['id']}/sms/consent", headers=headers, json={"consent": "opted_in"}
    )
    assert (await sms_status(client, pat["id"]))["status"] == "green"
    n = 0

    async def say(body: str) -> str:
        nonlocal n
        n += 1
        params = text(f"SM{n:032x}", "+12125550123", body)
        assert (await webhook(client, "/webhooks/twilio/sms", params)).status_code == 200
        assert await place_all(placer) == 1
        return str((await sms_status(client, pat["id"]))["status"])

    stops = ("STOP", " stop ", "StopAll", "unsubscribe", "CANCEL", "end", "Quit", "revoke")
    for word in (*stops, "optout", "OPT OUT", "opt  out"):
        assert await say("START") == "green", word
        assert await say(word) == "red", word
    for word in ("START", " unstop", "Yes "):
        assert await say("STOP") == "red"
        assert await say(word) == "green", word
    for not_a_keyword in ("Stop texting me at work please", "yes please", "stop.please"):
        assert await say(not_a_keyword) == "green", not_a_keyword
    assert await say("STOP") == "red"
    # The number opted out, so every prospect who has it did.
    assert (await sms_status(client, same_number["id"]))["status"] == "red"

    status = await sms_status(client, pat["id"])
    latest = status["history"][0]
    assert (latest["consent"], latest["source"], latest["detail"]) == (
        "opted_out",
        "keyword",
        "STOP",
    )
    assert latest["phone_e164"] == "+12125550123" and latest["actor_account_id"] is None
    assert "by texting STOP" in status["reason"]

    before = await count_rows(sessionmaker, OutboxJob)
    await say("help")  # answered even when opted out: carriers require it
    thread = (await client.get(f"/api/conversations/{pat['conversation_id']}")).json()
    reply = thread["messages"][-1]
    assert reply["body_text"] == HELP_REPLY and reply["is_automatic"] is True
    assert reply["direction"] == "outbound" and reply["to"] == ["+12125550123"]
    assert reply["status"] == "queued"
    assert await count_rows(sessionmaker, OutboxJob) == {"outbox_job": before["outbox_job"] + 1}
    assert thread["conversation"]["needs_reply"] is True, "an automatic reply is not a reply"


async def test_mms_media_are_fetched_with_the_accounts_auth_and_kept(
    client: AsyncTestClient[Any],
    headers: dict[str, str],
    twilio: FakeTwilio,
    sessionmaker: Any,
    placer: SmsPlacer,
) -> None:
    photo = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000
    twilio.media["ME1"] = (photo, "image/jpeg")
    twilio.media["ME2"] = (b"x" * (5 * 1024 * 1024 + 1), "video/mp4")
    params = text(
        "MM" + "d" * 32,
        "+13125550142",
        "Here is the old one",
        NumMedia="3",
        MediaUrl0=twilio.media_url("ME1"),
        MediaContentType0="image/jpeg",
        MediaUrl1=twilio.media_url("ME2"),
        MediaContentType1="video/mp4",
        MediaUrl2=twilio.media_url("gone"),
        MediaContentType2="image/png",
    )
    assert (await webhook(client, "/webhooks/twilio/sms", params)).status_code == 200
    assert [r for r in twilio.received if r.method == "GET"] == [], "the webhook fetches nothing"
    assert await place_all(placer) == 1
    assert [r.auth for r in twilio.received if r.method == "GET"] == [(ACCOUNT_SID, AUTH_TOKEN)] * 3

    [found] = (await client.get("/api/prospects", params={"q": "+13125550142"})).json()
    thread = (await client.get(f"/api/conversations/{found['conversation_id']}")).json()
    [message] = thread["messages"]
    async with sessionmaker() as s:
        attachments = list(await s.scalars(sa.select(Attachment)))
        stored = await s.get(Message, message["id"])
    assert [(a.filename, a.content_type, a.size) for a in attachments] == [
        ("mms-1.jpeg", "image/jpeg", len(photo))
    ]
    download = await client.get(f"/api/attachments/{attachments[0].id}")
    assert download.content == photo
    assert stored is not None
    assert "media 2 of 3 not kept: larger than" in stored.error
    assert "media 3 of 3 not kept: HTTP 404" in stored.error
    async with sessionmaker() as s:
        [row] = await s.scalars(sa.select(InboundSmsRequest))
    assert (row.state, row.attempts, row.message_id) == ("placed", 1, message["id"])
    assert "media 3 of 3: HTTP 404" in row.error


async def outbound_text(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any, sid: str | None
) -> dict[str, Any]:
    pat = await new_prospect(
        client, headers, first_name="Pat", phones=[{"kind": "mobile", "number": "2125550123"}]
    )
    await client.post(
        f"/api/prospects/{pat['id']}/sms/consent", headers=headers, json={"consent": "opted_in"}
    )
    sent = await client.post(
        f"/api/conversations/{pat['conversation_id']}/messages",
        headers=headers,
        json={"channel": "sms", "body_text": "Your quote is ready"},
    )
    assert sent.status_code == 202, sent.text
    async with sessionmaker() as s:  # as the send queue records a text the provider took
        await s.execute(
            sa.update(Message)
            .where(Message.id == sent.json()["id"])
            .values(status=DeliveryStatus.SENT, external_id=sid)
        )
        await s.commit()
    result: dict[str, Any] = {**sent.json(), "prospect_id": pat["id"]}
    return result


async def status_of(sessionmaker: Any, message_id: int) -> tuple[DeliveryStatus, str, str | None]:
    async with sessionmaker() as s:
        m = await s.get(Message, message_id)
        assert m is not None
        return m.status, m.error, m.external_id


async def test_status_callbacks_move_the_status_forward_and_push_message_updated(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any
) -> None:
    sid = "SM" + "e" * 32
    message = await outbound_text(client, headers, sessionmaker, sid)

    async def report(status: str, **extra: str) -> None:
        params = {"MessageSid": sid, "MessageStatus": status, "To": "+12125550123", **extra}
        assert (await webhook(client, "/webhooks/twilio/status", params)).status_code == 204

    async def updates() -> list[dict[str, Any]]:
        events = (await client.get("/api/events", params={"after": 0})).json()
        return [e["payload"] for e in events if e["type"] == "message.updated"]

    await report("delivered")
    assert await status_of(sessionmaker, message["id"]) == (DeliveryStatus.DELIVERED, "", sid)
    assert [(u["message_id"], u["status"]) for u in await updates()] == [
        (message["id"], "delivered")
    ]
    await report("sent")  # late and out of order
    await report("delivered")  # a retry
    assert await status_of(sessionmaker, message["id"]) == (DeliveryStatus.DELIVERED, "", sid)
    assert len(await updates()) == 1

    other_sid = "SM" + "f" * 32
    other = await outbound_text(client, headers, sessionmaker, other_sid)
    params = {"MessageSid": other_sid, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert (await webhook(client, "/webhooks/twilio/status", params)).status_code == 204
    status, error, _ = await status_of(sessionmaker, other["id"])
    assert status is DeliveryStatus.FAILED
    assert (
        error
        == "undelivered: error 30006, the number is a landline or its carrier cannot take texts"
    )
    last = (await updates())[-1]
    assert {k: last[k] for k in ("conversation_id", "message_id", "status", "error")} == {
        "conversation_id": other["conversation_id"],
        "message_id": other["id"],
        "status": "failed",
        "error": error,
    }
    # Every message.updated carries the recipients' outcomes (a text records none).
    assert last["recipients"] == []
    # The carrier says the number cannot take texts: the prospect turns grey.
    after = await sms_status(client, other["prospect_id"])
    assert after["status"] == "grey" and after["phones"][0]["source"] == "lookup"
    assert await count_rows(sessionmaker, PhoneLookup) == {"phone_lookup": 1}


async def test_a_status_callback_finds_a_text_by_our_key_when_its_id_never_reached_us(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any
) -> None:
    message = await outbound_text(client, headers, sessionmaker, None)
    async with sessionmaker() as s:
        key = await s.scalar(
            sa.select(OutboxJob.idempotency_key).where(OutboxJob.message_id == message["id"])
        )
    path = f"/webhooks/twilio/status?key={key}"
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "sent"}
    wrong = await webhook(client, path, params, url=f"{PUBLIC}/webhooks/twilio/status")
    assert wrong.status_code == 403, "the query string is part of what is signed"
    assert (await webhook(client, path, params)).status_code == 204
    assert await status_of(sessionmaker, message["id"]) == (
        DeliveryStatus.SENT,
        "",
        "SM" + "9" * 32,
    )


async def test_unsubscribed_21610_in_a_status_callback_records_an_opt_out(
    client: AsyncTestClient[Any], headers: dict[str, str], sessionmaker: Any
) -> None:
    sid = "SM" + "7" * 32
    message = await outbound_text(client, headers, sessionmaker, sid)
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610"}
    assert (await webhook(client, "/webhooks/twilio/status", params)).status_code == 204
    status = await sms_status(client, message["prospect_id"])
    assert status["status"] == "red" and status["history"][0]["source"] == "provider"
