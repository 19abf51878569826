"""The email tables."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from inbox.core.model import Base, BigId, utcnow


class SuppressedAddress(Base):
    """An address we must not email again (a hard bounce), until an admin resets it."""

    __tablename__ = "suppressed_address"

    address: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    source_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
