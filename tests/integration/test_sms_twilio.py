"""Sending texts through a Twilio-compatible REST API (a real server on loopback): the exact form
and auth of every send, and what its failures do: a failed or retried status, never a silent
loss and never a second send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.sms.twilio import TwilioConfig, TwilioSmsChannel
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import PhoneInput, ProspectCreate
from inbox.conversations.messages import SendContext
from inbox.conversations.models import Channel, DeliveryStatus, Message
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.core.access import Actor
from inbox.errors import Unprocessable
from inbox.events.log import MemoryPublisher
from inbox.outbox.models import OutboxJob, OutboxState
from inbox.outbox.queue import Sender, claim_due, start_hand_over
from inbox.sms.consent import OptOutRecordingChannel, do_record_consent, get_sms_status
from inbox.sms.messages import SmsStatusReport, do_record_sms_status
from inbox.sms.models import SmsConsent, SmsConsentChange
from tests.support.clock import FakeClock
from tests.support.live import free_port
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, Answer, FakeTwilio, fake_twilio

Maker = async_sessionmaker[AsyncSession]
CALLBACK = "https://inbox.example/webhooks/twilio/status"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with fake_twilio() as fake:
        yield fake


def config(fake: FakeTwilio, **changes: object) -> TwilioConfig:
    base = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "sender": "+15005550006",
        "base_url": fake.url,
        "status_callback_url": CALLBACK,
        "timeout": 2.0,
    }
    return TwilioConfig(**{**base, **changes})  # type: ignore[arg-type]


def sender(maker: Maker, channel: TwilioSmsChannel, clock: FakeClock) -> Sender:
    wrapped = OptOutRecordingChannel(channel, maker, MemoryPublisher())
    return Sender(maker, {Channel.SMS: wrapped}, MemoryPublisher(), clock, "worker-1")


async def green_prospect(maker: Maker, actor: Actor, mobile: str = "(212) 555-0123") -> int:
    async with maker() as s:
        p = await do_create_prospect(
            s,
            actor,
            ProspectCreate(first_name="Pat", phones=[PhoneInput(kind="mobile", number=mobile)]),  # type: ignore[arg-type]
            region="US",
        )
        await do_record_consent(s, [p.id], SmsConsent.OPTED_IN, source="test")
        await s.commit()
    return p.conversation_id


async def queue_text(maker: Maker, actor: Actor, conversation_id: int, body: str) -> int:
    async with maker() as s:
        m = await do_send_message(
            s,
            actor,
            conversation_id,
            MessageCreate(channel=Channel.SMS, body_text=body),
            context=SendContext(email_domain="inbox.test"),
        )
        await s.commit()
    return m.id


async def message_and_job(maker: Maker, message_id: int) -> tuple[Message, OutboxJob]:
    async with maker() as s:
        message = await s.get(Message, message_id)
        job = await s.scalar(sa.select(OutboxJob).where(OutboxJob.message_id == message_id))
        assert message is not None and job is not None
        return message, job


async def test_each_send_posts_the_exact_form_with_basic_auth(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    first = await queue_text(sessionmaker, cmu, cid, "Hi Pat, your quote is ready €")
    clock = FakeClock()
    assert await sender(sessionmaker, TwilioSmsChannel(config(twilio)), clock).run_once() == 1
    second = await queue_text(sessionmaker, cmu, cid, "Via the service")
    clock.at = datetime.now(UTC)
    by_service = TwilioSmsChannel(config(twilio, sender="MG" + "a" * 32, status_callback_url=""))
    assert await sender(sessionmaker, by_service, clock).run_once() == 1

    _, job = await message_and_job(sessionmaker, first)
    assert [r.path for r in twilio.sends] == [
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    ] * 2
    assert [r.auth for r in twilio.sends] == [(ACCOUNT_SID, AUTH_TOKEN)] * 2
    assert sorted(twilio.sends[0].form) == [
        ("Body", "Hi Pat, your quote is ready €"),
        ("From", "+15005550006"),
        ("StatusCallback", f"{CALLBACK}?key={job.idempotency_key}"),
        ("To", "+12125550123"),
    ]
    assert sorted(twilio.sends[1].form) == [
        ("Body", "Via the service"),
        ("MessagingServiceSid", "MG" + "a" * 32),
        ("To", "+12125550123"),
    ]
    for message_id, accepted in zip((first, second), twilio.accepted, strict=True):
        message, job = await message_and_job(sessionmaker, message_id)
        assert message.status is DeliveryStatus.SENT and message.external_id == accepted["sid"]
        assert job.state is OutboxState.DONE


async def test_a_refusal_with_an_error_code_fails_the_text_once(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    twilio.script.append(Answer(status=400, code=21211, message="Invalid 'To' Phone Number"))
    clock = FakeClock()
    run = sender(sessionmaker, TwilioSmsChannel(config(twilio)), clock)
    await run.run_once()
    clock.at += timedelta(days=1)
    assert await run.run_once() == 0, "a permanent failure is not retried"

    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.FAILED and job.state is OutboxState.FAILED
    assert "21211" in message.error and "Invalid 'To' Phone Number" in message.error
    assert len(twilio.sends) == 1 and twilio.accepted == []


async def test_wrong_credentials_fail_the_text_with_the_providers_reason(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    channel = TwilioSmsChannel(config(twilio, auth_token="wrong"))
    await sender(sessionmaker, channel, FakeClock()).run_once()
    message, _ = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.FAILED and "20003" in message.error
    assert twilio.sends[0].auth == (ACCOUNT_SID, "wrong")


async def test_unsubscribed_21610_fails_and_records_an_opt_out(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    twilio.script.append(
        Answer(status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    )
    await sender(sessionmaker, TwilioSmsChannel(config(twilio)), FakeClock()).run_once()

    message, _ = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.FAILED and "21610" in message.error
    async with sessionmaker() as s:
        entries = list(await s.scalars(sa.select(SmsConsentChange)))
        assert [(e.consent, e.source, e.phone_e164) for e in entries][-1] == (
            SmsConsent.OPTED_OUT,
            "provider",
            "+12125550123",
        )
        conversation_prospect = message.conversation_id
        status = await get_sms_status(s, cmu, entries[-1].prospect_id)
        assert status.status == "red"
    with pytest.raises(Unprocessable, match="Opted out"):
        await queue_text(sessionmaker, cmu, conversation_prospect, "Again")


async def test_a_server_error_is_retried_and_the_text_goes_out_once(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    twilio.script.extend([Answer(status=503, message="Service Unavailable"), Answer()])
    clock = FakeClock()
    run = sender(sessionmaker, TwilioSmsChannel(config(twilio)), clock)
    await run.run_once()
    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.QUEUED and "503" in message.error
    assert job.state is OutboxState.QUEUED and job.next_attempt_at > clock.now()

    clock.at += timedelta(hours=2)
    await run.run_once()
    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.SENT and job.state is OutboxState.DONE
    assert len(twilio.sends) == 2 and len(twilio.accepted) == 1


async def test_an_unreachable_provider_is_retried(sessionmaker: Maker, cmu: Actor) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    nowhere = TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender="+15005550006",
        base_url=f"http://127.0.0.1:{free_port()}",
    )
    await sender(sessionmaker, TwilioSmsChannel(nowhere), FakeClock()).run_once()
    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.QUEUED and job.state is OutboxState.QUEUED
    assert "could not reach" in message.error


async def test_a_timeout_fails_without_sending_again_and_a_delivery_report_corrects_it(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    twilio.script.append(Answer(delay=1.5))  # accepted, but the answer comes too late
    clock = FakeClock()
    run = sender(sessionmaker, TwilioSmsChannel(config(twilio, timeout=0.3)), clock)
    await run.run_once()
    clock.at += timedelta(days=1)
    assert await run.run_once() == 0
    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.FAILED and job.state is OutboxState.FAILED
    assert "may have gone out" in message.error
    assert len(twilio.accepted) == 1, "never a second send"

    # Twilio's report reaches the status callback with our key: the text did go out.
    callback = dict(twilio.sends[0].form)["StatusCallback"]
    key = parse_qs(urlsplit(callback).query)["key"][0]
    report = SmsStatusReport(
        sid=twilio.accepted[0]["sid"], status=DeliveryStatus.DELIVERED, key=key
    )
    async with sessionmaker() as s:
        assert await do_record_sms_status(s, report)
        await s.commit()
    message, _ = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.DELIVERED
    assert message.external_id == twilio.accepted[0]["sid"] and message.error == ""


async def test_a_send_interrupted_by_a_crash_is_not_repeated(
    sessionmaker: Maker, cmu: Actor, twilio: FakeTwilio
) -> None:
    cid = await green_prospect(sessionmaker, cmu)
    message_id = await queue_text(sessionmaker, cmu, cid, "Hello")
    clock = FakeClock()
    async with sessionmaker() as s:  # a sender begins handing the text over, then dies
        [claimed] = await claim_due(s, "dead-worker", clock.now())
        await start_hand_over(s, claimed, "dead-worker", clock.now())
    clock.at += timedelta(minutes=5)
    assert await sender(sessionmaker, TwilioSmsChannel(config(twilio)), clock).run_once() == 1
    message, job = await message_and_job(sessionmaker, message_id)
    assert message.status is DeliveryStatus.FAILED and job.state is OutboxState.FAILED
    assert "not sent again" in message.error
    assert twilio.sends == []
