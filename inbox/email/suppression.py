"""The suppression list: hard-bounced addresses are not emailed again until an admin resets them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor, check_admin
from inbox.core.model import utcnow
from inbox.email.models import SuppressedAddress
from inbox.errors import NotFound


class SuppressionRead(msgspec.Struct, kw_only=True):
    address: str
    reason: str
    source_message_id: int | None
    created_at: datetime


def _read(row: SuppressedAddress) -> SuppressionRead:
    return SuppressionRead(
        address=row.address,
        reason=row.reason,
        source_message_id=row.source_message_id,
        created_at=row.created_at,
    )


async def do_suppress(
    session: AsyncSession, address: str, reason: str, source_message_id: int | None = None
) -> None:
    """Put an address on the list (again: the newest reason wins)."""
    address = address.strip().lower()
    row = await session.get(SuppressedAddress, address)
    if row is None:
        session.add(
            SuppressedAddress(
                address=address,
                reason=reason,
                source_message_id=source_message_id,
                created_at=utcnow(),
            )
        )
    else:
        row.reason, row.source_message_id = reason, source_message_id
    await session.flush()


async def suppressed_among(session: AsyncSession, addresses: Iterable[str]) -> dict[str, str]:
    """The suppressed ones among `addresses`, with why."""
    wanted = {a.strip().lower() for a in addresses}
    if not wanted:
        return {}
    rows = await session.scalars(
        sa.select(SuppressedAddress).where(SuppressedAddress.address.in_(wanted))
    )
    return {r.address: r.reason for r in rows}


async def list_suppressed(session: AsyncSession, actor: Actor) -> list[SuppressionRead]:
    check_admin(actor)
    rows = await session.scalars(sa.select(SuppressedAddress).order_by(SuppressedAddress.address))
    return [_read(r) for r in rows]


async def do_reset_suppression(session: AsyncSession, actor: Actor, address: str) -> None:
    """An admin lets an address be emailed again."""
    check_admin(actor)
    row = await session.get(SuppressedAddress, address.strip().lower())
    if row is None:
        raise NotFound(f"{address} is not suppressed.")
    await session.delete(row)
    await session.flush()
