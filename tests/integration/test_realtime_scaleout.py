"""Several server processes: events cross over Redis, and a Redis outage loses nothing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import create_account, service_missing
from tests.support.live import Socket, User, free_port, start_pair

Maker = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.slow


async def test_an_event_made_on_one_process_reaches_a_client_of_another(
    db_url: str, tmp_path: Path, redis_url: str, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    await create_account(sessionmaker, "sam@oem.test")
    a, b = await start_pair(db_url, tmp_path, redis_url)
    try:
        sam_on_a = await User(a.url, "sam@oem.test").sign_in()
        dana_on_b = await User(b.url, "dana@oem.test").sign_in()
        ws = await Socket.open(b.url, dana_on_b.cookie)
        await ws.until("ready")
        prospect = await sam_on_a.post(
            "/api/prospects", json={"first_name": "Pat", "emails": ["pat@example.com"]}
        )
        cid = prospect["conversation_id"]
        await sam_on_a.post(
            f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "Hi"}
        )
        frame = await ws.until("message.created")
        assert frame["data"]["conversation_id"] == cid
        await asyncio.gather(ws.close(), sam_on_a.close(), dana_on_b.close())
    finally:
        await asyncio.gather(a.stop(), b.stop())


class PrivateRedis:
    """A redis-server of this test's own, so it can be stopped mid-test."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server")
            return
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis.asyncio import Redis

        client = Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except Exception:
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise TimeoutError("private redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
async def private_redis(tmp_path: Path, redis_url: str) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(free_port(), tmp_path)
    await redis.start()
    yield redis
    redis.stop()


async def test_with_redis_stopped_clients_get_every_event_and_the_outage_is_logged_once(
    db_url: str, tmp_path: Path, private_redis: PrivateRedis, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    await create_account(sessionmaker, "sam@oem.test")
    a, b = await start_pair(db_url, tmp_path, private_redis.url)
    try:
        sam = await User(a.url, "sam@oem.test").sign_in()
        dana = await User(b.url, "dana@oem.test").sign_in()
        ws = await Socket.open(b.url, dana.cookie)
        await ws.until("ready")
        prospect = await sam.post(
            "/api/prospects", json={"first_name": "Pat", "emails": ["pat@example.com"]}
        )
        cid = prospect["conversation_id"]
        await sam.post(
            f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "before"}
        )
        await ws.until("conversation.updated")
        seen = ws.last_seq

        private_redis.stop()
        for text in ("during 1", "during 2", "during 3"):
            await sam.post(
                f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": text}
            )
        # The open socket still gets them, from the log, in order and once.
        during = [await ws.next(10) for _ in range(6)]
        assert [f["seq"] for f in during] == list(range(seen + 1, seen + 7))
        await ws.close()
        # A client that reconnects meanwhile gets every event too.
        again = await Socket.open(b.url, dana.cookie, after=seen)
        replayed = []
        while (frame := await again.next())["type"] != "ready":
            replayed.append(frame["seq"])
        assert replayed == list(range(seen + 1, seen + 7))

        await private_redis.start()  # the same port: the servers reconnect on their own
        await sam.post(
            f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "after"}
        )
        after = await again.until("message.created", timeout=15)
        assert after["seq"] == seen + 7
        await asyncio.gather(again.close(), sam.close(), dana.close())
    finally:
        logs = await asyncio.gather(a.stop(), b.stop())
    for log in logs:
        assert log.count("event bus unreachable") == 1, log
        assert log.count("live push restored") == 1, log
