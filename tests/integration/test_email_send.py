"""Sending email over SMTP: what a real SMTP server receives (envelope and headers), rich text
and its plain-text rendering, signatures, attachments, suppression, and the delivery outcome
per recipient, all through the send queue's real sender."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from channels.email.smtp import SmtpChannel, SmtpConfig
from channels.storage import FileAttachmentStore
from inbox.accounts.models import Role
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import ProspectCreate
from inbox.conversations.messages import SendContext
from inbox.conversations.models import Attachment, Channel, DeliveryStatus, Direction, Message
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.core.ports import DeliveryLookup
from inbox.email.reply_tokens import read_reply_token, token_in_address
from inbox.email.suppression import do_suppress
from inbox.events.log import MemoryPublisher
from inbox.events.models import Event
from inbox.outbox.models import OutboxJob, OutboxState, RecipientOutcome
from inbox.outbox.queue import Sender
from server.app import create_app
from server.services import Services, build_services
from tests.conftest import count_rows, create_account
from tests.integration.test_api import make_settings, sign_in
from tests.support.clock import FakeClock
from tests.support.smtp import SmtpServer, smtp_server

REPLY_MAILBOX = "replies@oem.example"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@dataclass
class Setup:
    client: AsyncTestClient[Any]
    services: Services
    headers: dict[str, str]
    conversation_id: int
    smtp: SmtpServer

    async def send(self, **body: Any) -> Any:
        response = await self.client.post(
            f"/api/conversations/{self.conversation_id}/messages",
            headers=self.headers,
            json={"channel": "email", **body},
        )
        return response

    async def deliver(self) -> int:
        """One pass of the app's sender, run on the app's own loop (the test client's portal)."""
        portal = self.client.blocking_portal
        handled: int = await asyncio.to_thread(portal.call, self.services.sender.run_once)
        return handled

    async def thread(self) -> dict[str, Any]:
        response = await self.client.get(f"/api/conversations/{self.conversation_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def setup(
    db_url: str, tmp_path: Path, sessionmaker: Any, smtp: SmtpServer
) -> AsyncIterator[Setup]:
    settings = make_settings(
        db_url,
        tmp_path,
        INBOX_SMTP_HOST=smtp.host,
        INBOX_SMTP_PORT=str(smtp.port),
        INBOX_SMTP_TLS="none",
        INBOX_REPLY_ADDRESS=REPLY_MAILBOX,
        INBOX_MAX_ATTACHMENT_BYTES="1000",
    )
    services = build_services(settings)
    await create_account(sessionmaker, "dana@oem.test")
    async with AsyncTestClient(
        app=create_app(settings, services), base_url="http://testserver.local"
    ) as client:
        headers = await sign_in(client, "dana@oem.test")
        prospect = (
            await client.post(
                "/api/prospects",
                headers=headers,
                json={
                    "first_name": "Pat",
                    "last_name": "Lee",
                    "emails": ["pat@example.com", "pat.lee@work.example"],
                },
            )
        ).json()
        yield Setup(client, services, headers, prospect["conversation_id"], smtp)


def parts(message: EmailMessage) -> dict[str, str]:
    """content type -> decoded text of the message's text parts."""
    return {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in message.walk()
        if part.get_content_maintype() == "text" and not part.is_attachment()
    }


async def test_an_email_with_cc_and_bcc_reaches_the_smtp_server_as_sent(
    setup: Setup, sessionmaker: Any
) -> None:
    sent = await setup.send(
        to=["pat.lee@work.example"],
        cc=["carol@example.org", "Dave@Example.org"],
        bcc=["boss@oem.test"],
        subject="Your Sommer 2026 quote",
        body_html=(
            "<p>Hi <b>Pat</b>,</p><ul><li>hull</li><li>motor</li></ul>"
            '<ol><li>sign</li><li>pay</li></ol><p>See <a href="https://oem.example/q/7">the quote</a>.</p>'
        ),
    )
    assert sent.status_code == 202, sent.text
    assert await setup.deliver() == 1
    [received] = await setup.smtp.sink.wait_for(1)

    assert received.rcpt_tos == [
        "pat.lee@work.example",
        "carol@example.org",
        "dave@example.org",
        "boss@oem.test",
    ]
    assert b"boss@oem.test" not in received.data, "Bcc is only in the envelope"
    message = received.message
    assert "Bcc" not in message
    assert message["From"] == "Dana <dana@oem.test>"
    assert message["To"] == "pat.lee@work.example"
    assert message["Cc"] == "carol@example.org, dave@example.org"
    assert message["Subject"] == "Your Sommer 2026 quote"
    reply_to = message["Reply-To"]
    token = token_in_address(REPLY_MAILBOX, reply_to)
    assert token is not None and len(token) >= 20
    secret = setup.services.settings.web.secret_key
    assert read_reply_token(secret, token) == setup.conversation_id
    assert received.mail_from == reply_to, "bounces come back to the watched mailbox"
    assert message.get_content_type() == "multipart/alternative"
    assert parts(message)["text/plain"].rstrip("\n") == (
        "Hi *Pat*,\n\n- hull\n- motor\n\n1. sign\n2. pay\n\n"
        "See the quote (https://oem.example/q/7)."
    )
    assert "<b>Pat</b>" in parts(message)["text/html"]

    async with sessionmaker() as s:
        row = await s.scalar(sa.select(Message))
    assert row is not None
    assert message["Message-ID"] == row.message_id_header
    assert row.message_id_header.endswith("@testserver.local>"), "under our domain"
    assert row.reply_to == reply_to
    thread = await setup.thread()
    [shown] = thread["messages"]
    assert shown["status"] == "sent" and shown["error"] == ""
    assert shown["bcc"] == ["boss@oem.test"]
    assert [(o["address"], o["kind"], o["status"]) for o in shown["recipient_outcomes"]] == [
        ("pat.lee@work.example", "to", "sent"),
        ("carol@example.org", "cc", "sent"),
        ("dave@example.org", "cc", "sent"),
        ("boss@oem.test", "bcc", "sent"),
    ]

    # The next email in the thread points back at the first.
    assert (await setup.send(body_text="One more thing.")).status_code == 202
    assert await setup.deliver() == 1
    second = (await setup.smtp.sink.wait_for(2))[1].message
    assert second["In-Reply-To"] == row.message_id_header
    assert second["References"] == row.message_id_header
    assert second["Subject"] == "Your Sommer 2026 quote"
    assert second["To"] == "pat@example.com", "To defaults to the prospect's first address"
    assert parts(second)["text/plain"].strip() == "One more thing."


async def test_each_recipient_outcome_is_pushed_with_message_updated(
    setup: Setup, sessionmaker: Any
) -> None:
    refusals = setup.smtp.sink.rcpt_replies
    refusals["carol@example.org"] = "550 5.1.1 <carol@example.org>: no such user"
    refusals["dave@example.org"] = "452 4.2.2 Mailbox full"
    response = await setup.send(
        cc=["carol@example.org", "dave@example.org"], bcc=["boss@oem.test"], body_text="Hi"
    )
    assert response.status_code == 202
    await setup.deliver()
    [received] = await setup.smtp.sink.wait_for(1)
    assert received.rcpt_tos == ["pat@example.com", "boss@oem.test"]

    [shown] = (await setup.thread())["messages"]
    assert shown["status"] == "sent"
    assert shown["error"] == (
        "carol@example.org: 550 5.1.1 <carol@example.org>: no such user; "
        "dave@example.org: 452 4.2.2 Mailbox full (not retried)"
    )
    outcomes = {o["address"]: (o["status"], o["detail"]) for o in shown["recipient_outcomes"]}
    assert outcomes == {
        "pat@example.com": ("sent", ""),
        "carol@example.org": ("failed", "550 5.1.1 <carol@example.org>: no such user"),
        "dave@example.org": ("failed", "452 4.2.2 Mailbox full (not retried)"),
        "boss@oem.test": ("sent", ""),
    }
    async with sessionmaker() as s:
        payload = await s.scalar(
            sa.select(Event.payload).where(Event.type == "message.updated").limit(1)
        )
    assert payload is not None
    assert payload["status"] == "sent"
    assert {r["address"]: r["status"] for r in payload["recipients"]} == {
        "pat@example.com": "sent",
        "carol@example.org": "failed",
        "dave@example.org": "failed",
        "boss@oem.test": "sent",
    }


async def test_the_first_email_carries_the_first_contact_signature_whatever_sms_came_before(
    setup: Setup, sessionmaker: Any
) -> None:
    signatures = await setup.client.put(
        "/api/me/signatures",
        headers=setup.headers,
        json={
            "first_contact": '<p><b>Dana</b> | OEM Boats<br><a href="https://oem.example">oem.example</a></p>',
            "reply": "<p>Dana<img src=x onerror=alert(1)><script>alert(2)</script></p>",
        },
    )
    assert signatures.status_code == 200, signatures.text
    assert signatures.json()["reply"] == "<p>Dana</p>", "signatures are sanitized too"
    async with sessionmaker() as s:
        # A text the CMU sent earlier: it does not use up the first-contact signature.
        sms = Message(
            conversation_id=setup.conversation_id,
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            author_account_id=1,
            body_text="Hi Pat, Dana from OEM here.",
            recipients={"to": ["+15005550006"], "cc": [], "bcc": []},
            status=DeliveryStatus.SENT,
        )
        s.add(sms)
        await s.commit()

    preview = await setup.client.post(
        f"/api/conversations/{setup.conversation_id}/email-preview",
        headers=setup.headers,
        json={"body_html": "<p>Thanks for your interest.</p>", "subject": "Boats"},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["signature_kind"] == "first_contact"
    assert preview.json()["text"] == (
        "Thanks for your interest.\n\n-- \n*Dana* | OEM Boats\noem.example (https://oem.example)"
    )

    assert (await setup.send(body_text="Thanks for your interest.")).status_code == 202
    assert (await setup.send(body_text="Following up.")).status_code == 202
    assert await setup.deliver() == 2
    first, second = (r.message for r in await setup.smtp.sink.wait_for(2))
    assert parts(first)["text/plain"].rstrip("\n") == (
        "Thanks for your interest.\n\n-- \n*Dana* | OEM Boats\noem.example (https://oem.example)"
    )
    assert '<div class="signature">-- <br><p><b>Dana</b> | OEM Boats' in parts(first)["text/html"]
    assert parts(second)["text/plain"].rstrip("\n") == "Following up.\n\n-- \nDana"
    kinds = [m["signature_kind"] for m in (await setup.thread())["messages"]]
    assert kinds == ["", "first_contact", "reply"]

    later = await setup.client.post(
        f"/api/conversations/{setup.conversation_id}/email-preview",
        headers=setup.headers,
        json={"body_text": "Any news?"},
    )
    assert later.json()["signature_kind"] == "reply"
    assert later.json()["html"] == '<p>Any news?</p><div class="signature">-- <br><p>Dana</p></div>'


async def test_hostile_html_is_sanitized_before_it_is_stored_or_sent(setup: Setup) -> None:
    response = await setup.send(
        body_html=(
            '<p onclick="steal()">Hi<script>alert(1)</script><img src=x onerror="alert(1)">'
            ' <a href="javascript:alert(1)">click</a> <a href="https://ok.example/">ok</a>'
            '<style>p{}</style><iframe src="https://evil.example"></iframe></p>'
        )
    )
    assert response.status_code == 202, response.text
    body = response.json()["body_html"]
    for bad in ("script", "onerror", "onclick", "javascript:", "<img", "iframe", "style"):
        assert bad not in body
    assert '<a href="https://ok.example/" rel="noopener noreferrer">ok</a>' in body
    assert response.json()["body_text"] == "Hi click ok (https://ok.example/)"
    await setup.deliver()
    [received] = await setup.smtp.sink.wait_for(1)
    assert b"javascript" not in received.data and b"onerror" not in received.data

    empty = await setup.send(body_html="<script>alert(1)</script>")
    assert empty.status_code == 400
    assert empty.json()["errors"][0]["field"] == "body_html"


async def test_the_sender_profile_sets_from_and_its_address_is_refused_as_a_recipient(
    setup: Setup,
) -> None:
    profile = await setup.client.put(
        "/api/me/profile",
        headers=setup.headers,
        json={"from_name": "Dana Müller, OEM Boats", "from_email": "Dana.Sales@OEM.test"},
    )
    assert profile.status_code == 200, profile.text
    assert profile.json() == {
        "from_name": "Dana Müller, OEM Boats",
        "from_email": "dana.sales@oem.test",
    }
    refused = await setup.send(body_text="Hi", bcc=["dana.sales@oem.test"])
    assert refused.status_code == 400
    assert "remove it from Bcc" in refused.json()["detail"]
    assert (await setup.send(body_text="Hi")).status_code == 202
    await setup.deliver()
    [received] = await setup.smtp.sink.wait_for(1)
    assert received.message["From"].addresses[0].display_name == "Dana Müller, OEM Boats"
    assert received.message["From"].addresses[0].addr_spec == "dana.sales@oem.test"


async def test_a_suppressed_address_is_refused_with_the_reason_until_an_admin_resets_it(
    setup: Setup, sessionmaker: Any
) -> None:
    async with sessionmaker() as s:
        await do_suppress(s, "carol@example.org", "550 5.1.1 user unknown (hard bounce)")
        await s.commit()
    before = await count_rows(sessionmaker, Message, OutboxJob)
    refused = await setup.send(cc=["bob@example.org", "Carol@example.org"], body_text="Hi")
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["field"] == "cc[1]"
    assert (
        "carol@example.org is on the suppression list (550 5.1.1 user unknown" in problem["detail"]
    )
    assert await count_rows(sessionmaker, Message, OutboxJob) == before

    assert (await setup.client.get("/api/suppressions")).status_code == 403, "admins only"
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    admin = await sign_in(setup.client, "root@oem.test")
    listed = (await setup.client.get("/api/suppressions")).json()
    assert [(r["address"], r["reason"]) for r in listed] == [
        ("carol@example.org", "550 5.1.1 user unknown (hard bounce)")
    ]
    reset = await setup.client.delete("/api/suppressions/carol@example.org", headers=admin)
    assert reset.status_code == 204
    assert (await setup.client.get("/api/suppressions")).json() == []
    again = await setup.client.delete("/api/suppressions/carol@example.org", headers=admin)
    assert again.status_code == 404
    setup.headers = await sign_in(setup.client, "dana@oem.test")
    assert (await setup.send(cc=["carol@example.org"], body_text="Hi")).status_code == 202


async def test_attachments_are_sent_and_an_oversized_upload_is_refused_writing_nothing(
    setup: Setup, sessionmaker: Any
) -> None:
    url = f"/api/conversations/{setup.conversation_id}/messages/multipart"
    message = json.dumps({"channel": "email", "body_text": "The quote is attached."})
    before = await count_rows(sessionmaker, Message, OutboxJob, Attachment)
    too_big = await setup.client.post(
        url,
        headers=setup.headers,
        data={"message": message},
        files=[
            ("attachments", ("quote.pdf", b"%PDF" + b"x" * 600, "application/pdf")),
            ("attachments", ("photo.png", b"\x89PNG" + b"y" * 400, "image/png")),
        ],
    )
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["code"] == "payload_too_large"
    assert await count_rows(sessionmaker, Message, OutboxJob, Attachment) == before
    store_dir = setup.services.settings.attachments_dir
    assert not store_dir.exists() or not any(p.is_file() for p in store_dir.rglob("*"))

    ok = await setup.client.post(
        url,
        headers=setup.headers,
        data={"message": message},
        files=[
            ("attachments", ("quote.pdf", b"%PDF-1.4 quote", "application/pdf")),
            ("attachments", ("../boat.png", b"\x89PNG boat", "image/png")),
        ],
    )
    assert ok.status_code == 202, ok.text
    assert [a["filename"] for a in ok.json()["attachments"]] == ["quote.pdf", "boat.png"]
    await setup.deliver()
    [received] = await setup.smtp.sink.wait_for(1)
    mail = received.message
    assert mail.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in mail.iter_parts()] == [
        "multipart/alternative",
        "application/pdf",
        "image/png",
    ]
    files = {a.get_filename(): a.get_content() for a in mail.iter_attachments()}
    assert files == {"quote.pdf": b"%PDF-1.4 quote", "boat.png": b"\x89PNG boat"}
    assert parts(mail)["text/plain"].strip() == "The quote is attached."
    shown = (await setup.thread())["messages"][0]
    assert [a["filename"] for a in shown["attachments"]] == ["quote.pdf", "boat.png"]

    sms = await setup.client.post(
        url,
        headers=setup.headers,
        data={"message": json.dumps({"channel": "sms", "body_text": "hi"})},
        files=[("attachments", ("a.txt", b"a", "text/plain"))],
    )
    assert sms.status_code == 400
    assert sms.json()["errors"][0]["field"] == "attachments"


# --- the send queue against the SMTP server, with a clock the test moves ---


async def queue_email(sessionmaker: Any, **fields: Any) -> int:
    actor = await create_account(sessionmaker, "dana@oem.test")
    async with sessionmaker() as s:
        prospect = await do_create_prospect(
            s, actor, ProspectCreate(first_name="Pat", emails=["pat@example.com"]), region="US"
        )
        message = await do_send_message(
            s,
            actor,
            prospect.conversation_id,
            MessageCreate(channel=Channel.EMAIL, body_text="Hello", **fields),
            context=SendContext(email_domain="inbox.test"),
        )
        await s.commit()
    return message.id


def smtp_sender(sessionmaker: Any, smtp: SmtpServer, clock: FakeClock, tmp_path: Path) -> Sender:
    channel = SmtpChannel(
        SmtpConfig(host=smtp.host, port=smtp.port, tls="none", timeout=10),
        FileAttachmentStore(tmp_path / "attachments"),
    )
    return Sender(sessionmaker, {Channel.EMAIL: channel}, MemoryPublisher(), clock, "w1")


async def outcome_rows(sessionmaker: Any) -> dict[str, tuple[str, str]]:
    async with sessionmaker() as s:
        rows = await s.scalars(sa.select(RecipientOutcome))
        return {r.address: (r.status.value, r.detail) for r in rows}


async def test_a_4xx_reply_is_retried_later_and_then_delivered(
    sessionmaker: Any, smtp: SmtpServer, tmp_path: Path
) -> None:
    message_id = await queue_email(sessionmaker, cc=["carol@example.org"])
    smtp.sink.data_replies.append("451 4.3.0 Mailbox temporarily unavailable")
    clock = FakeClock()
    sender = smtp_sender(sessionmaker, smtp, clock, tmp_path)
    assert await sender.run_once() == 1
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None
        assert message.status is DeliveryStatus.QUEUED
        assert message.error == "deferred: 451 4.3.0 Mailbox temporarily unavailable"
    assert await outcome_rows(sessionmaker) == {
        "pat@example.com": ("deferred", "451 4.3.0 Mailbox temporarily unavailable"),
        "carol@example.org": ("deferred", "451 4.3.0 Mailbox temporarily unavailable"),
    }
    assert await sender.run_once() == 0, "not before its backoff"
    clock.at += timedelta(minutes=1)
    assert await sender.run_once() == 1
    [received] = await smtp.sink.wait_for(1)
    assert received.rcpt_tos == ["pat@example.com", "carol@example.org"]
    assert smtp.sink.data_commands == 2
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None and message.status is DeliveryStatus.SENT
        assert message.error == ""
        job = await s.scalar(sa.select(OutboxJob))
        assert job is not None and job.attempts == 2 and job.state is OutboxState.DONE
    assert await outcome_rows(sessionmaker) == {
        "pat@example.com": ("sent", ""),
        "carol@example.org": ("sent", ""),
    }
    published = sender.publisher.published  # type: ignore[attr-defined]
    statuses = [e.payload["status"] for e in published if e.type == "message.updated"]
    assert statuses == ["queued", "sent"]


async def test_a_5xx_reply_fails_the_message_with_the_servers_words(
    sessionmaker: Any, smtp: SmtpServer, tmp_path: Path
) -> None:
    message_id = await queue_email(sessionmaker, bcc=["boss@oem.test"])
    smtp.sink.data_replies.append("554 5.7.1 Message rejected as spam")
    sender = smtp_sender(sessionmaker, smtp, FakeClock(), tmp_path)
    assert await sender.run_once() == 1
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None and message.status is DeliveryStatus.FAILED
        assert message.error == "554 5.7.1 Message rejected as spam"
        job = await s.scalar(sa.select(OutboxJob))
        assert job is not None and job.state is OutboxState.FAILED
    assert await outcome_rows(sessionmaker) == {
        "pat@example.com": ("failed", "554 5.7.1 Message rejected as spam"),
        "boss@oem.test": ("failed", "554 5.7.1 Message rejected as spam"),
    }
    assert smtp.sink.received == []


async def test_every_recipient_refused_for_now_is_retried_and_for_good_is_failed(
    sessionmaker: Any, smtp: SmtpServer, tmp_path: Path
) -> None:
    message_id = await queue_email(sessionmaker)
    smtp.sink.rcpt_replies["pat@example.com"] = "452 4.2.2 Mailbox full"
    clock = FakeClock()
    sender = smtp_sender(sessionmaker, smtp, clock, tmp_path)
    await sender.run_once()
    assert await outcome_rows(sessionmaker) == {
        "pat@example.com": ("deferred", "452 4.2.2 Mailbox full")
    }
    smtp.sink.rcpt_replies["pat@example.com"] = "550 5.1.1 No such user"
    clock.at += timedelta(minutes=1)
    await sender.run_once()
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None and message.status is DeliveryStatus.FAILED
        assert message.error == "recipients refused: pat@example.com: 550 5.1.1 No such user"
    assert await outcome_rows(sessionmaker) == {
        "pat@example.com": ("failed", "550 5.1.1 No such user")
    }
    assert smtp.sink.data_commands == 0


async def test_an_unreachable_server_defers_and_an_interrupted_send_is_not_repeated(
    sessionmaker: Any, tmp_path: Path
) -> None:
    message_id = await queue_email(sessionmaker)
    with smtp_server() as gone:
        pass  # a port where nothing listens any more
    clock = FakeClock()
    sender = smtp_sender(sessionmaker, gone, clock, tmp_path)
    await sender.run_once()
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None and message.status is DeliveryStatus.QUEUED
        assert message.error.startswith("deferred: cannot reach the SMTP server")
    # SMTP cannot tell whether a send cut short went out, so the queue will not repeat it.
    channel = sender.channels[Channel.EMAIL]
    assert await channel.find_delivery("<anything@inbox.test>") is DeliveryLookup.UNKNOWN


async def test_a_connection_lost_while_handing_over_the_message_is_not_sent_twice(
    sessionmaker: Any, smtp: SmtpServer, tmp_path: Path
) -> None:
    message_id = await queue_email(sessionmaker)
    smtp.sink.drop_on_data = True
    clock = FakeClock()
    sender = smtp_sender(sessionmaker, smtp, clock, tmp_path)
    assert await sender.run_once() == 1
    async with sessionmaker() as s:
        message = await s.get(Message, message_id)
        assert message is not None and message.status is DeliveryStatus.FAILED
        assert "it may have been delivered, so it is not sent again" in message.error
    clock.at += timedelta(hours=2)
    assert await sender.run_once() == 0
    assert smtp.sink.data_commands == 1
