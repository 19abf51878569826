"""The conversations values in and out of the use cases (the API's bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from inbox.contacts.schemas import ProspectRead
from inbox.conversations.attachments import AttachmentRead
from inbox.conversations.models import Channel, DeliveryStatus, Direction
from inbox.core.schemas import Email, Input, Page
from inbox.outbox.deliveries import RecipientOutcomeRead

ConversationFilter = Literal["all", "mine", "needs_reply", "replied", "flagged", "unread"]


class ConversationSummary(msgspec.Struct, kw_only=True):
    id: int
    prospect_id: int
    prospect_name: str
    assignee_id: int | None
    last_channel: Channel | None
    last_direction: Direction | None
    preview: str
    last_activity_at: datetime
    unread: bool
    flagged: bool
    needs_reply: bool
    replied: bool


class ConversationCounts(msgspec.Struct, kw_only=True):
    """How many conversations each sidebar filter shows."""

    all: int
    mine: int
    needs_reply: int
    replied: int
    flagged: int
    unread: int
    # The account's event sequence these counts are consistent with (see ThreadRead.seq).
    seq: int = 0


class ConversationPage(Page[ConversationSummary], kw_only=True):
    seq: int = 0


class MessageCreate(Input):
    channel: Channel
    # One of the two is required. With body_html (email only: rich text, sanitized), body_text
    # is ignored and becomes the HTML's plain-text rendering.
    body_text: Annotated[str, msgspec.Meta(max_length=100_000)] = ""
    body_html: Annotated[str, msgspec.Meta(max_length=200_000)] | None = None
    subject: Annotated[str, msgspec.Meta(max_length=998)] = ""
    to: list[Email] = []
    cc: list[Email] = []
    bcc: list[Email] = []
    # The newest message the author had seen; a newer one from someone else makes the send a 409.
    seen_message_id: int | None = None


class MessageRead(msgspec.Struct, kw_only=True):
    id: int
    conversation_id: int
    channel: Channel
    direction: Direction
    author_account_id: int | None
    author_name: str
    author_address: str
    subject: str
    body_text: str
    body_html: str
    to: list[str]
    cc: list[str]
    is_automatic: bool
    status: DeliveryStatus
    error: str
    thread_rule: str
    created_at: datetime
    sent_at: datetime | None
    attachments: list[AttachmentRead] = []
    # Outbound email: Bcc (seen by staff only, never sent as a header), the signature added,
    # and how delivery went for each recipient.
    bcc: list[str] = []
    signature_kind: str = ""
    recipient_outcomes: list[RecipientOutcomeRead] = []
    # Inbound email: the body before quoted history and signature were cut for display.
    # The whole body when the shown one had quoted history or a signature cut; else empty.
    body_text_full: str = ""
    body_html_full: str = ""


class ThreadRead(msgspec.Struct, kw_only=True):
    conversation: ConversationSummary
    prospect: ProspectRead
    # The newest page, oldest first; `earlier_cursor` fetches the page before it.
    messages: list[MessageRead]
    earlier_cursor: str | None = None
    # The account's event sequence this snapshot is consistent with: it was read first, so
    # every event up to it is in the snapshot, and a client applies only the events above it.
    seq: int = 0


class MessagePage(msgspec.Struct, kw_only=True):
    items: list[MessageRead]
    earlier_cursor: str | None
    seq: int
