"""Keyset pagination of the conversation list neither skips nor repeats under concurrent inserts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import ProspectCreate
from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel, Conversation
from inbox.conversations.service import list_conversations
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.email.schemas import InboundMessage
from inbox.errors import ValidationFailed

Maker = async_sessionmaker[AsyncSession]


async def make_conversation(maker: Maker, actor: Actor, n: int) -> int:
    async with maker() as s:
        p = await do_create_prospect(
            s, actor, ProspectCreate(first_name=f"P{n}", emails=[f"p{n}@example.com"]), region="US"
        )
        await do_record_inbound(
            s,
            p.conversation_id,
            InboundMessage(
                channel=Channel.EMAIL, from_address=f"p{n}@example.com", body_text=f"hello {n}"
            ),
            thread_rule="test",
        )
        await s.commit()
    return p.conversation_id


async def test_pages_cover_every_existing_conversation_once_while_new_ones_arrive(
    sessionmaker: Maker, cmu: Actor
) -> None:
    existing = [await make_conversation(sessionmaker, cmu, n) for n in range(23)]
    # Several conversations share one activity time, so the id must break ties.
    async with sessionmaker() as s:
        same = utcnow() - timedelta(hours=1)
        await s.execute(
            sa.update(Conversation)
            .where(Conversation.id.in_(existing[5:12]))
            .values(last_activity_at=same)
        )
        await s.commit()

    seen: list[int] = []
    inserted: list[int] = []
    page_taken = asyncio.Event()
    paging_done = asyncio.Event()

    async def insert_while_paging() -> None:
        n = 100
        while not paging_done.is_set():
            await page_taken.wait()
            page_taken.clear()
            inserted.append(await make_conversation(sessionmaker, cmu, n))
            n += 1

    async def page_through() -> None:
        cursor = None
        while True:
            async with sessionmaker() as s:
                page = await list_conversations(s, cmu, "all", cursor=cursor, limit=4)
            seen.extend(c.id for c in page.items)
            page_taken.set()
            await asyncio.sleep(0)  # let the inserter commit before the next page
            while page_taken.is_set() and not paging_done.is_set():
                await asyncio.sleep(0.005)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        paging_done.set()
        page_taken.set()

    await asyncio.gather(insert_while_paging(), page_through())

    assert len(inserted) >= 5, "conversations must really have been added while paging"
    assert len(seen) == len(set(seen)), "a conversation was repeated"
    assert set(existing) <= set(seen), "a conversation was skipped"
    # Conversations newer than the first page belong to a refresh, not to later pages.
    assert not set(seen) & set(inserted)


async def test_order_is_newest_activity_first_and_ties_break_by_id(
    sessionmaker: Maker, cmu: Actor
) -> None:
    ids = [await make_conversation(sessionmaker, cmu, n) for n in range(5)]
    async with sessionmaker() as s:
        page = await list_conversations(s, cmu, "all", limit=100)
    assert [c.id for c in page.items] == sorted(ids, reverse=True)
    assert page.next_cursor is None


async def test_a_forged_cursor_is_a_clear_error(sessionmaker: Maker, cmu: Actor) -> None:
    async with sessionmaker() as s:
        with pytest.raises(ValidationFailed) as caught:
            await list_conversations(s, cmu, "all", cursor="not-a-cursor")
    assert caught.value.fields == {"cursor": "not a cursor this server gave out"}
