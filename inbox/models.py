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
