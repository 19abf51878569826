"""Background work outside the web process (`inbox worker`), and CLI helpers."""

from __future__ import annotations

import asyncio
import logging
import signal

import msgspec

from inbox.accounts.schemas import AccountCreate, AccountRead
from inbox.accounts.service import do_create_account
from inbox.errors import ValidationFailed
from server.background import run_background
from server.services import build_services
from server.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the background work (`server/background.py`: the send queue, the SMS placer, the
    scheduler, maintenance and, when IMAP is configured, the reply mailbox's watcher) until
    SIGTERM or SIGINT (or until `stop` is set)."""
    services = build_services(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    if not settings.redis.url:
        log.warning(
            "INBOX_REDIS_URL is unset: browsers learn of this worker's sends only "
            "when they next catch up from the event log"
        )
    log.info("worker %s started", services.sender.worker)
    try:
        async with asyncio.TaskGroup() as group:
            work = group.create_task(run_background(services), name="background")
            await stop.wait()
            work.cancel()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
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
