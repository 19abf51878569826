"""Every hand-written .eml in tests/fixtures/email lands where a person would expect it.

The world each fixture arrives in: Dana (a contact manager) emailed Pat (conversation 1, with
Chris in Cc, Alex in Bcc and Lee already a participant), Jürgen (2) and Élodie (3); Pat had
also written in before. The table says, for each file, which rule threads it, whose message it
is, which conversation it joins and what is left to read once quoted history and signatures are
cut.
"""

# The typographic quotes, dashes and signs below are what the mail really says.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.parse import parse_message
from channels.storage import FileAttachmentStore
from inbox.accounts.models import Account
from inbox.contacts.models import Prospect
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import ProspectCreate
from inbox.conversations.models import (
    Attachment,
    Channel,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    Participant,
)
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.email.mailboxes import Cursor, do_acquire_lease, do_ingest
from inbox.email.models import InboundFailure, SuppressedAddress
from inbox.email.placement import ThreadingContext, Unplaceable, do_receive_email
from inbox.notifications.models import Notification
from inbox.outbox.models import RecipientOutcome, RecipientStatus

Maker = async_sessionmaker[AsyncSession]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
SECRET = "fixture-secret-key-for-email-tests-0123456789"
CONTEXT = ThreadingContext(SECRET, "replies@oem.test")
PAT, JUERGEN, ELODIE = 1, 2, 3
NEW = 0  # a conversation created for the message


@dataclass(frozen=True)
class Expected:
    rule: str
    author: str
    conversation: int
    text: str | None  # None: not about the text (bounce notices)
    automatic: bool = False


EXPECTED: dict[str, Expected] = {
    "gmail_reply.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Hi Dana,\n\nThursday at 10 works for the test drive.\n\nPat",
    ),
    "gmail_html_only.eml": Expected(
        "references", "pat@example.com", PAT, "Could you send the brochure as well?\n\nThanks,\nPat"
    ),
    "outlook_desktop_reply.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Hi Dana – that’s great news. I’d like the “Premium” trim, if it’s still €500 off."
        "\n\nRegards,\nPat",
    ),
    "outlook_web_reply.eml": Expected(
        "references", "pat@example.com", PAT, "Can we move it to Friday morning instead?\n\nPat"
    ),
    "outlook_lost_references.eml": Expected(
        "reply_token",
        "pat@example.com",
        PAT,
        "Dana, one more question: does the quote include delivery?",
    ),
    "apple_mail_reply.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Great, I will bring my trade-in papers so we can look at the numbers together.\n\nPat",
    ),
    "thunderbird_reply.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Hello Dana,\n\nPlease also quote the extended warranty.",
    ),
    "ios_mail_reply.eml": Expected(
        "references", "pat@example.com", PAT, "Sounds good, see you then."
    ),
    "android_gmail_reply.eml": Expected(
        "references", "pat@example.com", PAT, "Running late, 10:30 instead?"
    ),
    "samsung_email_reply.eml": Expected(
        "references", "pat@example.com", PAT, "Yes please, the blue one."
    ),
    "outlook_reply_all_cc.eml": Expected(
        "references",
        "chris@partner.example",
        PAT,
        "I'm Pat's business partner; please include me on the financing options.\n\nChris",
    ),
    "bcc_reply.eml": Expected("references", "boss@example.com", PAT, "Approved on our side."),
    "stranger_references_only.eml": Expected(
        "new_prospect", "mallory@evil.example", NEW, "I can beat this price, call me."
    ),
    "stranger_to_token.eml": Expected(
        "references",
        "sam@neighbor.example",
        PAT,
        "Pat forwarded me your quote. I'd like the same deal for my farm.\n\nSam",
    ),
    "stranger_copies_prospect.eml": Expected(
        "references",
        "jo@family.example",
        PAT,
        "I'm Pat's spouse. We'd both like to come to the test drive.\n\nJo",
    ),
    "prospect_new_subject.eml": Expected(
        "known_address",
        "pat@example.com",
        PAT,
        "Hi, do you also offer service plans for older tractors?",
    ),
    "participant_new_subject.eml": Expected(
        "known_address",
        "lee@example.org",
        PAT,
        "The bank needs the final invoice by Friday.\n\nLee",
    ),
    "new_prospect_web_inquiry.eml": Expected(
        "new_prospect",
        "morgan.fisher@newfarm.example",
        NEW,
        "Hello, please send me a brochure for the Model X.\n\nMorgan",
    ),
    "reply_to_earlier_inbound.eml": Expected(
        "references", "pat@example.com", PAT, "Forgot to say: the tractor has 1,200 hours on it."
    ),
    "gmail_forward.eml": Expected(
        "known_address",
        "pat@example.com",
        PAT,
        "See the dealer's offer below.\n\n---------- Forwarded message ---------\n"
        "From: Valley Dealer <sales@valley-dealer.example>\nDate: Mon, Nov 23, 2026 at 4:00 PM\n"
        "Subject: Dealer invoice\nTo: <pat@example.com>\n\nModel X, Premium trim: $48,500.",
    ),
    "thunderbird_forward_attachment.eml": Expected(
        "known_address", "pat@example.com", PAT, "Here is the dealer's quote I mentioned."
    ),
    "apple_inline_image.eml": Expected(
        "references", "pat@example.com", PAT, "Here is a photo of the trade-in.\n\n[photo]\n\nPat"
    ),
    "outlook_german_latin1.eml": Expected(
        "references",
        "juergen.mueller@example.de",
        JUERGEN,
        "Guten Tag Frau Whitfield,\n\nvielen Dank für das Angebot. Können wir nächste Woche "
        "telefonieren?\n\nMit freundlichen Grüßen\nJürgen Müller",
    ),
    "apple_mail_french_base64.eml": Expected(
        "references",
        "elodie.martin@exemple.fr",
        ELODIE,
        "Bonjour Dana,\n\nMerci pour l’offre. Je préfère le modèle bleu.\n\nÉlodie",
    ),
    "gmail_spanish_qp.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Hola Dana,\n\n¿Podemos vernos el jueves? Mañana no puedo.\n\nSaludos,\nPat",
    ),
    "iso2022jp_reply.eml": Expected(
        "new_prospect",
        "taro.yamada@example.jp",
        NEW,
        "ダナ様\n\nお見積もりありがとうございます。\n来週お電話できますか。\n\n山田 太郎",
    ),
    "utf8_rfc2047_name.eml": Expected(
        "new_prospect",
        "zoe.obrien@example.ie",
        NEW,
        "Could I book a test drive this week? I’m free after 3 pm.\n\nZoë",
    ),
    "auto_reply_outlook_en.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "I am out of the office until Monday with limited access to email.",
        automatic=True,
    ),
    "auto_reply_german_subject_only.eml": Expected(
        "known_address",
        "juergen.mueller@example.de",
        JUERGEN,
        "Ich bin bis zum 30.11. nicht im Büro.",
        automatic=True,
    ),
    "auto_reply_french_precedence.eml": Expected(
        "known_address",
        "elodie.martin@exemple.fr",
        ELODIE,
        "Je suis absente jusqu’au 1er décembre.",
        automatic=True,
    ),
    "auto_reply_spanish.eml": Expected(
        "references",
        "pat@example.com",
        PAT,
        "Estoy fuera de la oficina hasta el lunes.",
        automatic=True,
    ),
    "dsn_postfix_hard.eml": Expected(
        "bounce", "mailer-daemon@mail.oem.test", PAT, None, automatic=True
    ),
    "dsn_exchange_hard.eml": Expected(
        "bounce",
        "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@example.de",
        JUERGEN,
        None,
        automatic=True,
    ),
    "dsn_gmail_hard.eml": Expected(
        "bounce", "mailer-daemon@googlemail.com", ELODIE, None, automatic=True
    ),
    "dsn_postfix_delayed.eml": Expected(
        "bounce", "mailer-daemon@mail.oem.test", PAT, None, automatic=True
    ),
    "malformed_broken_mime.eml": Expected(
        "references", "pat@example.com", PAT, "The attachment did not come through, sorry."
    ),
    "malformed_unknown_charset.eml": Expected(
        "known_address", "pat@example.com", PAT, "Prices in € please, not £."
    ),
    "mislabelled_ascii_no_message_id.eml": Expected(
        "known_address", "pat@example.com", PAT, "The shed is 12×10 m, café next door."
    ),
}
UNPLACEABLE = {"malformed_no_sender.eml"}


def test_every_fixture_has_an_expectation() -> None:
    files = {p.name for p in FIXTURES.glob("*.eml")}
    assert files == set(EXPECTED) | UNPLACEABLE
    assert len(files) >= 30


async def build_world(maker: Maker, cmu: Actor) -> None:
    """Dana's three conversations, as described at the top of this module."""
    async with maker() as s:
        account = await s.get(Account, cmu.id)
        assert account is not None
        account.from_email, account.from_name = "dana@oem.test", "Dana Whitfield"
        people = [
            ("Pat", "Example", "pat@example.com"),
            ("Jürgen", "Müller", "juergen.mueller@example.de"),
            ("Élodie", "Martin", "elodie.martin@exemple.fr"),
        ]
        for first, last, email in people:
            data = ProspectCreate(first_name=first, last_name=last, emails=[email])
            await do_create_prospect(s, cmu, data, region="US")
        sent = [
            (PAT, "<out-1@inbox.test>", "pat@example.com", ["chris@partner.example"]),
            (JUERGEN, "<out-2@inbox.test>", "juergen.old@example.de", []),
            (ELODIE, "<out-3@inbox.test>", "elodie.old@gmail.com", []),
        ]
        for conversation_id, header, to, cc in sent:
            s.add(
                Message(
                    conversation_id=conversation_id,
                    channel=Channel.EMAIL,
                    direction=Direction.OUTBOUND,
                    author_account_id=cmu.id,
                    author_address="dana@oem.test",
                    subject="Your quote for the Model X",
                    body_text="Hi,",
                    message_id_header=header,
                    recipients={
                        "to": [to],
                        "cc": cc,
                        "bcc": ["boss@example.com"] if conversation_id == PAT else [],
                    },
                    status=DeliveryStatus.SENT,
                )
            )
        s.add(
            Message(
                conversation_id=PAT,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                author_address="pat@example.com",
                subject="Trade-in photos",
                message_id_header="<pat-earlier@example.com>",
                status=DeliveryStatus.RECEIVED,
            )
        )
        s.add(Participant(conversation_id=PAT, address="lee@example.org", name="Lee Advisor"))
        await s.commit()


@pytest.fixture
async def world(sessionmaker: Maker, cmu: Actor) -> Maker:
    await build_world(sessionmaker, cmu)
    return sessionmaker


async def receive(maker: Maker, name: str, tmp_path: Path) -> Message:
    inbound = parse_message((FIXTURES / name).read_bytes())
    async with maker() as s:
        read = await do_receive_email(
            s, inbound, context=CONTEXT, store=FileAttachmentStore(tmp_path)
        )
        await s.commit()
    assert read is not None
    async with maker() as s:
        message = await s.get(Message, read.id, options=[sa.orm.undefer(Message.raw)])
        assert message is not None
        return message


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_fixture_lands_where_expected(world: Maker, name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    message = await receive(world, name, tmp_path)
    assert message.thread_rule == expected.rule
    assert message.author_address == expected.author
    if expected.conversation == NEW:
        assert message.conversation_id > ELODIE
    else:
        assert message.conversation_id == expected.conversation
    if expected.text is not None:
        assert message.body_text == expected.text
    assert message.is_automatic is expected.automatic
    assert message.raw == (FIXTURES / name).read_bytes()
    assert len(message.body_text_full) >= len(message.body_text)


async def test_a_reply_from_a_copied_person_makes_them_a_participant(
    world: Maker, tmp_path: Path
) -> None:
    await receive(world, "outlook_reply_all_cc.eml", tmp_path)
    await receive(world, "stranger_references_only.eml", tmp_path)
    async with world() as s:
        participants = set(
            await s.scalars(
                sa.select(Participant.address).where(Participant.conversation_id == PAT)
            )
        )
        mallory = await s.scalar(
            sa.select(Message.conversation_id).where(
                Message.author_address == "mallory@evil.example"
            )
        )
    assert participants == {"lee@example.org", "chris@partner.example"}
    assert mallory != PAT, "a stranger quoting our Message-ID must not join Pat's thread"


async def test_a_new_sender_becomes_a_prospect_named_as_their_client_names_them(
    world: Maker, tmp_path: Path
) -> None:
    message = await receive(world, "utf8_rfc2047_name.eml", tmp_path)
    async with world() as s:
        conversation = await s.get(Conversation, message.conversation_id)
        assert conversation is not None
        prospect = await s.get(Prospect, conversation.prospect_id)
        assert prospect is not None
        assert (prospect.first_name, prospect.last_name) == ("Zoë", "O’Brien")
        assert [e.email for e in prospect.emails] == ["zoe.obrien@example.ie"]


async def test_quoted_text_is_cut_for_display_but_kept(world: Maker, tmp_path: Path) -> None:
    message = await receive(world, "gmail_reply.eml", tmp_path)
    assert "Would you like a test drive?" not in message.body_text
    assert "Would you like a test drive?" in message.body_text_full
    assert "gmail_quote" not in message.body_html and "test drive?" not in message.body_html
    assert "Would you like a test drive?" in message.body_html_full


async def test_html_is_sanitized_and_inline_images_come_from_the_store(
    world: Maker, tmp_path: Path
) -> None:
    message = await receive(world, "apple_inline_image.eml", tmp_path)
    async with world() as s:
        attachment = await s.scalar(
            sa.select(Attachment).where(Attachment.message_id == message.id)
        )
    assert attachment is not None and attachment.content_type == "image/png"
    assert f'src="/api/attachments/{attachment.id}"' in message.body_html
    assert "cid:" not in message.body_html
    # The tracking pixel keeps its address for an opt-in, but nothing loads it by default.
    assert 'data-src="https://tracker.example/pixel.gif"' in message.body_html
    assert ' src="https://' not in message.body_html
    for hostile in ("javascript:", "onclick", "<script"):
        assert hostile not in message.body_html


async def test_automatic_replies_neither_need_a_reply_nor_notify(
    world: Maker, tmp_path: Path
) -> None:
    async with world() as s:
        before = await s.scalar(sa.select(sa.func.count()).select_from(Notification))
    await receive(world, "auto_reply_outlook_en.eml", tmp_path)
    async with world() as s:
        conversation = await s.get(Conversation, PAT)
        after = await s.scalar(sa.select(sa.func.count()).select_from(Notification))
    assert conversation is not None and conversation.last_human_direction is not Direction.INBOUND
    assert after == before
    await receive(world, "gmail_reply.eml", tmp_path)
    async with world() as s:
        conversation = await s.get(Conversation, PAT)
        replies = await s.scalar(sa.select(sa.func.count()).select_from(Notification))
    assert conversation is not None and conversation.last_human_direction is Direction.INBOUND
    assert replies == 1


@pytest.mark.parametrize(
    ("name", "header", "address", "diagnostic"),
    [
        ("dsn_postfix_hard.eml", "<out-1@inbox.test>", "chris@partner.example", "User unknown"),
        (
            "dsn_exchange_hard.eml",
            "<out-2@inbox.test>",
            "juergen.old@example.de",
            "RecipientNotFound",
        ),
        ("dsn_gmail_hard.eml", "<out-3@inbox.test>", "elodie.old@gmail.com", "does not exist"),
    ],
)
async def test_a_hard_bounce_marks_the_message_suppresses_and_tells_the_sender(
    world: Maker, tmp_path: Path, name: str, header: str, address: str, diagnostic: str
) -> None:
    await receive(world, name, tmp_path)
    async with world() as s:
        original = await s.scalar(sa.select(Message).where(Message.message_id_header == header))
        suppressed = await s.get(SuppressedAddress, address)
        notes = list(await s.scalars(sa.select(Notification)))
    assert original is not None and original.status is DeliveryStatus.BOUNCED
    assert address in original.error and diagnostic in original.error
    assert suppressed is not None and diagnostic in suppressed.reason
    assert [(n.kind, n.message_id) for n in notes] == [("delivery_failed", original.id)]
    async with world() as s:
        outcome = await s.get(RecipientOutcome, (original.id, address))
    assert outcome is not None and outcome.status is RecipientStatus.FAILED
    assert diagnostic in outcome.detail


async def test_a_delay_warning_changes_nothing(world: Maker, tmp_path: Path) -> None:
    await receive(world, "dsn_postfix_delayed.eml", tmp_path)
    async with world() as s:
        original = await s.scalar(
            sa.select(Message).where(Message.message_id_header == "<out-1@inbox.test>")
        )
        suppressed = await s.scalar(sa.select(sa.func.count()).select_from(SuppressedAddress))
    assert original is not None and original.status is DeliveryStatus.SENT
    assert suppressed == 0
    async with world() as s:
        outcome = await s.get(RecipientOutcome, (original.id, "pat@example.com"))
    assert outcome is not None and outcome.status is RecipientStatus.DEFERRED
    assert "Connection timed out" in outcome.detail


async def test_mail_that_belongs_nowhere_is_kept_raw_and_the_batch_goes_on(
    world: Maker, tmp_path: Path
) -> None:
    names = ["gmail_reply.eml", "malformed_no_sender.eml", "ios_mail_reply.eml"]
    batch = [(i + 1, parse_message((FIXTURES / n).read_bytes())) for i, n in enumerate(names)]
    with pytest.raises(Unplaceable):
        async with world() as s:
            await do_receive_email(
                s, batch[1][1], context=CONTEXT, store=FileAttachmentStore(tmp_path)
            )
    async with world() as s:
        now = utcnow()
        lease = timedelta(seconds=30)
        cursor = await do_acquire_lease(s, "box", "me", now, lease)
        assert cursor == Cursor(0, 0)
        await s.commit()
        result = await do_ingest(
            s,
            "box",
            "me",
            batch,
            cursor,
            context=CONTEXT,
            store=FileAttachmentStore(tmp_path),
            now=now,
            ttl=lease,
        )
        await s.commit()
    assert (result.stored, result.failed) == (2, 1)
    assert {e.type for e in result.events} >= {"message.created", "conversation.updated"}
    async with world() as s:
        failure = await s.scalar(sa.select(InboundFailure))
        stored = await s.scalar(
            sa.select(sa.func.count()).select_from(Message).where(Message.thread_rule != "")
        )
        box = await do_acquire_lease(s, "box", "me", utcnow(), lease)
    assert failure is not None and failure.raw == (FIXTURES / names[1]).read_bytes()
    assert "no sender address" in failure.error
    assert stored == 2
    assert box == Cursor(0, 3)


async def test_an_automatic_message_from_a_stranger_makes_no_prospect(
    world: Maker, tmp_path: Path
) -> None:
    raw = (FIXTURES / "auto_reply_outlook_en.eml").read_bytes()
    raw = raw.replace(b"pat@example.com", b"someone@elsewhere.example")
    raw = raw.replace(b"<out-1@inbox.test>", b"<not-ours@elsewhere.example>")
    raw = raw.replace(b"replies+aaaaaaaaaaaacdpmkat4kszomaera@", b"replies@")
    inbound = parse_message(raw)
    assert inbound.is_automatic
    with pytest.raises(Unplaceable):
        async with world() as s:
            await do_receive_email(s, inbound, context=CONTEXT, store=FileAttachmentStore(tmp_path))
