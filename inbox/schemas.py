"""Plain values in and out of the use cases; the API uses them as its bodies.

Input structs forbid unknown fields, so a typo is a 400 naming the field, not silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from inbox.attachments import AttachmentRead
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


class LeadCreate(Input):
    lead_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    source: Annotated[str, msgspec.Meta(max_length=100)] = ""
    category: Annotated[str, msgspec.Meta(max_length=100)] = ""
    purchase_timeframe: Annotated[str, msgspec.Meta(max_length=100)] = ""
    dealer: Short = ""
    due_at: datetime | None = None


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


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    next_cursor: str | None


class MessageCreate(Input):
    channel: Channel
    body_text: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
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
