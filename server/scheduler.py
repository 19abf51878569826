"""The scheduler: time-driven work that no request triggers (for now, overdue tasks)."""

from __future__ import annotations

import asyncio
import logging

from inbox.tasks.service import notify_overdue_tasks
from server.services import Services

log = logging.getLogger(__name__)


async def run_scheduler(services: Services) -> None:
    """Every `task_check_seconds`, notify the assignees of tasks that became overdue. Any
    number of processes may run this: each task's notice is claimed once in the database."""
    while True:
        try:
            notified = await notify_overdue_tasks(
                services.sessionmaker, services.hub, services.clock.now()
            )
            if notified:
                log.info("notified %d overdue task(s)", notified)
        except Exception:
            log.exception("scheduler pass failed; will retry")
        await asyncio.sleep(services.settings.workers.task_check_seconds)
