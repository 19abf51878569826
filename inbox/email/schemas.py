"""The email values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from inbox.conversations.models import Channel


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message from the outside world, already parsed by a channel adapter."""

    channel: Channel
    from_address: str
    from_name: str = ""
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    message_id_header: str | None = None
    in_reply_to: str = ""
    references: str = ""
    external_id: str | None = None
    is_automatic: bool = False
    received_at: datetime | None = None
    # Email only: the whole body (body_text/body_html are the display cut), more addressing,
    # files, a delivery status report, and the raw source with what went wrong reading it.
    body_text_full: str = ""
    body_html_full: str = ""
    delivered_to: tuple[str, ...] = ()
    x_original_to: tuple[str, ...] = ()
    attachments: tuple[InboundAttachment, ...] = ()
    bounce: BounceReport | None = None
    parse_error: str = ""
    raw: bytes | None = None


class InboundAttachment(msgspec.Struct, frozen=True, kw_only=True):
    """A file that came with an inbound email; `content_id` (without <>) when shown inline."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


class BounceRecipient(msgspec.Struct, frozen=True, kw_only=True):
    """One recipient in a delivery status notification."""

    address: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # the enhanced status code, e.g. 5.1.1
    diagnostic: str = ""

    @property
    def is_hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


class BounceReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a delivery status notification says about a message we sent."""

    original_message_id: str = ""
    recipients: tuple[BounceRecipient, ...] = ()
