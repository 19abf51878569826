"""The sms tables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, _enum, utcnow


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
