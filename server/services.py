"""The long-lived parts one app instance owns: database, event publisher, send queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from channels.sandbox import SandboxChannel
from channels.storage import FileAttachmentStore
from inbox.db import make_engine, make_sessionmaker
from inbox.events import commit_and_publish, do_prune_events
from inbox.messages import SendContext
from inbox.models import Channel
from inbox.outbox import Sender
from inbox.ports import OutboundChannel, SystemClock
from inbox.sessions import do_prune_sessions
from server.realtime.bus import Bus, memory_backend_factory, redis_backend_factory
from server.realtime.hub import Hub
from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    hub: Hub
    sender: Sender
    attachments: FileAttachmentStore

    @property
    def send_context(self) -> SendContext:
        return SendContext(
            email_domain=self.settings.email_domain, secret_key=self.settings.secret_key
        )

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One use case's transaction: commit and publish its events, or roll back."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await commit_and_publish(session, self.hub)
            if session.info.pop("inbox.queued", False):
                self.sender.wake()


def outbound_channels(settings: Settings) -> dict[Channel, OutboundChannel]:
    sandbox = SandboxChannel(settings.sandbox_log, delay=settings.sandbox_delay_ms / 1000)
    return {Channel.EMAIL: sandbox, Channel.SMS: sandbox}


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    if settings.redis_url:
        backend = redis_backend_factory(settings.redis_url, settings.redis_prefix)
    else:
        backend = memory_backend_factory()
    hub = Hub(
        Bus(backend, f"{settings.redis_prefix}:events"),
        sessionmaker,
        queue_size=settings.ws_queue_size,
    )
    worker = f"{socket.gethostname()}:{os.getpid()}"
    sender = Sender(
        sessionmaker,
        outbound_channels(settings),
        hub,
        SystemClock(),
        worker,
        lease=timedelta(seconds=settings.send_lease_seconds),
    )
    attachments = FileAttachmentStore(settings.attachments_dir)
    return Services(settings, engine, sessionmaker, hub, sender, attachments)


async def maintain(services: Services, every: float = 3600.0) -> None:
    """Hourly: drop events past the retention, expired sessions and old login failures."""
    while True:
        now = SystemClock().now()
        try:
            async with services.transaction() as session:
                await do_prune_events(
                    session, now - timedelta(days=services.settings.event_retention_days)
                )
                await do_prune_sessions(session, now)
        except Exception:
            log.exception("maintenance pass failed; will retry")
        await asyncio.sleep(every)
