"""The seeds' rules: Contacted / Not Contacted, needs reply / replied, flags, unread, mine."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import PhoneInput, ProspectCreate
from inbox.conversations.messages import SendContext, do_record_inbound
from inbox.conversations.models import Channel
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.conversations.service import do_mark_read, do_set_flag, list_conversations
from inbox.core.access import Actor
from inbox.email.schemas import InboundMessage
from inbox.leads.models import FollowUpStatus, Lead
from inbox.leads.schemas import LeadCreate
from inbox.leads.service import do_add_lead, list_leads
from inbox.sms.consent import do_record_consent
from inbox.sms.models import SmsConsent
from tests.conftest import create_account

Maker = async_sessionmaker[AsyncSession]


async def new_prospect(
    maker: Maker, actor: Actor, email: str, mobile: str | None = None
) -> tuple[int, int]:
    phones = [PhoneInput(kind="mobile", number=mobile)] if mobile else []  # type: ignore[arg-type]
    async with maker() as s:
        p = await do_create_prospect(
            s,
            actor,
            ProspectCreate(
                first_name=email.split("@")[0].title(),
                last_name="Prospect",
                emails=[email],
                phones=phones,
            ),
            region="US",
        )
        if mobile:  # only an opted-in prospect may be texted
            await do_record_consent(s, [p.id], SmsConsent.OPTED_IN, source="test")
        await s.commit()
    return p.id, p.conversation_id


async def send(
    maker: Maker, actor: Actor, conversation_id: int, channel: Channel = Channel.EMAIL
) -> None:
    async with maker() as s:
        await do_send_message(
            s,
            actor,
            conversation_id,
            MessageCreate(channel=channel, body_text="Hi there", subject="Your quote"),
            context=SendContext(email_domain="inbox.test"),
        )
        await s.commit()


async def reply(
    maker: Maker,
    conversation_id: int,
    address: str,
    *,
    automatic: bool = False,
    message_id: str | None = None,
) -> None:
    async with maker() as s:
        await do_record_inbound(
            s,
            conversation_id,
            InboundMessage(
                channel=Channel.EMAIL,
                from_address=address,
                subject="Re: Your quote",
                body_text="Thanks!",
                message_id_header=message_id,
                is_automatic=automatic,
            ),
            thread_rule="test",
        )
        await s.commit()


async def add_lead(
    maker: Maker, actor: Actor, prospect_id: int, lead_type: str = "Quote request"
) -> int:
    async with maker() as s:
        lead = await do_add_lead(
            s, actor, prospect_id, LeadCreate(lead_type=lead_type, source="Website")
        )
        await s.commit()
    return lead.id


async def statuses(maker: Maker, actor: Actor, prospect_id: int) -> dict[int, FollowUpStatus]:
    async with maker() as s:
        return {lead.id: lead.follow_up_status for lead in await list_leads(s, actor, prospect_id)}


async def test_outbound_email_marks_existing_leads_contacted_and_later_leads_start_not_contacted(
    sessionmaker: Maker, cmu: Actor
) -> None:
    prospect_id, conversation_id = await new_prospect(
        sessionmaker, cmu, "pat@example.com", "+12125550123"
    )
    first = await add_lead(sessionmaker, cmu, prospect_id)
    second = await add_lead(sessionmaker, cmu, prospect_id, "Test drive")
    assert set((await statuses(sessionmaker, cmu, prospect_id)).values()) == {
        FollowUpStatus.NOT_CONTACTED
    }

    await send(sessionmaker, cmu, conversation_id)
    assert await statuses(sessionmaker, cmu, prospect_id) == {
        first: FollowUpStatus.CONTACTED,
        second: FollowUpStatus.CONTACTED,
    }

    later = await add_lead(sessionmaker, cmu, prospect_id, "Trade-in")
    assert (await statuses(sessionmaker, cmu, prospect_id))[later] is FollowUpStatus.NOT_CONTACTED

    await send(sessionmaker, cmu, conversation_id, Channel.SMS)
    assert (await statuses(sessionmaker, cmu, prospect_id))[later] is FollowUpStatus.CONTACTED


async def test_contacting_leaves_other_prospects_and_advanced_leads_alone(
    sessionmaker: Maker, cmu: Actor
) -> None:
    prospect_id, conversation_id = await new_prospect(sessionmaker, cmu, "pat@example.com")
    other_id, _ = await new_prospect(sessionmaker, cmu, "lee@example.com")
    advanced = await add_lead(sessionmaker, cmu, prospect_id)
    untouched = await add_lead(sessionmaker, cmu, other_id)
    async with sessionmaker() as s:
        await s.execute(
            sa.update(Lead)
            .where(Lead.id == advanced)
            .values(follow_up_status=FollowUpStatus.APPOINTMENT_SET)
        )
        await s.commit()

    await send(sessionmaker, cmu, conversation_id)
    assert (await statuses(sessionmaker, cmu, prospect_id))[
        advanced
    ] is FollowUpStatus.APPOINTMENT_SET
    assert (await statuses(sessionmaker, cmu, other_id))[untouched] is FollowUpStatus.NOT_CONTACTED


async def ids(maker: Maker, actor: Actor, filter_: str) -> set[int]:
    async with maker() as s:
        page = await list_conversations(s, actor, filter_, limit=100)  # type: ignore[arg-type]
    return {c.id for c in page.items}


async def test_needs_reply_and_replied_follow_the_last_human_message(
    sessionmaker: Maker, cmu: Actor
) -> None:
    _, answered = await new_prospect(sessionmaker, cmu, "a@example.com")
    _, waiting = await new_prospect(sessionmaker, cmu, "b@example.com")
    _, auto_only = await new_prospect(sessionmaker, cmu, "c@example.com")

    await send(sessionmaker, cmu, answered)
    await reply(sessionmaker, answered, "a@example.com")
    await send(sessionmaker, cmu, answered)

    await send(sessionmaker, cmu, waiting)
    await reply(sessionmaker, waiting, "b@example.com")

    await send(sessionmaker, cmu, auto_only)
    await reply(sessionmaker, auto_only, "c@example.com", automatic=True)  # an out-of-office

    assert await ids(sessionmaker, cmu, "needs_reply") == {waiting}
    assert await ids(sessionmaker, cmu, "replied") == {answered, auto_only}
    assert await ids(sessionmaker, cmu, "all") == {answered, waiting, auto_only}

    await send(sessionmaker, cmu, waiting)
    assert await ids(sessionmaker, cmu, "needs_reply") == set()


async def test_flags_and_unread_are_per_user_and_mine_is_the_assignee(
    sessionmaker: Maker, cmu: Actor
) -> None:
    colleague = await create_account(sessionmaker, "sam@oem.test")
    _, mine = await new_prospect(sessionmaker, cmu, "a@example.com")
    _, theirs = await new_prospect(sessionmaker, cmu, "b@example.com")
    await send(sessionmaker, cmu, mine)  # the first sender takes an unassigned conversation
    await send(sessionmaker, colleague, theirs)

    assert await ids(sessionmaker, cmu, "mine") == {mine}
    assert await ids(sessionmaker, colleague, "mine") == {theirs}

    async with sessionmaker() as s:
        await do_set_flag(s, cmu, theirs, True)
        await s.commit()
    assert await ids(sessionmaker, cmu, "flagged") == {theirs}
    assert await ids(sessionmaker, colleague, "flagged") == set()

    # Each sees the other's send as unread; their own as read.
    assert await ids(sessionmaker, cmu, "unread") == {theirs}
    await reply(sessionmaker, mine, "a@example.com")
    assert await ids(sessionmaker, cmu, "unread") == {mine, theirs}
    async with sessionmaker() as s:
        summary = await do_mark_read(s, cmu, mine)
        await s.commit()
    assert summary.unread is False
    assert await ids(sessionmaker, cmu, "unread") == {theirs}
    assert await ids(sessionmaker, colleague, "unread") == {mine}

    async with sessionmaker() as s:
        await do_set_flag(s, cmu, theirs, False)
        await s.commit()
    assert await ids(sessionmaker, cmu, "flagged") == set()


async def test_a_duplicate_inbound_message_is_recorded_once(
    sessionmaker: Maker, cmu: Actor
) -> None:
    _, conversation_id = await new_prospect(sessionmaker, cmu, "a@example.com")
    await reply(sessionmaker, conversation_id, "a@example.com", message_id="<m1@mail.example.com>")
    await reply(sessionmaker, conversation_id, "a@example.com", message_id="<m1@mail.example.com>")
    async with sessionmaker() as s:
        from inbox.conversations.service import get_thread

        thread = await get_thread(s, cmu, conversation_id)
    assert len(thread.messages) == 1


async def test_a_send_composed_before_a_newer_message_is_refused_with_what_is_new(
    sessionmaker: Maker, cmu: Actor
) -> None:
    from inbox.conversations.models import Message
    from inbox.errors import Conflict

    colleague = await create_account(sessionmaker, "sam@oem.test")
    _, cid = await new_prospect(sessionmaker, cmu, "a@example.com")
    await send(sessionmaker, cmu, cid)
    async with sessionmaker() as s:
        first = await s.scalar(sa.select(sa.func.max(Message.id)))
    await reply(sessionmaker, cid, "a@example.com")

    async def send_seen(actor: Actor, seen: int | None) -> None:
        async with sessionmaker() as s:
            await do_send_message(
                s,
                actor,
                cid,
                MessageCreate(channel=Channel.EMAIL, body_text="Answer", seen_message_id=seen),
                context=SendContext(email_domain="inbox.test"),
            )
            await s.commit()

    with pytest.raises(Conflict) as caught:
        await send_seen(colleague, first)
    new = caught.value.extra["new_messages"]
    assert [(m["direction"], m["body_text"]) for m in new] == [("inbound", "Thanks!")]  # type: ignore[index,union-attr]
    async with sessionmaker() as s:
        count = await s.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == 2, "the refused send wrote nothing"

    async with sessionmaker() as s:
        newest = await s.scalar(sa.select(sa.func.max(Message.id)))
    await send_seen(colleague, newest)  # having seen the reply, it goes
    await send_seen(colleague, newest)  # their own newer send is no collision
