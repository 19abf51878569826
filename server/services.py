"""The long-lived parts one app instance owns: database, event publisher, send queue.

What runs in the background over them is listed once, in `server/background.py`."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from channels.email.imap import ImapWatcher
from channels.email.smtp import SmtpChannel
from channels.sandbox import SandboxChannel
from channels.sms.sandbox import SandboxSmsChannel
from channels.sms.twilio import TwilioConfig, TwilioSmsChannel
from channels.storage import FileAttachmentStore
from inbox.conversations.messages import SendContext
from inbox.conversations.models import Channel
from inbox.core.db import make_engine, make_sessionmaker
from inbox.core.ports import Clock, EventPublisher, OutboundChannel, SystemClock
from inbox.email.placement import ThreadingContext
from inbox.events.log import commit_and_publish
from inbox.outbox.queue import Sender
from inbox.sms.consent import OptOutRecordingChannel
from inbox.sms.inbound import SmsPlacer
from server.realtime.bus import Bus, memory_backend_factory, redis_backend_factory
from server.realtime.hub import Hub
from server.settings import Settings

log = logging.getLogger(__name__)
# Without Twilio's credentials no webhook is believed, so the placer has no media to fetch.
NO_TWILIO = TwilioConfig(account_sid="", auth_token="", sender="")


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    hub: Hub
    sender: Sender
    attachments: FileAttachmentStore
    # Reads that depend on the time (task status, the dashboard) ask this; tests replace it.
    clock: Clock = field(default_factory=SystemClock)
    # Reads the reply mailbox when INBOX_IMAP_HOST is set.
    watcher: ImapWatcher | None = None
    # Sessions for transactions that only read (page loads, exports, the websocket's replay).
    reader: async_sessionmaker[AsyncSession] = field(init=False)
    # Threads inbound texts kept by the webhook (which wakes it); a background job.
    sms_placer: SmsPlacer = field(init=False)

    def __post_init__(self) -> None:
        self.reader = make_sessionmaker(self.engine, read_only=True)
        self.sms_placer = SmsPlacer(
            self.sessionmaker,
            TwilioSmsChannel(self.settings.twilio or NO_TWILIO),
            self.hub,
            SystemClock(),
            self.sender.worker,
            store=self.attachments,
            region=self.settings.phone_region,
            help_reply=self.settings.sms.help_reply,
            on_queued=self.sender.wake,
        )

    @property
    def send_context(self) -> SendContext:
        return SendContext(
            email_domain=self.settings.email.domain,
            secret_key=self.settings.web.secret_key,
            reply_address=self.settings.email.reply_address,
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
    """Each channel's way out. A production install without a provider gets a channel whose
    sends fail saying what to set, and a warning here at start-up (and in /health)."""
    for warning in settings.warnings:
        log.warning("%s", warning)
    return {
        Channel.EMAIL: email_channel(settings) or sandbox_channel(settings),
        Channel.SMS: sms_channel(settings),
    }


def sandbox_channel(settings: Settings) -> SandboxChannel:
    return SandboxChannel(settings.sandbox.log, delay=settings.sandbox.delay_ms / 1000)


def sms_channel(settings: Settings) -> OutboundChannel:
    """Twilio when configured, except in the demo, whose texts never leave the sandbox log;
    in production with no provider, a channel whose sends fail."""
    from channels.unconfigured import UnconfiguredChannel

    if settings.mode != "demo" and settings.sms.provider == "twilio" and settings.twilio:
        return TwilioSmsChannel(settings.twilio)
    if settings.mode != "demo" and settings.sms.provider == "none":
        return UnconfiguredChannel(
            "Not sent: no SMS provider is configured. An administrator must set "
            "INBOX_SMS_PROVIDER=twilio (or INBOX_SMS_PROVIDER=sandbox to keep texts in the "
            "sandbox log)."
        )
    return SandboxSmsChannel(sandbox_channel(settings))


def email_channel(settings: Settings) -> OutboundChannel | None:
    """SMTP when a host is configured; None leaves email to the sandbox (always in demo mode,
    whose mail must never reach the outside world). In production with no provider, a
    channel whose sends fail."""
    from channels.unconfigured import UnconfiguredChannel

    if settings.mode == "demo" or settings.email.provider == "sandbox":
        return None
    if settings.email.provider == "none" or settings.smtp is None:
        return UnconfiguredChannel(
            "Not sent: no email provider is configured. An administrator must set "
            "INBOX_SMTP_HOST (or INBOX_EMAIL_PROVIDER=sandbox to keep mail in the sandbox log)."
        )
    return SmtpChannel(settings.smtp, FileAttachmentStore(settings.attachments_dir))


def imap_watcher(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: EventPublisher,
    store: FileAttachmentStore,
) -> ImapWatcher | None:
    """The reply mailbox's watcher when IMAP is configured."""
    if settings.imap is None:
        return None
    return ImapWatcher(
        settings.imap,
        sessionmaker,
        publisher,
        context=ThreadingContext(settings.web.secret_key, settings.email.reply_address),
        store=store,
        lease=timedelta(seconds=settings.workers.imap_lease_seconds),
        poll_interval=settings.workers.imap_poll_seconds,
    )


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database.url)
    sessionmaker = make_sessionmaker(engine)
    redis = settings.redis
    if redis.url:
        backend = redis_backend_factory(redis.url, redis.prefix)
    else:
        backend = memory_backend_factory()
    hub = Hub(
        Bus(backend, f"{redis.prefix}:events"),
        make_sessionmaker(engine, read_only=True),  # it only reads the log
        queue_size=settings.web.ws_queue_size,
    )
    worker = f"{socket.gethostname()}:{os.getpid()}"
    channels = outbound_channels(settings)
    # A provider's "recipient unsubscribed" refusal must reach the consent ledger.
    channels[Channel.SMS] = OptOutRecordingChannel(channels[Channel.SMS], sessionmaker, hub)
    sender = Sender(
        sessionmaker,
        channels,
        hub,
        SystemClock(),
        worker,
        lease=timedelta(seconds=settings.workers.send_lease_seconds),
    )
    attachments = FileAttachmentStore(settings.attachments_dir)
    watcher = imap_watcher(settings, sessionmaker, hub, attachments)
    return Services(settings, engine, sessionmaker, hub, sender, attachments, watcher=watcher)
