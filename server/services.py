"""The long-lived parts one app instance owns: database, event publisher, send queue."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from channels.sandbox import SandboxChannel
from inbox.db import make_engine, make_sessionmaker
from inbox.events import commit_and_publish
from inbox.models import Channel
from inbox.outbox import Sender
from inbox.ports import EventPublisher, OutboundChannel, StoredEvent, SystemClock
from server.settings import Settings


class LocalPublisher:
    """Hands committed events to in-process listeners (the websocket layer subscribes here)."""

    def __init__(self) -> None:
        self.listeners: list[EventPublisher] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for listener in self.listeners:
            await listener.publish(events)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: LocalPublisher
    sender: Sender

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One use case's transaction: commit and publish its events, or roll back."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await commit_and_publish(session, self.publisher)
            if session.info.pop("inbox.queued", False):
                self.sender.wake()


def outbound_channels(settings: Settings) -> dict[Channel, OutboundChannel]:
    sandbox = SandboxChannel(settings.sandbox_log, delay=settings.sandbox_delay_ms / 1000)
    return {Channel.EMAIL: sandbox, Channel.SMS: sandbox}


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    publisher = LocalPublisher()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    sender = Sender(
        sessionmaker,
        outbound_channels(settings),
        publisher,
        SystemClock(),
        worker,
        lease=timedelta(seconds=settings.send_lease_seconds),
    )
    return Services(settings, engine, sessionmaker, publisher, sender)
