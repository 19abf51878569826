"""Kill the `inbox worker` process while it ingests mail from Dovecot, again and again: every
message is stored exactly once in the end, and after each kill the stored mail is exactly what
the saved cursor says (a batch is all in, cursor included, or not at all)."""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inbox.conversations.models import Message
from inbox.core.db import make_sessionmaker
from inbox.email.models import Mailbox
from tests.support.dovecot import PASSWORD, Dovecot
from tests.support.processes import Process, wait_for, workers

Maker = async_sessionmaker[AsyncSession]
# Enough mail that four kills land mid-ingest: a worker stores about 3,000 a second here.
TOTAL = 3000
pytestmark = pytest.mark.slow


def messages() -> list[bytes]:
    out = []
    for n in range(TOTAL):
        m = EmailMessage()
        m["From"] = f"Sender {n % 40} <sender{n % 40}@example.com>"
        m["To"] = "replies@oem.test"
        m["Subject"] = f"Question {n}"
        if n % 50 != 7:  # a few without a Message-ID, as some mailers send them
            m["Message-ID"] = f"<crash-{n}@example.com>"
        m.set_content(f"Question number {n}: is the Model X still available?")
        out.append(bytes(m))
    return out


def worker_settings(db_url: str, data_dir: Path, dovecot: Dovecot, user: str) -> dict[str, str]:
    return {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_IMAP_HOST": "127.0.0.1",
        "INBOX_IMAP_PORT": str(dovecot.port),
        "INBOX_IMAP_USERNAME": user,
        "INBOX_IMAP_PASSWORD": PASSWORD,
        "INBOX_IMAP_TLS": "none",
        # A killed worker keeps its lease until it runs out; keep the wait short.
        "INBOX_IMAP_LEASE_SECONDS": "2",
    }


async def progress(maker: Maker) -> tuple[int, int]:
    """(messages stored, the cursor's last UID)."""
    async with maker() as s:
        count = await s.scalar(sa.select(sa.func.count()).select_from(Message))
        last_uid = await s.scalar(sa.select(Mailbox.last_uid))
    return int(count or 0), int(last_uid or 0)


async def test_killing_the_watcher_mid_batch_loses_and_duplicates_nothing(
    engine: AsyncEngine, db_url: str, tmp_path: Path, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    # Read-only sessions: polling the progress never waits for the worker's write lock.
    reader = make_sessionmaker(engine, read_only=True)
    async with workers(worker_settings(db_url, tmp_path, dovecot, user)) as start:
        await _kill_and_restart(reader, dovecot, user, start)


async def _kill_and_restart(
    sessionmaker: Maker,
    dovecot: Dovecot,
    user: str,
    start: Callable[[], Awaitable[Process]],
) -> None:
    await asyncio.to_thread(dovecot.append, user, messages())
    rng = random.Random(11)
    kills_mid_ingest = 0
    for kill in range(4):
        worker = await start()
        before = (await progress(sessionmaker))[0]

        async def moving(before: int = before) -> bool:
            return (await progress(sessionmaker))[0] > before

        try:
            await wait_for(moving, 30)
        except TimeoutError:
            worker.kill()
            _, stderr = await worker.communicate()
            raise AssertionError(
                f"after kill {kill}, the worker stored nothing in 30 s "
                f"(stored, cursor: {await progress(sessionmaker)}):\n{stderr.decode()}"
            ) from None
        await asyncio.sleep(rng.uniform(0.0, 0.05))
        worker.send_signal(signal.SIGKILL)
        try:
            # `wait()` returns once the worker's pipes close, so also once its parsing
            # process (which shares its stderr) has ended with it.
            await asyncio.wait_for(worker.wait(), 10)
        except TimeoutError:
            raise AssertionError("a child of the killed worker outlived it") from None
        count, last_uid = await progress(sessionmaker)
        assert count == last_uid, "after a kill, exactly the mail up to the cursor is stored"
        kills_mid_ingest += 0 < count < TOTAL

    assert kills_mid_ingest >= 3, "the kills must land while mail is being ingested"

    worker = await start()
    # Mail that arrives for this worker to ingest shows it is running (and so has its signal
    # handlers) before it is asked to stop: if the last kill came after everything was in, the
    # SIGTERM would otherwise reach a process still importing.
    late = [m.replace(b"Question ", b"Late question ") for m in messages()[:5]]
    late = [m.replace(b"<crash-", b"<late-") for m in late]
    await asyncio.to_thread(dovecot.append, user, late)

    async def all_in() -> bool:
        return (await progress(sessionmaker))[1] == TOTAL + len(late)

    try:
        await wait_for(all_in, 90)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 20)
    assert worker.returncode == 0, stderr.decode()
    async with sessionmaker() as s:
        subjects = list(await s.scalars(sa.select(Message.subject)))
    expected = [f"Question {n}" for n in range(TOTAL)] + [f"Late question {n}" for n in range(5)]
    assert sorted(subjects) == sorted(expected)
