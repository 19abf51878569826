"""Plain values in and out of the use cases; the API uses them as its bodies.

Input structs forbid unknown fields, so a typo is a 400 naming the field, not silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from inbox.attachments import AttachmentRead
from inbox.deliveries import RecipientOutcomeRead
from inbox.models import (
    Channel,
    DeliveryStatus,
    Direction,
    FollowUpStatus,
    PhoneKind,
    ProspectKind,
    QualifyState,
    Role,
)

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(max_length=100)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
# A time with its zone (Z or +02:00): a naive one cannot be stored as UTC.
Aware = Annotated[datetime, msgspec.Meta(tz=True)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class PhoneInput(Input):
    kind: PhoneKind
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class ProspectCreate(Input):
    first_name: Name = ""
    last_name: Name = ""
    emails: list[Email] = []
    phones: list[PhoneInput] = []
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] = ""
    product_of_interest: Short = ""
    kind: ProspectKind = ProspectKind.PROSPECT


class ProspectUpdate(Input):
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    emails: list[Email] | msgspec.UnsetType = msgspec.UNSET
    phones: list[PhoneInput] | msgspec.UnsetType = msgspec.UNSET
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    product_of_interest: Short | msgspec.UnsetType = msgspec.UNSET
    kind: ProspectKind | msgspec.UnsetType = msgspec.UNSET


class PhoneRead(msgspec.Struct, kw_only=True):
    kind: PhoneKind
    e164: str


class ProspectRead(msgspec.Struct, kw_only=True):
    id: int
    first_name: str
    last_name: str
    name: str
    emails: list[str]
    phones: list[PhoneRead]
    postal_code: str
    product_of_interest: str
    kind: ProspectKind
    conversation_id: int
    created_at: datetime
    # Tasks not yet complete; links to the task grid filtered to this prospect.
    open_task_count: int = 0


class LeadCreate(Input):
    lead_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    source: Annotated[str, msgspec.Meta(max_length=100)] = ""
    category: Annotated[str, msgspec.Meta(max_length=100)] = ""
    purchase_timeframe: Annotated[str, msgspec.Meta(max_length=100)] = ""
    dealer: Short = ""
    due_at: Aware | None = None


class LeadRead(msgspec.Struct, kw_only=True):
    id: int
    prospect_id: int
    lead_type: str
    source: str
    category: str
    purchase_timeframe: str
    follow_up_status: FollowUpStatus
    dealer: str
    qualify_state: QualifyState
    due_at: datetime | None
    created_at: datetime


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


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None


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
    messages: list[MessageRead]


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


class AccountCreate(Input):
    email: Email
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Role
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    from_name: Short = ""
    from_email: Email | None = None


class AccountUpdate(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    password: Annotated[str, msgspec.Meta(min_length=10, max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    from_name: Short | msgspec.UnsetType = msgspec.UNSET
    from_email: Email | msgspec.UnsetType = msgspec.UNSET


class AccountRead(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: Role
    from_name: str
    from_email: str
    is_active: bool
    created_at: datetime


class NotificationRead(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    body: str
    conversation_id: int | None
    message_id: int | None
    read: bool
    created_at: datetime


class EventRead(msgspec.Struct, kw_only=True):
    seq: int
    type: str
    payload: dict[str, object]
    created_at: datetime
