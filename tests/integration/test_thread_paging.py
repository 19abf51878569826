"""The thread API pages: the newest page first, older pages by cursor, new ones after an id;
every snapshot carries the event sequence it is consistent with; raw MIME is never read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.contacts.models import Prospect
from inbox.conversations.models import Channel, Conversation, DeliveryStatus, Direction, Message
from inbox.conversations.service import (
    count_conversations,
    do_set_flag,
    get_thread,
    list_conversations,
    list_messages,
)
from inbox.core.access import Actor
from inbox.errors import ValidationFailed
from inbox.events.log import current_seq
from server.app import create_app
from tests.conftest import create_account
from tests.integration.test_api import make_settings, sign_in


async def _long_thread(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> int:
    start = datetime.now(UTC) - timedelta(days=1)
    async with sessionmaker() as session:
        prospect = Prospect(first_name="Long")
        session.add(prospect)
        await session.flush()
        conversation = Conversation(prospect_id=prospect.id, last_activity_at=start)
        session.add(conversation)
        await session.flush()
        rows = [
            Message(
                conversation_id=conversation.id,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                body_text=f"Message {n}",
                raw=b"From: long@example.com\r\n\r\n" + b"x" * 1000,
                status=DeliveryStatus.RECEIVED,
                created_at=start + timedelta(minutes=n),
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        conversation.last_message_id = rows[-1].id
        conversation.last_activity_at = rows[-1].created_at
        conversation.last_human_direction = Direction.INBOUND
        await session.commit()
        return conversation.id


def _bodies(messages: list[Any]) -> list[str]:
    return [m.body_text for m in messages]


async def test_the_thread_opens_on_its_newest_page_and_pages_back_by_cursor(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    cid = await _long_thread(sessionmaker, 95)
    async with sessionmaker() as session:
        thread = await get_thread(session, cmu, cid)
        assert _bodies(thread.messages) == [f"Message {n}" for n in range(55, 95)]
        assert thread.earlier_cursor is not None
        older = await list_messages(session, cmu, cid, cursor=thread.earlier_cursor, limit=50)
        assert _bodies(older.items) == [f"Message {n}" for n in range(5, 55)]
        oldest = await list_messages(session, cmu, cid, cursor=older.earlier_cursor, limit=50)
        assert _bodies(oldest.items) == [f"Message {n}" for n in range(5)]
        assert oldest.earlier_cursor is None
        # What came after the newest one the client holds, oldest first.
        newest = thread.messages[-1].id
        assert (await list_messages(session, cmu, cid, after=newest)).items == []
        after = await list_messages(session, cmu, cid, after=thread.messages[-3].id)
        assert _bodies(after.items) == ["Message 93", "Message 94"]
        with pytest.raises(ValidationFailed):
            await list_messages(session, cmu, cid, cursor="not-a-cursor")


async def test_every_snapshot_carries_the_seq_it_is_consistent_with(
    sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    cid = await _long_thread(sessionmaker, 3)
    async with sessionmaker() as session:
        await do_set_flag(session, cmu, cid, True)  # an event for the actor
        await session.commit()
    async with sessionmaker() as session:
        seq = await current_seq(session, cmu.id)
        assert seq >= 1
        assert (await get_thread(session, cmu, cid)).seq == seq
        assert (await list_messages(session, cmu, cid, after=0)).seq == seq
        assert (await list_conversations(session, cmu)).seq == seq
        assert (await count_conversations(session, cmu)).seq == seq


async def test_list_and_thread_queries_never_read_raw_mime(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], cmu: Actor
) -> None:
    cid = await _long_thread(sessionmaker, 45)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with sessionmaker() as session:
            thread = await get_thread(session, cmu, cid)
            await list_messages(session, cmu, cid, cursor=thread.earlier_cursor)
            await list_messages(session, cmu, cid, after=thread.messages[0].id)
            await list_conversations(session, cmu)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)
    reads = [s for s in statements if "FROM message" in s]
    assert reads and not [s for s in reads if "message.raw" in s or "_1.raw" in s], reads
    # The column is still there for whoever asks for it by name.
    async with sessionmaker() as session:
        raw = await session.scalar(sa.select(Message.raw).where(Message.conversation_id == cid))
        assert raw is not None and raw.startswith(b"From:")


async def test_the_http_api_pages_the_thread(
    db_url: str, tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cid = await _long_thread(sessionmaker, 45)
    await create_account(sessionmaker, "dana@oem.test")
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, "dana@oem.test")
        thread = (await client.get(f"/api/conversations/{cid}")).json()
        assert len(thread["messages"]) == 40 and isinstance(thread["seq"], int)
        older = (
            await client.get(
                f"/api/conversations/{cid}/messages", params={"cursor": thread["earlier_cursor"]}
            )
        ).json()
        assert [m["body_text"] for m in older["items"]] == [f"Message {n}" for n in range(5)]
        assert older["earlier_cursor"] is None
        newer = await client.get(
            f"/api/conversations/{cid}/messages", params={"after": thread["messages"][-2]["id"]}
        )
        assert [m["body_text"] for m in newer.json()["items"]] == ["Message 44"]
        bad = await client.get(f"/api/conversations/{cid}/messages", params={"cursor": "x"})
        assert bad.status_code == 400 and "cursor" in bad.text
        counts = (await client.get("/api/conversations/counts")).json()
        listed = (await client.get("/api/conversations")).json()
        assert counts["seq"] == listed["seq"] == thread["seq"]
        missing = await client.get("/api/conversations/999999/messages")
        assert missing.status_code == 404
