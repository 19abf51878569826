"""The tasks tables."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, utcnow


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
