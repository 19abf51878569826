"""Kill the worker process mid-send, again and again: every message still goes out exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.access import Actor
from inbox.models import DeliveryStatus, Message, OutboxJob, OutboxState
from tests.integration.test_send_queue import queue_messages

Maker = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


async def start_worker(db_url: str, data_dir: Path) -> asyncio.subprocess.Process:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_SANDBOX_DELAY_MS": "300",
        "INBOX_SEND_LEASE_SECONDS": "1",
        "INBOX_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def states(maker: Maker) -> Counter[OutboxState]:
    async with maker() as s:
        return Counter(await s.scalars(sa.select(OutboxJob.state)))


async def wait_for(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_killing_the_sender_mid_send_neither_loses_nor_duplicates(
    sessionmaker: Maker, cmu: Actor, db_url: str, tmp_path: Path
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 24)
    rng = random.Random(7)
    kills_mid_send = 0
    for _ in range(5):
        worker = await start_worker(db_url, tmp_path)

        async def busy() -> bool:
            return (await states(sessionmaker))[OutboxState.SENDING] > 0

        await wait_for(busy, 30)
        await asyncio.sleep(rng.uniform(0.1, 0.6))
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        kills_mid_send += (await states(sessionmaker))[OutboxState.SENDING] > 0

    assert kills_mid_send >= 3, "the kills must land while messages are being sent"

    worker = await start_worker(db_url, tmp_path)

    async def all_done() -> bool:
        return (await states(sessionmaker))[OutboxState.DONE] == len(ids)

    try:
        await wait_for(all_done, 90)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 15)
    assert worker.returncode == 0, stderr.decode()

    log = [
        json.loads(line) for line in (tmp_path / "sandbox-outbox.jsonl").read_text().splitlines()
    ]
    delivered = Counter(entry["message_id"] for entry in log)
    assert sorted(delivered) == ids, "every message went out"
    assert set(delivered.values()) == {1}, f"some went out twice: {delivered}"
    async with sessionmaker() as s:
        statuses = set(await s.scalars(sa.select(Message.status)))
    assert statuses == {DeliveryStatus.SENT}
