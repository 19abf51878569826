"""The long-lived parts one app instance owns: database, event publisher, send queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from channels.email.imap import ImapConfig, ImapWatcher
from channels.email.smtp import SmtpChannel, SmtpConfig
from channels.sandbox import SandboxChannel
from channels.sms.sandbox import SandboxSmsChannel
from channels.sms.twilio import TwilioConfig, TwilioSmsChannel
from channels.storage import FileAttachmentStore
from inbox.accounts.sessions import do_prune_sessions
from inbox.conversations.messages import SendContext
from inbox.conversations.models import Channel
from inbox.core.db import make_engine, make_sessionmaker
from inbox.core.ports import Clock, EventPublisher, OutboundChannel, SystemClock
from inbox.email.placement import ThreadingContext
from inbox.events.log import commit_and_publish, do_prune_events
from inbox.outbox.queue import Sender
from inbox.sms.consent import OptOutRecordingChannel
from inbox.sms.inbound import KEEP_PLACED, SmsPlacer, do_prune_inbound_sms
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
    # Reads that depend on the time (task status, the dashboard) ask this; tests replace it.
    clock: Clock = field(default_factory=SystemClock)
    # Reads the reply mailbox when INBOX_IMAP_HOST is set.
    watcher: ImapWatcher | None = None
    # Sessions for transactions that only read (page loads, exports, the websocket's replay).
    reader: async_sessionmaker[AsyncSession] = field(init=False)
    # Threads inbound texts kept by the webhook (which wakes it); runs in `maintain`.
    sms_placer: SmsPlacer = field(init=False)

    def __post_init__(self) -> None:
        self.reader = make_sessionmaker(self.engine, read_only=True)
        self.sms_placer = SmsPlacer(
            self.sessionmaker,
            TwilioSmsChannel(twilio_config(self.settings)),
            self.hub,
            SystemClock(),
            self.sender.worker,
            store=self.attachments,
            region=self.settings.phone_region,
            help_reply=self.settings.sms_help_reply,
            on_queued=self.sender.wake,
        )

    @property
    def send_context(self) -> SendContext:
        return SendContext(
            email_domain=self.settings.email_domain,
            secret_key=self.settings.secret_key,
            reply_address=self.settings.reply_address,
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
    sandbox = SandboxChannel(settings.sandbox_log, delay=settings.sandbox_delay_ms / 1000)
    return {Channel.EMAIL: email_channel(settings) or sandbox, Channel.SMS: sms_channel(settings)}


def twilio_config(settings: Settings) -> TwilioConfig:
    return TwilioConfig(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        sender=settings.twilio_from,
        base_url=settings.twilio_base_url,
        status_callback_url=f"{settings.public_url}/webhooks/twilio/status",
    )


def sms_channel(settings: Settings) -> OutboundChannel:
    """Twilio when configured, except in the demo, whose texts never leave the sandbox log;
    in production with no provider, a channel whose sends fail."""
    from channels.unconfigured import UnconfiguredChannel

    if settings.mode != "demo" and settings.sms_provider == "twilio":
        return TwilioSmsChannel(twilio_config(settings))
    if settings.mode != "demo" and settings.sms_provider == "none":
        return UnconfiguredChannel(
            "Not sent: no SMS provider is configured. An administrator must set "
            "INBOX_SMS_PROVIDER=twilio (or INBOX_SMS_PROVIDER=sandbox to keep texts in the "
            "sandbox log)."
        )
    return SandboxSmsChannel(
        SandboxChannel(settings.sandbox_log, delay=settings.sandbox_delay_ms / 1000)
    )


def email_channel(settings: Settings) -> OutboundChannel | None:
    """SMTP when a host is configured; None leaves email to the sandbox (always in demo mode,
    whose mail must never reach the outside world). In production with no provider, a
    channel whose sends fail."""
    from channels.unconfigured import UnconfiguredChannel

    if settings.mode == "demo" or settings.email_provider == "sandbox":
        return None
    if settings.email_provider == "none" or not settings.smtp_host:
        return UnconfiguredChannel(
            "Not sent: no email provider is configured. An administrator must set "
            "INBOX_SMTP_HOST (or INBOX_EMAIL_PROVIDER=sandbox to keep mail in the sandbox log)."
        )
    config = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        tls=settings.smtp_tls,
        ca_file=settings.tls_ca_file,
    )
    return SmtpChannel(config, FileAttachmentStore(settings.attachments_dir))


def imap_watcher(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: EventPublisher,
    store: FileAttachmentStore,
) -> ImapWatcher | None:
    """The reply mailbox's watcher when IMAP is configured."""
    if not settings.imap_host:
        return None
    config = ImapConfig(
        host=settings.imap_host,
        port=settings.imap_port,
        username=settings.imap_username,
        password=settings.imap_password,
        tls=settings.imap_tls,
        mailbox=settings.imap_mailbox,
        ca_file=settings.tls_ca_file,
    )
    return ImapWatcher(
        config,
        sessionmaker,
        publisher,
        context=ThreadingContext(settings.secret_key, settings.reply_address),
        store=store,
        lease=timedelta(seconds=settings.imap_lease_seconds),
        poll_interval=settings.imap_poll_seconds,
    )


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    if settings.redis_url:
        backend = redis_backend_factory(settings.redis_url, settings.redis_prefix)
    else:
        backend = memory_backend_factory()
    hub = Hub(
        Bus(backend, f"{settings.redis_prefix}:events"),
        make_sessionmaker(engine, read_only=True),  # it only reads the log
        queue_size=settings.ws_queue_size,
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
        lease=timedelta(seconds=settings.send_lease_seconds),
    )
    attachments = FileAttachmentStore(settings.attachments_dir)
    watcher = imap_watcher(settings, sessionmaker, hub, attachments)
    return Services(settings, engine, sessionmaker, hub, sender, attachments, watcher=watcher)


async def maintain(services: Services, every: float = 3600.0) -> None:
    """All along, the SMS placer (inbound texts kept by the webhook); hourly: drop events past
    the retention, expired sessions and old login failures, and texts placed long ago."""
    async with asyncio.TaskGroup() as group:
        group.create_task(services.sms_placer.run(), name="sms-placer")
        group.create_task(_prune(services, every), name="pruning")


async def _prune(services: Services, every: float) -> None:
    while True:
        now = SystemClock().now()
        try:
            async with services.transaction() as session:
                await do_prune_events(
                    session, now - timedelta(days=services.settings.event_retention_days)
                )
                await do_prune_sessions(session, now)
                await do_prune_inbound_sms(session, now - KEEP_PLACED)
        except Exception:
            log.exception("maintenance pass failed; will retry")
        await asyncio.sleep(every)
