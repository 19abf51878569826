"""The outbox tables."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.conversations.models import Channel
from inbox.core.model import Base, BigId, _enum, utcnow


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
