"""The contacts tables."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inbox.core.model import Base, BigId, _enum, utcnow


class ProspectKind(enum.StrEnum):
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    SERVICE_CUSTOMER = "service_customer"


class PhoneKind(enum.StrEnum):
    HOME = "home"
    WORK = "work"
    MOBILE = "mobile"


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


sa.Index("ix_prospect_first_name_lower", sa.func.lower(Prospect.first_name))


sa.Index("ix_prospect_last_name_lower", sa.func.lower(Prospect.last_name))


sa.Index(
    "ix_prospect_names_lower", sa.func.lower(Prospect.last_name), sa.func.lower(Prospect.first_name)
)
