"""The background work, listed once: the app (with INBOX_RUN_WORKERS on) and `inbox worker`
both run `run_background`, so they cannot drift apart.

Each job is a coroutine that runs until it is cancelled and handles its own failures (logs
them and tries again); all of them are owned by one task group, so stopping (the app's
shutdown, the worker's SIGTERM) cancels every one, and one that crashes stops the rest loudly
instead of leaving a process that looks alive but does half its work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from inbox.accounts.sessions import do_prune_sessions
from inbox.core.ports import SystemClock
from inbox.events.log import do_prune_events
from inbox.sms.inbound import KEEP_PLACED, do_prune_inbound_sms
from server.scheduler import run_scheduler
from server.services import Services

log = logging.getLogger(__name__)
MAINTENANCE_EVERY = 3600.0


@dataclass(frozen=True)
class Job:
    """One long-running piece of background work; `name` names its task."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]


def background_jobs(services: Services) -> list[Job]:
    """Everything that runs in the background, in the order it starts."""
    jobs = [
        # Sends what use cases queued (they wake it after their commit).
        Job("send-queue", services.sender.run),
        # Threads the inbound texts the Twilio webhook kept (the webhook wakes it).
        Job("sms-placer", services.sms_placer.run),
        # Time-driven work: overdue tasks.
        Job("scheduler", lambda: run_scheduler(services)),
        # Hourly pruning: old events, expired sessions, texts placed long ago.
        Job("maintenance", lambda: maintain(services)),
    ]
    if services.watcher is not None:
        # The reply mailbox, when INBOX_IMAP_HOST is set (one process at a time holds it).
        jobs.append(Job("imap-watcher", services.watcher.run))
    return jobs


async def run_background(services: Services) -> None:
    """Run every job until cancelled (then each is cancelled and awaited)."""
    async with asyncio.TaskGroup() as group:
        for job in background_jobs(services):
            group.create_task(job.run(), name=job.name)


async def maintain(services: Services, every: float = MAINTENANCE_EVERY) -> None:
    """Every `every` seconds: drop events past the retention, expired sessions and old login
    failures, and inbound texts placed long ago."""
    while True:
        now = SystemClock().now()
        try:
            async with services.transaction() as session:
                await do_prune_events(
                    session, now - timedelta(days=services.settings.workers.event_retention_days)
                )
                await do_prune_sessions(session, now)
                await do_prune_inbound_sms(session, now - KEEP_PLACED)
        except Exception:
            log.exception("maintenance pass failed; will retry")
        await asyncio.sleep(every)
