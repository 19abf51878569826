"""A backlog read from Dovecot in many chunks: each chunk is fetched and parsed in a parsing
process of its own while the one before is stored, and everything lands once, in order; a
short catch-up parses in a thread and starts no process; a parsing process that dies mid-way
costs nothing."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.imap import PARSER_PROCESS_CHUNKS, ImapConfig, ImapWatcher
from channels.email.parser_process import ParserProcess
from channels.storage import FileAttachmentStore
from inbox.conversations.models import Message
from inbox.email.placement import ThreadingContext
from inbox.email.schemas import InboundMessage
from inbox.events.log import MemoryPublisher
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
    m.add_alternative(f"<p>Message {n} of the <b>backlog</b>.</p>", subtype="html")
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


async def stored(maker: Maker) -> list[tuple[str, str, str]]:
    async with maker() as s:
        rows = await s.execute(
            sa.select(Message.subject, Message.body_text, Message.body_html).order_by(Message.id)
        )
    return [(subject, text, html) for subject, text, html in rows]


async def test_a_backlog_is_parsed_in_a_process_beside_the_store(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path
) -> None:
    user = dovecot.add_user()
    total = BATCH * PARSER_PROCESS_CHUNKS + 2  # a last, short chunk too
    dovecot.append(user, [mail(n) for n in range(total)])
    w = watcher(sessionmaker, dovecot, user, tmp_path)
    assert await w.sync_once() == total
    assert w.parser_processes == 1, "a backlog this long is parsed in a process"
    rows = await stored(sessionmaker)
    assert [subject for subject, _, _ in rows] == [f"Backlog {n}" for n in range(total)]
    assert rows[-1][1] == f"Message {total - 1} of the backlog."
    assert "<b>backlog</b>" in rows[-1][2]
    assert w.stats.messages == total

    # A few more: one chunk, parsed in a thread.
    dovecot.append(user, [mail(n) for n in range(total, total + 2)])
    assert await w.sync_once() == 2
    assert w.parser_processes == 1
    assert len(await stored(sessionmaker)) == total + 2


async def test_a_parsing_process_that_dies_mid_backlog_loses_nothing(
    sessionmaker: Maker, dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = dovecot.add_user()
    total = BATCH * (PARSER_PROCESS_CHUNKS + 2)
    dovecot.append(user, [mail(n) for n in range(total)])
    asked = 0
    real = ParserProcess.parse

    async def dies_on_the_second_chunk(
        self: ParserProcess, raws: list[bytes]
    ) -> list[InboundMessage]:
        nonlocal asked
        asked += 1
        if asked == 2:
            os.kill(self.pid, signal.SIGKILL)
        return await real(self, raws)

    monkeypatch.setattr(ParserProcess, "parse", dies_on_the_second_chunk)
    w = watcher(sessionmaker, dovecot, user, tmp_path)
    assert await w.sync_once() == total
    assert w.parser_processes == 1 and asked == PARSER_PROCESS_CHUNKS + 2
    rows = await stored(sessionmaker)
    assert [subject for subject, _, _ in rows] == [f"Backlog {n}" for n in range(total)]
    assert [text for _, text, _ in rows] == [f"Message {n} of the backlog." for n in range(total)]
