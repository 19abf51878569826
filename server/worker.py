"""Background work outside the web process (`inbox worker`), and CLI helpers."""

from __future__ import annotations

import asyncio
import logging
import signal

import msgspec

from inbox.accounts.schemas import AccountCreate, AccountRead
from inbox.accounts.service import do_create_account
from inbox.errors import ValidationFailed
from server.scheduler import run_scheduler
from server.services import build_services, maintain
from server.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings) -> None:
    """Drain the send queue, place inbound texts (in `maintain`), run the scheduler and watch
    the reply mailbox (when IMAP is configured) until SIGTERM or SIGINT."""
    services = build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not settings.redis_url:
        log.warning(
            "INBOX_REDIS_URL is unset: browsers learn of this worker's sends only "
            "when they next catch up from the event log"
        )
    log.info("worker %s started", services.sender.worker)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(services.sender.run(), name="send-queue"),
                group.create_task(maintain(services), name="maintenance"),
                group.create_task(run_scheduler(services), name="scheduler"),
            ]
            if services.watcher is not None:
                tasks.append(group.create_task(services.watcher.run(), name="imap-watcher"))
            await stop.wait()
            for task in tasks:
                task.cancel()
    finally:
        await services.engine.dispose()
    log.info("worker stopped")


async def create_user(
    settings: Settings, email: str, name: str, role: str, password: str
) -> AccountRead:
    try:
        data = msgspec.convert(
            {"email": email, "name": name, "role": role, "password": password}, AccountCreate
        )
    except msgspec.ValidationError as exc:
        raise ValidationFailed(str(exc).replace("`$.", "`")) from None
    services = build_services(settings)
    try:
        async with services.transaction() as session:
            return await do_create_account(session, None, data)
    finally:
        await services.engine.dispose()
