"""The leads tables."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, _enum, utcnow


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
