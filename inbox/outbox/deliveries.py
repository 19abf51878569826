"""Delivery outcomes per recipient of an outbound message: sent, deferred or failed, with the
server's reply. Written by the send queue after each attempt, and by bounce handling later."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.model import utcnow
from inbox.core.ports import RecipientResult
from inbox.outbox.models import RecipientOutcome, RecipientStatus


class RecipientOutcomeRead(msgspec.Struct, kw_only=True):
    address: str
    kind: str
    status: RecipientStatus
    detail: str
    updated_at: datetime


def _read(row: RecipientOutcome) -> RecipientOutcomeRead:
    return RecipientOutcomeRead(
        address=row.address,
        kind=row.kind,
        status=row.status,
        detail=row.detail,
        updated_at=row.updated_at,
    )


def kinds_of(recipients: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Address -> to, cc or bcc, from a message's `recipients`."""
    out: dict[str, str] = {}
    for kind in ("bcc", "cc", "to"):  # an address given twice counts as its most visible kind
        for address in recipients.get(kind, []):
            out[address.lower()] = kind
    return out


async def do_record_outcomes(
    session: AsyncSession,
    message_id: int,
    recipients: Mapping[str, Sequence[str]],
    results: Iterable[RecipientResult],
    now: datetime | None = None,
) -> list[RecipientOutcomeRead]:
    """Record (or overwrite) each recipient's latest outcome, in this transaction."""
    kinds = kinds_of(recipients)
    at = now or utcnow()
    out = []
    for result in results:
        address = result.address.lower()
        row = await session.get(RecipientOutcome, (message_id, address))
        if row is None:
            row = RecipientOutcome(message_id=message_id, address=address)
            session.add(row)
        row.kind = kinds.get(address, "to")
        row.status, row.detail, row.updated_at = result.status, result.detail[:2000], at
        out.append(row)
    await session.flush()
    return [_read(r) for r in out]


async def list_outcomes(
    session: AsyncSession, message_ids: list[int]
) -> dict[int, list[RecipientOutcomeRead]]:
    """Outcomes of these messages: To, then Cc, then Bcc, each by address."""
    if not message_ids:
        return {}
    order = sa.case({"to": 0, "cc": 1, "bcc": 2}, value=RecipientOutcome.kind, else_=3)
    rows = await session.scalars(
        sa.select(RecipientOutcome)
        .where(RecipientOutcome.message_id.in_(message_ids))
        .order_by(RecipientOutcome.message_id, order, RecipientOutcome.address)
    )
    out: dict[int, list[RecipientOutcomeRead]] = {}
    for row in rows:
        out.setdefault(row.message_id, []).append(_read(row))
    return out
