"""Ports the domain needs from the outside world, as Protocols. Adapters live in channels/ and server/."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from inbox.conversations.models import Channel
from inbox.outbox.models import RecipientStatus


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as written to one account's log."""

    account_id: int
    seq: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


class EventPublisher(Protocol):
    """Pushes committed events to live listeners. Must never raise: the log is the truth."""

    async def publish(self, events: Sequence[StoredEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    """A file to send with a message; the channel reads its bytes from the attachment store."""

    filename: str
    content_type: str
    size: int
    storage_key: str


@dataclass(frozen=True, slots=True)
class OutboundEnvelope:
    """What a channel needs to deliver one outbound message."""

    message_id: int
    idempotency_key: str
    channel: Channel
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    from_name: str = ""
    from_address: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str = ""
    attachments: tuple[OutboundAttachment, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the message goes to, Bcc included (the envelope, not the headers)."""
        return self.to + self.cc + self.bcc


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What the receiving server said about one recipient."""

    address: str
    status: RecipientStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    external_id: str = ""
    detail: str = ""
    # Per recipient, when the channel knows better than "all of them went": a server may
    # accept the message for some recipients and refuse others.
    recipients: tuple[RecipientResult, ...] = ()


class DeliveryError(Exception):
    """A delivery that did not happen; `recipients` says why per address when known."""

    def __init__(self, detail: str, *, recipients: tuple[RecipientResult, ...] = ()) -> None:
        super().__init__(detail)
        self.recipients = recipients


class TransientDeliveryError(DeliveryError):
    """The channel may accept the message later: retry with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused the message for good."""


class DeliveryLookup(enum.Enum):
    """What a channel knows of a send that was interrupted by a crash."""

    NOT_DELIVERED = "not_delivered"
    UNKNOWN = "unknown"


class OutboundChannel(Protocol):
    """Delivers outbound messages of one channel."""

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        """Send once. Raise TransientDeliveryError or PermanentDeliveryError on failure."""
        ...

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        """After a crash mid-send: the receipt if it went out, else whether it surely did not.
        UNKNOWN means the message is not sent again (a duplicate is worse than a failure shown)."""
        ...
