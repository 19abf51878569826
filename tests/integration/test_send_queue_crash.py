"""Kill the worker process mid-send, again and again, and count per message what the receiving
end got against the status the message ended with: nothing is lost or sent twice, a message the
server took ends `sent`, and only the one message a killed sender was handing over may end
"unknown" (failed, not sent again), at most one per kill."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations.models import DeliveryStatus, Message
from inbox.core.access import Actor
from inbox.outbox.models import OutboxJob, OutboxState
from tests.integration.test_send_queue import queue_messages
from tests.support.live import free_port
from tests.support.processes import Process, wait_for, workers
from tests.support.smtp import Sink

Maker = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.slow

KILLS = 5
# How a message that was not sent again for fear of a duplicate reads (see inbox/outbox/queue.py).
UNKNOWN = "not sent again"


class SlowSink(Sink):
    """An SMTP server that takes its time over each recipient and over each message's data,
    so a kill lands before, during and after the hand-over of a message."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        await asyncio.sleep(0.08)
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The data has arrived whole: from here on the server has the message, whatever
        # becomes of the connection.
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(0.12)
        return reply


@contextlib.contextmanager
def slow_smtp_server() -> Iterator[tuple[int, SlowSink]]:
    sink = SlowSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


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


async def outcomes(maker: Maker) -> dict[int, tuple[DeliveryStatus, str, str | None]]:
    """Per message: its status, its error and its Message-ID header."""
    async with maker() as s:
        rows = await s.execute(
            sa.select(Message.id, Message.status, Message.error, Message.message_id_header)
        )
        return {i: (status, error, header) for i, status, error, header in rows.all()}


def check_counts(
    ids: list[int],
    received: Counter[int],
    final: dict[int, tuple[DeliveryStatus, str, str | None]],
    kills: int,
) -> int:
    """Received against final status, message by message; the number of unknowns."""
    problems = []
    unknown = 0
    for message_id in ids:
        status, error, _ = final[message_id]
        got = received[message_id]
        if got > 1:
            problems.append(f"{message_id}: received {got} times")
        elif status is DeliveryStatus.SENT and got != 1:
            problems.append(f"{message_id}: sent, but the server never got it")
        elif status is DeliveryStatus.FAILED and UNKNOWN in error:
            unknown += 1
        elif status is DeliveryStatus.FAILED and got:
            problems.append(f"{message_id}: failed ({error}), but the server got it")
        elif status is not DeliveryStatus.SENT:
            problems.append(f"{message_id}: ended {status.value} ({error}), received {got}")
    failed = Counter(e for s, e, _ in final.values() if s is DeliveryStatus.FAILED)
    assert not problems, f"{problems}; failures: {failed}"
    assert unknown <= kills, (
        f"{unknown} messages ended unknown after {kills} kills mid-send; only the one a killed "
        f"sender was handing over may: {failed}"
    )
    return unknown


async def test_killing_an_smtp_sender_retries_all_but_the_message_being_handed_over(
    sessionmaker: Maker, cmu: Actor, db_url: str, tmp_path: Path
) -> None:
    ids = await queue_messages(sessionmaker, cmu, 30)
    with slow_smtp_server() as (port, sink):
        settings = worker_settings(db_url, tmp_path) | {
            "INBOX_SMTP_HOST": "127.0.0.1",
            "INBOX_SMTP_PORT": str(port),
            "INBOX_SMTP_TLS": "none",
        }
        async with workers(settings) as start:
            kills = await _kill_and_restart(sessionmaker, start)
        final = await outcomes(sessionmaker)
        by_header = {header: i for i, (_, _, header) in final.items()}
        received = Counter(by_header[r.message["Message-ID"]] for r in sink.received)
    check_counts(ids, received, final, kills)


async def test_stopping_an_smtp_sender_mid_batch_finishes_the_message_in_hand_only(
    sessionmaker: Maker, cmu: Actor, db_url: str, tmp_path: Path
) -> None:
    """SIGTERM (a deploy): the message being sent is finished and recorded, the rest of the
    batch is queued again at once, for any sender, without waiting for the lease."""
    ids = await queue_messages(sessionmaker, cmu, 10)
    with slow_smtp_server() as (port, sink):
        settings = worker_settings(db_url, tmp_path) | {
            "INBOX_SMTP_HOST": "127.0.0.1",
            "INBOX_SMTP_PORT": str(port),
            "INBOX_SMTP_TLS": "none",
            "INBOX_SEND_LEASE_SECONDS": "600",
        }
        async with workers(settings) as start:
            worker = await start()

            async def busy() -> bool:
                return (await states(sessionmaker))[OutboxState.SENDING] > 0

            await wait_for(busy, 30, interval=0.02)
            await asyncio.sleep(0.3)
            worker.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(worker.communicate(), 15)
            assert worker.returncode == 0, stderr.decode()
            left = await states(sessionmaker)
            assert left[OutboxState.SENDING] == 0 and 0 < left[OutboxState.DONE] < len(ids), left
            assert len(sink.received) == left[OutboxState.DONE]

            worker = await start()  # the lease is long: only a given-back job is due

            async def drained() -> bool:
                return (await states(sessionmaker))[OutboxState.DONE] == len(ids)

            try:
                await wait_for(drained, 30, interval=0.05)
            finally:
                worker.send_signal(signal.SIGTERM)
                await asyncio.wait_for(worker.communicate(), 15)
        final = await outcomes(sessionmaker)
        by_header = {header: i for i, (_, _, header) in final.items()}
        received = Counter(by_header[r.message["Message-ID"]] for r in sink.received)
    assert check_counts(ids, received, final, 0) == 0


async def test_killing_a_sandbox_sender_neither_loses_nor_duplicates(
    sessionmaker: Maker, cmu: Actor, db_url: str, tmp_path: Path
) -> None:
    """The sandbox can be asked whether a message went out, so nothing ends unknown."""
    ids = await queue_messages(sessionmaker, cmu, 24)
    async with workers(worker_settings(db_url, tmp_path)) as start:
        kills = await _kill_and_restart(sessionmaker, start)
    log = [
        json.loads(line) for line in (tmp_path / "sandbox-outbox.jsonl").read_text().splitlines()
    ]
    received = Counter(entry["message_id"] for entry in log)
    assert check_counts(ids, received, await outcomes(sessionmaker), kills) == 0
    assert set(received.values()) == {1}


async def _kill_and_restart(sessionmaker: Maker, start: Callable[[], Awaitable[Process]]) -> int:
    """Start a worker and kill it mid-send, KILLS times; then let one finish the queue and stop
    it with SIGTERM. The number of kills that found messages being sent."""
    rng = random.Random(7)
    kills_mid_send = 0
    for _ in range(KILLS):
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

    async def settled() -> bool:
        left = await states(sessionmaker)
        return left[OutboxState.QUEUED] + left[OutboxState.SENDING] == 0

    try:
        await wait_for(settled, 90, interval=0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 15)
    assert worker.returncode == 0, stderr.decode()
    return kills_mid_send
