"""The IMAP watcher against a real Dovecot: progress without \\Seen, restarts, UIDVALIDITY
changes, IDLE and polling, and one watcher per mailbox with take-over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.imap import ImapConfig, ImapWatcher
from channels.storage import FileAttachmentStore
from inbox.conversations.models import Message
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.email.mailboxes import (
    Cursor,
    LeaseLost,
    do_acquire_lease,
    do_record_progress,
    get_cursor,
)
from inbox.email.models import Mailbox
from inbox.email.placement import ThreadingContext
from inbox.events.log import MemoryPublisher
from tests.conftest import service_missing
from tests.support.dovecot import PASSWORD, Dovecot, running_dovecot

Maker = async_sessionmaker[AsyncSession]
CONTEXT = ThreadingContext("watcher-test-secret-key-0123456789abcdef", "replies@oem.test")


def mail(n: int, sender: str = "pat@example.com", message_id: bool = True) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Pat Example <{sender}>"
    m["To"] = "replies@oem.test"
    m["Subject"] = f"Question {n}"
    if message_id:
        m["Message-ID"] = f"<q{n}@example.com>"
    m.set_content(f"Question number {n}?")
    return m


def watcher(
    maker: Maker,
    dovecot: Dovecot,
    user: str,
    tmp_path: Path,
    *,
    mailbox: str = "INBOX",
    publisher: MemoryPublisher | None = None,
    lease: float = 30,
    holder: str | None = None,
) -> ImapWatcher:
    config = ImapConfig("127.0.0.1", dovecot.port, user, PASSWORD, "none", mailbox)
    return ImapWatcher(
        config,
        maker,
        publisher or MemoryPublisher(),
        context=CONTEXT,
        store=FileAttachmentStore(tmp_path / "files"),
        holder=holder,
        lease=timedelta(seconds=lease),
        poll_interval=0.2,
        batch_size=4,
    )


async def stored(maker: Maker) -> list[str]:
    async with maker() as s:
        return sorted(await s.scalars(sa.select(Message.message_id_header)))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


@contextlib.asynccontextmanager
async def running(w: ImapWatcher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(w.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_mail_is_read_once_without_touching_seen_and_a_restart_resumes(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path, cmu: Actor
) -> None:
    user = dovecot.add_user()
    for n in range(6):
        dovecot.deliver(user, mail(n, message_id=n != 5))
    publisher = MemoryPublisher()
    first = watcher(sessionmaker, dovecot, user, tmp_path, publisher=publisher)
    assert await first.sync_once() == 6
    assert len(await stored(sessionmaker)) == 6
    assert sum(e.type == "message.created" for e in publisher.published) == 6

    client = dovecot.imap(user)
    client.select("INBOX", readonly=True)
    _, flags = client.fetch("1:*", "(FLAGS)")
    client.logout()
    assert all(b"\\Seen" not in line for line in flags), "BODY.PEEK must leave \\Seen alone"

    dovecot.deliver(user, mail(6))
    dovecot.deliver(user, mail(5, message_id=False))  # the same mail again, redelivered
    restarted = watcher(sessionmaker, dovecot, user, tmp_path, holder=first.holder)
    assert await restarted.sync_once() == 2, "only what came after the stored UID is read"
    assert len(await stored(sessionmaker)) == 7
    async with sessionmaker() as s:
        cursor = await get_cursor(s, first.config.name)
    assert cursor is not None and cursor.last_uid == 8


async def test_a_uidvalidity_change_rereads_everything_and_keeps_no_duplicates(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    raws = [bytes(mail(n)) for n in range(5)]
    dovecot.append(user, raws, mailbox="Replies")
    w = watcher(sessionmaker, dovecot, user, tmp_path, mailbox="Replies")
    assert await w.sync_once() == 5
    async with sessionmaker() as s:
        before = await get_cursor(s, w.config.name)

    client = dovecot.imap(user)
    client.delete("Replies")  # a mailbox rebuilt under the same name: new UIDVALIDITY
    client.logout()
    dovecot.append(user, [*raws, bytes(mail(9))], mailbox="Replies")
    assert await w.sync_once() == 6
    async with sessionmaker() as s:
        after = await get_cursor(s, w.config.name)
    assert before is not None and after is not None
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 6
    assert await stored(sessionmaker) == sorted(f"<q{n}@example.com>" for n in [0, 1, 2, 3, 4, 9])


async def test_idle_brings_new_mail_in_and_events_follow_the_commit(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path, cmu: Actor
) -> None:
    user = dovecot.add_user()
    publisher = MemoryPublisher()
    w = watcher(sessionmaker, dovecot, user, tmp_path, publisher=publisher)
    async with running(w):
        await asyncio.wait_for(w.connected.wait(), 10)
        dovecot.deliver(user, mail(1))

        async def arrived() -> bool:
            return any(e.type == "message.created" for e in publisher.published)

        await eventually(arrived, 5)
        # Published means committed: a fresh session already sees the message.
        assert await stored(sessionmaker) == ["<q1@example.com>"]


async def test_without_idle_the_watcher_polls(
    sessionmaker: Maker, tmp_path: Path, dovecot: Dovecot
) -> None:
    no_idle = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS\n"
    try:
        context = running_dovecot(no_idle)
        server = context.__enter__()
    except FileNotFoundError:
        service_missing("Dovecot")
    try:
        user = server.add_user()
        w = watcher(sessionmaker, server, user, tmp_path)
        async with running(w):
            await asyncio.wait_for(w.connected.wait(), 10)
            server.deliver(user, mail(1))

            async def arrived() -> bool:
                return len(await stored(sessionmaker)) == 1

            await eventually(arrived, 5)
    finally:
        context.__exit__(None, None, None)


async def test_only_the_lease_holder_reads_and_another_takes_over_when_it_dies(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    w = watcher(sessionmaker, dovecot, user, tmp_path, lease=2, holder="survivor")
    # A process that took the lease and then died: its lease runs out, nobody renews it.
    async with sessionmaker() as s:
        assert await do_acquire_lease(
            s, w.config.name, "dead", utcnow(), timedelta(seconds=2)
        ) == Cursor(0, 0)
        await s.commit()
    dovecot.deliver(user, mail(1))
    async with running(w):
        await asyncio.sleep(0.5)  # the survivor is up and must keep its hands off meanwhile
        assert await stored(sessionmaker) == []

        async def taken_over() -> bool:
            return len(await stored(sessionmaker)) == 1

        await eventually(taken_over, 10)
        async with sessionmaker() as s:
            box = await s.get(Mailbox, w.config.name)
        assert box is not None and box.holder == "survivor"
    async with sessionmaker() as s:
        released = await s.get(Mailbox, w.config.name, populate_existing=True)
    assert released is not None and released.holder == "", "a clean stop hands the lease back"


async def test_a_holder_that_lost_its_lease_cannot_record_progress(sessionmaker: Maker) -> None:
    now, ttl = utcnow(), timedelta(seconds=1)
    async with sessionmaker() as s:
        assert await do_acquire_lease(s, "box", "a", now, ttl) == Cursor(0, 0)
        assert await do_acquire_lease(s, "box", "b", now, ttl) is None
        await s.commit()
    async with sessionmaker() as s:
        assert await do_acquire_lease(s, "box", "b", now + 2 * ttl, ttl) == Cursor(0, 0)
        await s.commit()
    async with sessionmaker() as s:
        with pytest.raises(LeaseLost):
            await do_record_progress(s, "box", "a", Cursor(7, 10), now + 2 * ttl, ttl)
        await s.rollback()
        cursor = await get_cursor(s, "box")
    assert cursor == Cursor(0, 0)
