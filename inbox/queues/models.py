"""The queues tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, utcnow


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
