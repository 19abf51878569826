"""`inbox demo` seeds a lived-in inbox once, through the domain rules, and says how to sign in."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from inbox.accounts.models import Account, Role
from inbox.accounts.passwords import verify_password
from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation, DeliveryStatus, Direction, Message
from inbox.conversations.service import list_conversations
from inbox.core.access import actor_of
from inbox.core.db import make_engine, make_sessionmaker
from inbox.core.model import utcnow
from inbox.leads.models import FollowUpStatus, Lead
from inbox.outbox.models import OutboxJob, OutboxState
from server.demo import DEMO_ACCOUNTS, seed_demo
from server.settings import load_settings


async def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table.__tablename__: int(
                    await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
                )
                for table in (Account, Prospect, Lead, Conversation, Message, OutboxJob)
            }
    finally:
        await engine.dispose()


async def test_demo_seed_fills_an_empty_database_once(tmp_path: Path) -> None:
    settings = load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_MODE": "demo"})
    out = io.StringIO()
    await seed_demo(settings, out)

    printed = out.getvalue()
    for account in DEMO_ACCOUNTS:
        assert account.email in printed and account.password in printed

    engine = make_engine(settings.database.url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            accounts = list(await session.scalars(sa.select(Account).order_by(Account.id)))
            roles = [a.role for a in accounts]
            assert roles.count(Role.CONTACT_MANAGER) == 2
            assert roles.count(Role.ADMIN) == 1
            for account in accounts:
                demo = next(d for d in DEMO_ACCOUNTS if d.email == account.email)
                assert verify_password(account.password_hash, demo.password)

            prospects = int(await session.scalar(sa.select(sa.func.count(Prospect.id))) or 0)
            assert 45 <= prospects <= 60

            dana = actor_of(next(a for a in accounts if a.email == "dana@demo.inbox.test"))
            needs_reply = await list_conversations(session, dana, "needs_reply", limit=100)
            replied = await list_conversations(session, dana, "replied", limit=100)
            mine = await list_conversations(session, dana, "mine", limit=100)
            flagged = await list_conversations(session, dana, "flagged", limit=100)
            assert needs_reply.items and replied.items and mine.items
            assert all(c.last_direction is Direction.INBOUND for c in needs_reply.items)
            assert all(c.replied and not c.needs_reply for c in replied.items)
            assert all(c.assignee_id == dana.id for c in mine.items)
            assert flagged.items
            # Fresh replies are unread; older history has been read.
            unread = await list_conversations(session, dana, "unread", limit=100)
            everything = await list_conversations(session, dana, "all", limit=100)
            assert 0 < len(unread.items) < len(everything.items)

            statuses = list(await session.scalars(sa.select(Lead.follow_up_status)))
            assert statuses.count(FollowUpStatus.NOT_CONTACTED) >= 5
            assert statuses.count(FollowUpStatus.CONTACTED) >= 20

            channels = set(
                (await session.execute(sa.select(Message.channel, Message.direction))).all()
            )
            assert len(channels) == 4  # email and SMS, both directions

            # Three weeks of history, none of it in the future, nothing left for the sender.
            times = [t for (t,) in (await session.execute(sa.select(Message.created_at))).all()]
            now = utcnow()
            assert min(times) < now - timedelta(days=7)
            assert max(times) < now
            assert min(times) > now - timedelta(days=22)
            jobs = list(await session.scalars(sa.select(OutboxJob.state)))
            assert OutboxState.QUEUED not in jobs and OutboxState.SENDING not in jobs
            outbound = list(
                await session.scalars(
                    sa.select(Message.status).where(Message.direction == Direction.OUTBOUND)
                )
            )
            assert DeliveryStatus.QUEUED not in outbound

            # Each conversation's activity time is its newest message's time.
            newest = (
                sa.select(sa.func.max(Message.created_at))
                .where(Message.conversation_id == Conversation.id)
                .scalar_subquery()
            )
            rows = (
                await session.execute(
                    sa.select(Conversation.last_activity_at, newest).where(
                        Conversation.last_message_id.is_not(None)
                    )
                )
            ).all()
            assert rows and all(activity == latest for activity, latest in rows)
    finally:
        await engine.dispose()

    before = await _counts(settings.database.url)
    again = io.StringIO()
    await seed_demo(settings, again)
    assert await _counts(settings.database.url) == before
    assert "dana@demo.inbox.test" in again.getvalue()
