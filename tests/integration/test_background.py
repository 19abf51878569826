"""The background work is one list: the app (INBOX_RUN_WORKERS=true) and `inbox worker` start
the same jobs from it, and stopping either cancels every job cleanly."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from inbox.core.db import migrate
from server import background
from server.app import create_app
from server.background import Job
from server.services import Services
from server.settings import Settings, load_settings
from server.worker import run_worker
from tests.support.processes import wait_for

EVERY_JOB = {"send-queue", "sms-placer", "scheduler", "maintenance", "imap-watcher"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # An IMAP server that refuses connections: the watcher runs (and retries) all the same.
    return load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_RUN_WORKERS": "true",
            "INBOX_PUBLIC_URL": "http://testserver.local",
            "INBOX_IMAP_HOST": "127.0.0.1",
            "INBOX_IMAP_PORT": str(closed_port()),
            "INBOX_IMAP_TLS": "none",
            "INBOX_IMAP_USERNAME": "replies@oem.example",
        }
    )


class Seen:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Each real job, wrapped to record that it started and that it ended."""
    record = Seen()
    real = background.background_jobs

    def watched(job: Job) -> Job:
        async def run() -> None:
            record.started.append(job.name)
            try:
                await job.run()
            finally:
                record.stopped.append(job.name)

        return Job(job.name, run)

    def jobs(services: Services) -> list[Job]:
        return [watched(job) for job in real(services)]

    monkeypatch.setattr(background, "background_jobs", jobs)
    return record


async def started(seen: Seen, count: int) -> None:
    async def ready() -> bool:
        return len(seen.started) >= count

    await wait_for(ready, 30)


async def test_the_app_and_the_worker_start_the_same_background_work(
    settings: Settings, seen: Seen
) -> None:
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local"):
        await started(seen, len(EVERY_JOB))
    in_app = set(seen.started)
    assert in_app == EVERY_JOB and len(seen.started) == len(EVERY_JOB)
    assert sorted(seen.stopped) == sorted(seen.started), "every job ends with the app"

    seen.started.clear()
    seen.stopped.clear()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    await started(seen, len(EVERY_JOB))
    stop.set()
    await asyncio.wait_for(worker, 30)
    assert set(seen.started) == in_app and len(seen.started) == len(EVERY_JOB)
    assert sorted(seen.stopped) == sorted(seen.started), "every job ends with the worker"


async def test_without_imap_there_is_no_watcher_and_no_workers_means_none(
    tmp_path: Path, seen: Seen
) -> None:
    env = {"INBOX_DATA_DIR": str(tmp_path), "INBOX_PUBLIC_URL": "http://testserver.local"}
    settings = load_settings(env)
    await asyncio.to_thread(migrate, settings.database.url)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    await started(seen, len(EVERY_JOB) - 1)
    stop.set()
    await asyncio.wait_for(worker, 30)
    assert set(seen.started) == EVERY_JOB - {"imap-watcher"}

    seen.started.clear()
    off = load_settings({**env, "INBOX_RUN_WORKERS": "false"})
    client: Any
    async with AsyncTestClient(app=create_app(off), base_url="http://testserver.local") as client:
        assert (await client.get("/health")).status_code == 200
        await asyncio.sleep(0.1)
    assert seen.started == []
