"""A batch of mail stored together (`do_ingest`'s fast path: look-ups read once for the batch,
rows inserted many at a time) ends exactly as storing each message alone would: mail that
threads on mail earlier in the same batch, a stranger writing twice, a Cc'd person becoming a
participant, the same Message-ID twice, an automatic reply, and a bounce in the middle; and the
events come in the order one message at a time would give them."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.parse import parse_message
from channels.storage import FileAttachmentStore
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import ProspectCreate
from inbox.conversations.models import Channel, DeliveryStatus, Direction, Message, Participant
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.email.mailboxes import do_acquire_lease, do_ingest
from inbox.email.placement import ThreadingContext
from inbox.notifications.models import Notification
from tests.conftest import create_account

Maker = async_sessionmaker[AsyncSession]
CONTEXT = ThreadingContext("batch-test-secret-key-0123456789abcdef", "replies@oem.test")
OURS = "<out-1@inbox.test>"


def mail(
    n: int,
    sender: str,
    *,
    references: str = "",
    message_id: str = "",
    auto: bool = False,
) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "replies@oem.test"
    m["Subject"] = f"Mail {n}"
    m["Message-ID"] = message_id or f"<batch-{n}@example.com>"
    m["Date"] = f"Tue, 24 Nov 2026 09:{n:02d}:00 +0000"
    if references:
        m["In-Reply-To"] = m["References"] = references
    if auto:
        m["Auto-Submitted"] = "auto-replied"
    m.set_content(f"Body of mail {n}.")
    return bytes(m)


def bounce(n: int) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.oem.test>\r\n"
        "To: replies@oem.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender ({n})\r\n"
        f"Message-ID: <bounce-{n}@mx.oem.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.oem.test\r\n\r\n"
        "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {OURS}\r\nTo: gone@example.com\r\n"
        "--B--\r\n"
    ).encode()


async def test_a_batch_ends_as_one_message_at_a_time_would(
    sessionmaker: Maker, tmp_path: Path
) -> None:
    dana: Actor = await create_account(sessionmaker, "dana@oem.test")
    async with sessionmaker() as s:
        pat = await do_create_prospect(
            s, dana, ProspectCreate(first_name="Pat", emails=["pat@example.com"]), region="US"
        )
        s.add(
            Message(
                conversation_id=pat.conversation_id,
                channel=Channel.EMAIL,
                direction=Direction.OUTBOUND,
                author_account_id=dana.id,
                subject="Your quote",
                message_id_header=OURS,
                recipients={"to": ["pat@example.com", "gone@example.com"], "cc": ["chris@x.org"]},
                status=DeliveryStatus.SENT,
            )
        )
        await s.commit()
    raws = [
        mail(1, "New Comer <newcomer@example.net>"),  # a stranger: a new prospect
        mail(2, "New Comer <newcomer@example.net>"),  # ... who writes again: known by now
        mail(3, "Pat <pat@example.com>", references=OURS),
        mail(4, "Chris <chris@x.org>", references=OURS),  # copied on ours: joins the thread
        mail(5, "Chris <chris@x.org>"),  # a participant now, writing afresh
        bounce(6),
        mail(7, "Pat <pat@example.com>", references="<batch-3@example.com>"),  # on mail 3
        mail(8, "Pat <pat@example.com>", message_id="<batch-3@example.com>"),  # mail 3 again
        mail(9, "Pat <pat@example.com>", references=OURS, auto=True),
        mail(10, "New Comer <newcomer@example.net>", references="<batch-1@example.com>"),
    ]
    batch = [(uid, parse_message(raw)) for uid, raw in enumerate(raws, start=1)]
    lease = timedelta(seconds=30)
    async with sessionmaker() as s:
        cursor = await do_acquire_lease(s, "box", "me", utcnow(), lease)
        assert cursor is not None
        await s.commit()
        result = await do_ingest(
            s,
            "box",
            "me",
            batch,
            cursor,
            context=CONTEXT,
            store=FileAttachmentStore(tmp_path / "files"),
            now=utcnow(),
            ttl=lease,
        )
        await s.commit()
    assert (result.stored, result.duplicates, result.failed) == (9, 1, 0)

    async with sessionmaker() as s:
        rows = (
            await s.execute(
                sa.select(Message.subject, Message.conversation_id, Message.thread_rule, Message.id)
                .where(Message.direction == Direction.INBOUND)
                .order_by(Message.id)
            )
        ).all()
        chris = await s.scalar(
            sa.select(Participant.conversation_id).where(Participant.address == "chris@x.org")
        )
        notes = (
            await s.execute(
                sa.select(Notification.message_id, Notification.body, Notification.account_id)
                .where(Notification.kind == "reply_received")
                .order_by(Notification.id)
            )
        ).all()
        bounced, ours = (
            await s.execute(
                sa.select(Message.status, Message.id).where(Message.message_id_header == OURS)
            )
        ).one()
        cursor_after = await s.scalar(sa.text("SELECT last_uid FROM mailbox"))
    by_subject = {subject: (conversation, rule) for subject, conversation, rule, _ in rows}
    newcomer = by_subject["Mail 1"][0]
    assert newcomer not in (pat.conversation_id, None)
    assert by_subject == {
        "Mail 1": (newcomer, "new_prospect"),
        "Mail 2": (newcomer, "known_address"),
        "Mail 3": (pat.conversation_id, "references"),
        "Mail 4": (pat.conversation_id, "references"),
        "Mail 5": (pat.conversation_id, "known_address"),
        "Undelivered Mail Returned to Sender (6)": (pat.conversation_id, "bounce"),
        "Mail 7": (pat.conversation_id, "references"),
        "Mail 9": (pat.conversation_id, "references"),
        "Mail 10": (newcomer, "references"),
    }
    assert [subject for subject, *_ in rows] == [*by_subject], "stored in mailbox order"
    assert chris == pat.conversation_id
    assert bounced is DeliveryStatus.BOUNCED
    assert cursor_after == 10
    # One notification per human reply, each pointing at its own message (the ids given to a
    # multi-row insert must be the rows' own).
    ids = {subject: message_id for subject, _, _, message_id in rows}
    replies = [f"Mail {n}" for n in (1, 2, 3, 4, 5, 7, 10)]
    assert [(message_id, account) for message_id, _, account in notes] == [
        (ids[subject], dana.id) for subject in replies
    ]
    assert [body for _, body, _ in notes] == [f"Body of mail {s[5:]}." for s in replies]

    # Dana's events, in the order storing one message at a time gives them.
    expected: list[tuple[str, int | None]] = []
    for subject, _, _, message_id in rows:
        if subject.startswith("Undelivered"):
            expected.append(("notification.created", ours))  # the sender hears of the bounce
        expected += [("message.created", message_id), ("conversation.updated", message_id)]
        if subject in replies:
            expected.append(("notification.created", message_id))
    danas = [e for e in result.events if e.account_id == dana.id]
    seen: list[tuple[str, int | None]] = []
    for e in danas:
        if e.type == "message.created":
            seen.append((e.type, e.payload["message_id"]))
        elif e.type == "conversation.updated":
            seen.append((e.type, e.payload["last_message_id"]))
        elif e.type == "notification.created":
            seen.append((e.type, e.payload["notification"]["message_id"]))
    assert seen == expected
    seqs = [e.seq for e in danas]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "consecutive, no gaps"
