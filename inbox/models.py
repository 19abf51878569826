"""ORM models. Every datetime is timezone-aware UTC; SQLite gets it back aware through `UTCDateTime`."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores UTC, always hands back an aware datetime (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum], name: str) -> sa.Enum:
    return sa.Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class Role(enum.StrEnum):
    ADMIN = "admin"
    CONTACT_MANAGER = "contact_manager"


class ProspectKind(enum.StrEnum):
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    SERVICE_CUSTOMER = "service_customer"


class PhoneKind(enum.StrEnum):
    HOME = "home"
    WORK = "work"
    MOBILE = "mobile"


class FollowUpStatus(enum.StrEnum):
    NOT_CONTACTED = "not_contacted"
    CONTACTED = "contacted"
    APPOINTMENT_SET = "appointment_set"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class QualifyState(enum.StrEnum):
    NONE = "none"
    HELD = "held"
    RELEASED = "released"


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(enum.StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}


class Account(Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    from_name: Mapped[str] = mapped_column(sa.String(200), default="")
    from_email: Mapped[str] = mapped_column(sa.String(320), default="")
    signature_first: Mapped[str] = mapped_column(sa.Text, default="")
    signature_reply: Mapped[str] = mapped_column(sa.Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # The last sequence number given to this account's events; bumped in the event's transaction.
    event_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """A server-side login session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "user_session"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginFailure(Base):
    """One failed login, kept for rate limiting across processes."""

    __tablename__ = "login_failure"
    __table_args__ = (sa.Index("ix_login_failure_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(400))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Prospect(Base):
    __tablename__ = "prospect"
    __table_args__ = (sa.Index("ix_prospect_names", "last_name", "first_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_name: Mapped[str] = mapped_column(sa.String(100), default="")
    last_name: Mapped[str] = mapped_column(sa.String(100), default="")
    postal_code: Mapped[str] = mapped_column(sa.String(20), default="")
    product_of_interest: Mapped[str] = mapped_column(sa.String(200), default="")
    kind: Mapped[ProspectKind] = mapped_column(
        _enum(ProspectKind, "prospect_kind"), default=ProspectKind.PROSPECT
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    emails: Mapped[list[ProspectEmail]] = relationship(
        cascade="all, delete-orphan", order_by="ProspectEmail.position", lazy="selectin"
    )
    phones: Mapped[list[ProspectPhone]] = relationship(
        cascade="all, delete-orphan", order_by="ProspectPhone.position", lazy="selectin"
    )


class ProspectEmail(Base):
    __tablename__ = "prospect_email"
    __table_args__ = (sa.UniqueConstraint("prospect_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(sa.ForeignKey("prospect.id", ondelete="CASCADE"))
    # Stored lower-cased so look-ups by address are exact.
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    position: Mapped[int] = mapped_column(default=0)


class ProspectPhone(Base):
    __tablename__ = "prospect_phone"
    __table_args__ = (sa.UniqueConstraint("prospect_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(sa.ForeignKey("prospect.id", ondelete="CASCADE"))
    kind: Mapped[PhoneKind] = mapped_column(_enum(PhoneKind, "phone_kind"))
    e164: Mapped[str] = mapped_column(sa.String(20), index=True)
    position: Mapped[int] = mapped_column(default=0)


class Lead(Base):
    __tablename__ = "lead"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(
        sa.ForeignKey("prospect.id", ondelete="CASCADE"), index=True
    )
    lead_type: Mapped[str] = mapped_column(sa.String(100))
    source: Mapped[str] = mapped_column(sa.String(100), default="")
    category: Mapped[str] = mapped_column(sa.String(100), default="")
    purchase_timeframe: Mapped[str] = mapped_column(sa.String(100), default="")
    follow_up_status: Mapped[FollowUpStatus] = mapped_column(
        _enum(FollowUpStatus, "follow_up_status"), default=FollowUpStatus.NOT_CONTACTED, index=True
    )
    dealer: Mapped[str] = mapped_column(sa.String(200), default="")
    qualify_state: Mapped[QualifyState] = mapped_column(
        _enum(QualifyState, "qualify_state"), default=QualifyState.NONE
    )
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One per prospect; every channel in one timeline."""

    __tablename__ = "conversation"
    __table_args__ = (sa.Index("ix_conversation_activity", "last_activity_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(
        sa.ForeignKey("prospect.id", ondelete="CASCADE"), unique=True
    )
    assignee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(sa.String(500), default="")
    # Direction of the last message that is not automatic: inbound = needs reply, outbound = replied.
    last_human_direction: Mapped[Direction | None] = mapped_column(
        _enum(Direction, "direction"), index=True
    )
    last_message_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationState(Base):
    """What one account sees of a conversation: its flag and how far it has read."""

    __tablename__ = "conversation_state"

    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    flagged: Mapped[bool] = mapped_column(default=False)
    last_read_message_id: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Participant(Base):
    """An address in a conversation besides the prospect (Cc/Bcc people)."""

    __tablename__ = "participant"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE")
    )
    address: Mapped[str] = mapped_column(sa.String(320), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (sa.Index("ix_message_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE")
    )
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    author_account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    author_address: Mapped[str] = mapped_column(sa.String(320), default="")
    author_name: Mapped[str] = mapped_column(sa.String(200), default="")
    subject: Mapped[str] = mapped_column(sa.String(998), default="")
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    # Inbound email: body_text/body_html are what to show (quoted history and signature cut),
    # the *_full columns the whole body, for "show quoted text".
    body_text_full: Mapped[str] = mapped_column(sa.Text, default="")
    body_html_full: Mapped[str] = mapped_column(sa.Text, default="")
    # Email headers; for SMS the provider's id goes into external_id.
    message_id_header: Mapped[str | None] = mapped_column(sa.String(998), unique=True)
    in_reply_to: Mapped[str] = mapped_column(sa.String(998), default="")
    references: Mapped[str] = mapped_column(sa.Text, default="")
    recipients: Mapped[dict[str, Any]] = mapped_column(default=dict)
    external_id: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    is_automatic: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    error: Mapped[str] = mapped_column(sa.Text, default="")
    thread_rule: Mapped[str] = mapped_column(sa.String(50), default="")
    # Outbound email: the Reply-To with the conversation's signed token, and which signature
    # (first_contact or reply; empty when the account has none) was added to the body.
    reply_to: Mapped[str] = mapped_column(sa.String(320), default="")
    signature_kind: Mapped[str] = mapped_column(sa.String(20), default="")
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Path under the attachments directory; the bytes live on disk, not in the database.
    storage_key: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


class OutboxJob(Base):
    """The durable send queue: one row per outbound message, written in the message's transaction."""

    __tablename__ = "outbox_job"
    __table_args__ = (sa.Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    # The key the channel uses to make delivery idempotent (e.g. the Message-ID header).
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    state: Mapped[OutboxState] = mapped_column(
        _enum(OutboxState, "outbox_state"), default=OutboxState.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str] = mapped_column(sa.String(100), default="")
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Committed by the holder just before the one step that may deliver the message (SMTP:
    # DATA) and cleared with the outcome: a lapsed job that has it was maybe sent, one without
    # it surely was not (0014_outbox_handover).
    handing_over_at: Mapped[datetime | None]


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_owner", "account_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(50))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    conversation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("conversation.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id", ondelete="CASCADE"))
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One change as one user sees it. `seq` is per account and follows commit order."""

    __tablename__ = "event"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "seq", name="uq_event_account_seq"),
        sa.Index("ix_event_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuppressedAddress(Base):
    """An address we must not email again (a hard bounce), until an admin resets it."""

    __tablename__ = "suppressed_address"

    address: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    source_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- workflows: lead queues, tasks, snippets ---


class SavedView(Base):
    """A user's named lead queue: criteria over leads and their prospects, in the user's order."""

    __tablename__ = "saved_view"
    __table_args__ = (sa.Index("ix_saved_view_owner", "account_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    # A QueueCriteria as JSON; validated on the way in, so reading it back cannot fail.
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sort: Mapped[str] = mapped_column(sa.String(32), default="newest")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Task(Base):
    """A to-do on a prospect. Its status (incomplete, overdue, complete) is derived, never stored."""

    __tablename__ = "task"
    __table_args__ = (
        sa.Index("ix_task_assignee_open", "assignee_id", "completed_at", "due_at"),
        sa.Index("ix_task_overdue_scan", "completed_at", "overdue_notified_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(
        sa.ForeignKey("prospect.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(sa.Text)
    due_at: Mapped[datetime]
    assignee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime | None]
    # Set by the one scheduler pass that wins the conditional UPDATE: the assignee hears once.
    overdue_notified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Snippet(Base):
    """Shared canned text with merge fields such as {first_name}."""

    __tablename__ = "snippet"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# Lead queues sort by creation time, most often within one follow-up status (Not Contacted);
# the criteria columns ride along so counts and filtered pages are read from the index alone.
sa.Index("ix_lead_created", Lead.created_at, Lead.id)
sa.Index(
    "ix_lead_queue",
    Lead.follow_up_status,
    Lead.created_at,
    Lead.id,
    Lead.lead_type,
    Lead.source,
    Lead.category,
    Lead.purchase_timeframe,
    Lead.dealer,
)


# --- email inbound ---


class Mailbox(Base):
    """An IMAP mailbox we watch: how far it has been read, and which process holds its lease."""

    __tablename__ = "mailbox"

    name: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    # Progress is UIDVALIDITY + last UID; advanced in the transaction that stores the mail.
    uidvalidity: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    holder: Mapped[str] = mapped_column(sa.String(200), default="")
    lease_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundFailure(Base):
    """Mail that was fetched but could not be placed in a conversation, kept raw with why."""

    __tablename__ = "inbound_failure"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox: Mapped[str] = mapped_column(sa.String(500), default="")
    message_id_header: Mapped[str] = mapped_column(sa.String(998), unique=True)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- search ---
# The message grid filters on the date and on prospect names typed in any case; the full-text
# index itself (FTS5 table or tsvector column) is made by the search migration, outside the ORM.
sa.Index("ix_message_created_at", Message.created_at)
sa.Index(
    "ix_message_search_filters",
    Message.created_at,
    Message.channel,
    Message.direction,
    Message.author_account_id,
    Message.id,
)
# An account's messages newest first, for the grid's account filter and the foreign key (0012).
sa.Index("ix_message_author", Message.author_account_id, Message.id)
sa.Index("ix_prospect_first_name_lower", sa.func.lower(Prospect.first_name))
sa.Index("ix_prospect_last_name_lower", sa.func.lower(Prospect.last_name))
sa.Index(
    "ix_prospect_names_lower", sa.func.lower(Prospect.last_name), sa.func.lower(Prospect.first_name)
)


# --- email outbound ---


class RecipientStatus(enum.StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"


class RecipientOutcome(Base):
    """How the last delivery attempt (or a later bounce) went for one recipient of a message."""

    __tablename__ = "recipient_outcome"

    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(3))  # to, cc or bcc
    status: Mapped[RecipientStatus] = mapped_column(_enum(RecipientStatus, "recipient_status"))
    # The server's reply (e.g. "550 5.1.1 no such user"), or the bounce's diagnostic.
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- sms consent ---


class SmsConsent(enum.StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class SmsConsentChange(Base):
    """One entry of the append-only SMS consent ledger; a prospect's consent is their latest."""

    __tablename__ = "sms_consent_change"
    __table_args__ = (sa.Index("ix_sms_consent_prospect", "prospect_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    prospect_id: Mapped[int] = mapped_column(sa.ForeignKey("prospect.id", ondelete="CASCADE"))
    consent: Mapped[SmsConsent] = mapped_column(_enum(SmsConsent, "sms_consent"))
    # Where it came from: manual, keyword, provider (e.g. error 21610), import, demo.
    source: Mapped[str] = mapped_column(sa.String(50))
    # The account that changed it by hand; None when the prospect or the provider did.
    actor_account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account.id", ondelete="SET NULL")
    )
    phone_e164: Mapped[str] = mapped_column(sa.String(20), default="")
    # The keyword, the provider's error, or the CMU's note.
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneLookup(Base):
    """What a lookup (or the provider's own reports) says of a number, overriding its type."""

    __tablename__ = "phone_lookup"

    e164: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    can_text: Mapped[bool]
    line_type: Mapped[str] = mapped_column(sa.String(50), default="")
    source: Mapped[str] = mapped_column(sa.String(50))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- sms inbound ---


class InboundSmsState(enum.StrEnum):
    PENDING = "pending"
    PLACED = "placed"
    FAILED = "failed"


class InboundSmsRequest(Base):
    """A provider's inbound-text webhook as it arrived, verified and kept before it is answered;
    the placer threads it (fetching its media) in the background, exactly once."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        sa.Index("ix_inbound_sms_due", "state", "next_attempt_at"),
        # The placer takes a number's texts in the order they came.
        sa.Index("ix_inbound_sms_from", "from_number", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The provider's id (Twilio's MessageSid): a retried webhook is the same row.
    sid: Mapped[str] = mapped_column(sa.String(200), unique=True)
    # The sender as the provider wrote it (not normalized).
    from_number: Mapped[str] = mapped_column(sa.String(100), default="")
    # The form fields, as signed.
    params: Mapped[dict[str, Any]]
    state: Mapped[InboundSmsState] = mapped_column(
        _enum(InboundSmsState, "inbound_sms_state"), default=InboundSmsState.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str] = mapped_column(sa.String(100), default="")
    claimed_until: Mapped[datetime | None]
    # Why the last attempt did not place it (or, once placed, the media it could not keep).
    error: Mapped[str] = mapped_column(sa.Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    placed_at: Mapped[datetime | None]
    # The message it became; None while pending, or for a text that was already recorded.
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id", ondelete="SET NULL"))
