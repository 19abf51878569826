"""The conversations tables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, _enum, utcnow


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
    # The whole MIME source: read only when asked for by name (`select(Message.raw)`).
    raw: Mapped[bytes | None] = mapped_column(
        sa.LargeBinary, deferred=True, deferred_raiseload=True
    )
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
