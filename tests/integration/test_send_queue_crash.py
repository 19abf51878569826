"""Kill the worker process mid-send, again and again: every message still goes out exactly once."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.access import Actor
from inbox.models import DeliveryStatus, Message, OutboxJob, OutboxState
from tests.integration.test_send_queue import queue_messages
from tests.support.processes import Process, wait_for, workers

Maker = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.slow


def worker_settings(db_url: str, data_dir: Path) -> dict[str, str]:
    return {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_SANDBOX_DELAY_MS": "300",
        "INBOX_SEND_LEASE_SECONDS": "1",
    }


async def states(maker: Maker) -> Counter[OutboxState]:
    async with maker() as s:
        return Counter(await s.scalars(sa.select(OutboxJob.state)))


async def test_killing_the_sender_mid_send_neither_loses_nor_duplicates(
    sessionmaker: Maker, cmu: Actor, db_url: str, tmp_path: Path
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 24)
    async with workers(worker_settings(db_url, tmp_path)) as start:
        await _kill_and_restart(sessionmaker, start, len(ids))
    log = [
        json.loads(line) for line in (tmp_path / "sandbox-outbox.jsonl").read_text().splitlines()
    ]
    delivered = Counter(entry["message_id"] for entry in log)
    assert sorted(delivered) == ids, "every message went out"
    assert set(delivered.values()) == {1}, f"some went out twice: {delivered}"
    async with sessionmaker() as s:
        statuses = set(await s.scalars(sa.select(Message.status)))
    assert statuses == {DeliveryStatus.SENT}


async def _kill_and_restart(
    sessionmaker: Maker, start: Callable[[], Awaitable[Process]], total: int
) -> None:
    rng = random.Random(7)
    kills_mid_send = 0
    for _ in range(5):
        worker = await start()

        async def busy() -> bool:
            return (await states(sessionmaker))[OutboxState.SENDING] > 0

        await wait_for(busy, 30, interval=0.05)
        await asyncio.sleep(rng.uniform(0.1, 0.6))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        kills_mid_send += (await states(sessionmaker))[OutboxState.SENDING] > 0

    assert kills_mid_send >= 3, "the kills must land while messages are being sent"

    worker = await start()

    async def all_done() -> bool:
        return (await states(sessionmaker))[OutboxState.DONE] == total

    try:
        await wait_for(all_done, 90, interval=0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 15)
    assert worker.returncode == 0, stderr.decode()
