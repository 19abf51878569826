"""A backlog read from Dovecot in many chunks: each chunk is fetched and parsed (in a parsing
process of its own) while the one before is stored, and everything lands once, in order; a
small catch-up parses in a thread and starts no process."""

from __future__ import annotations

from concurrent.futures import Executor
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.imap import PARSE_POOL_CHUNKS, ImapConfig, ImapWatcher
from channels.storage import FileAttachmentStore
from inbox.events import MemoryPublisher
from inbox.models import Message
from inbox.threading import ThreadingContext
from tests.support.dovecot import PASSWORD, Dovecot

Maker = async_sessionmaker[AsyncSession]
CONTEXT = ThreadingContext("backlog-test-secret-key-0123456789abcdef", "replies@oem.test")
BATCH = 3


def mail(n: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"Sender {n % 4} <sender{n % 4}@example.com>"
    m["To"] = "replies@oem.test"
    m["Subject"] = f"Backlog {n}"
    m["Message-ID"] = f"<backlog-{n}@example.com>"
    m.set_content(f"Message {n} of the backlog.")
    m.add_alternative(f"<p>Message {n} of the backlog.</p>", subtype="html")
    return bytes(m)


def watcher(maker: Maker, dovecot: Dovecot, user: str, tmp_path: Path) -> ImapWatcher:
    return ImapWatcher(
        ImapConfig("127.0.0.1", dovecot.port, user, PASSWORD, "none"),
        maker,
        MemoryPublisher(),
        context=CONTEXT,
        store=FileAttachmentStore(tmp_path / "files"),
        lease=timedelta(seconds=30),
        batch_size=BATCH,
    )


async def test_a_backlog_is_read_ahead_and_parsed_in_a_process(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = dovecot.add_user()
    total = BATCH * PARSE_POOL_CHUNKS + 2  # a last, short chunk too
    dovecot.append(user, [mail(n) for n in range(total)])
    w = watcher(sessionmaker, dovecot, user, tmp_path)
    pools: list[Executor | None] = []
    make_pool = w._parse_pool

    def spy(chunks: int) -> Executor | None:
        pools.append(make_pool(chunks))
        return pools[-1]

    monkeypatch.setattr(w, "_parse_pool", spy)
    assert await w.sync_once() == total
    assert len(pools) == 1 and pools[0] is not None, "a backlog this long gets a process"
    async with sessionmaker() as s:
        rows = (
            await s.execute(sa.select(Message.subject, Message.body_text).order_by(Message.id))
        ).all()
    assert [subject for subject, _ in rows] == [f"Backlog {n}" for n in range(total)]
    assert rows[-1][1] == f"Message {total - 1} of the backlog."
    assert w.stats.messages == total

    # A few more: one chunk, parsed in a thread.
    dovecot.append(user, [mail(n) for n in range(total, total + 2)])
    assert await w.sync_once() == 2
    assert len(pools) == 2 and pools[1] is None
    async with sessionmaker() as s:
        count = await s.scalar(sa.select(sa.func.count()).select_from(Message))
    assert count == total + 2
