"""`inbox worker` processes for the tests that kill them mid-work, and polling for a state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
Process = asyncio.subprocess.Process


async def start_worker(settings: dict[str, str]) -> Process:
    """`python -m server.cli worker` with only these settings (and PATH) in its environment;
    its stderr is kept for the assertion messages."""
    env = {"PATH": os.environ.get("PATH", ""), "INBOX_LOG_LEVEL": "WARNING", **settings}
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


@contextlib.asynccontextmanager
async def workers(settings: dict[str, str]) -> AsyncIterator[Callable[[], Awaitable[Process]]]:
    """A starter of workers; any still running at the end are killed, so a failed assertion
    never leaves one behind working on the next test's database."""
    started: list[Process] = []

    async def start() -> Process:
        started.append(await start_worker(settings))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.02
) -> None:
    """Until `predicate()` is true; TimeoutError after `timeout` seconds."""

    async def poll() -> None:
        while not await predicate():
            await asyncio.sleep(interval)

    await asyncio.wait_for(poll(), timeout)
