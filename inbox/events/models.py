"""The events tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, utcnow


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
