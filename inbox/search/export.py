"""The search grid as CSV: the whole filtered set, streamed in keyset batches (flat memory)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor, check_staff
from inbox.search.query import Criteria
from inbox.search.service import (
    R_ACCOUNT,
    R_BODY,
    R_CHANNEL,
    R_CONVERSATION,
    R_CREATED,
    R_DIRECTION,
    R_EMAIL,
    R_ID,
    R_SUBJECT,
    MessageSearch,
    backend_for,
    check_search,
    deep_link,
    load_raw,
    load_raw_filtered,
    prospect_name,
)

COLUMNS = (
    "date",
    "direction",
    "type",
    "account",
    "prospect",
    "prospect_email",
    "subject",
    "text",
    "conversation_id",
    "message_id",
    "link",
)
# A spreadsheet reads a cell starting with one of these as a formula (or strips it into one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheet programs cut a cell at 32,767 characters; a long email's text stops here.
CELL_CHARS = 32_000
# Rows per batch: from the first up to the last, as many as about BATCH_CHARS characters of text
# (long emails make small batches, so memory stays flat; SMS make large ones, fewer round trips).
BATCH_ROWS = (1000, 5000)
BATCH_CHARS = 4_000_000
BOM = "\ufeff"


def neutralize(cell: str) -> str:
    """A cell that a spreadsheet would run as a formula, made inert with a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_chunk(rows: list[list[str]]) -> str:
    """CSV text (CRLF lines, as RFC 4180 has it) for these records, every cell neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([neutralize(cell) for cell in record] for record in rows)
    return buffer.getvalue()


def _utc(moment: datetime) -> str:
    # isoformat is C code; strftime cost more than the rest of a record.
    return moment.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


def records_chunk(rows: list[Any]) -> str:
    """CSV text for these rows (positions R_* of `load_raw`), newest first. Only the free-text
    cells can start like a formula; dates, fixed words, ids and links never do."""
    rows.sort(key=itemgetter(R_ID), reverse=True)
    buffer = io.StringIO()
    write = csv.writer(buffer).writerow
    for r in rows:
        email = r[R_EMAIL] or ""
        write(
            (
                _utc(r[R_CREATED]),
                r[R_DIRECTION],
                r[R_CHANNEL],
                neutralize(r[R_ACCOUNT] or ""),
                neutralize(prospect_name(r)),
                neutralize(email),
                neutralize(r[R_SUBJECT]),
                neutralize(r[R_BODY] or ""),
                str(r[R_CONVERSATION]),
                str(r[R_ID]),
                deep_link(r[R_CONVERSATION], r[R_ID]),
            )
        )
    return buffer.getvalue()


def check_export(actor: Actor, search: MessageSearch, *, region: str) -> Criteria:
    """The same access and filters as the grid; checked before the first byte is sent."""
    check_staff(actor)
    return check_search(search, region=region)


async def stream_export(session: AsyncSession, criteria: Criteria) -> AsyncIterator[str]:
    """The BOM and header, then every matching message newest first, a batch at a time."""
    yield BOM + csv_chunk([list(COLUMNS)])
    backend = backend_for(session)
    before: int | None = None
    size = BATCH_ROWS[0]
    # While one batch is formatted in a thread, the next one is read: at most two in memory.
    formatting: asyncio.Future[str] | None = None
    try:
        while True:
            if criteria.keywords is None and criteria.prospects is None:
                rows = await load_raw_filtered(
                    session, criteria, before=before, limit=size, body_chars=CELL_CHARS
                )
                ids = [r[R_ID] for r in rows]
            else:
                ids = await backend.find_ids(session, criteria, before=before, limit=size)
                rows = await load_raw(session, backend, ids, body_chars=CELL_CHARS)
            # Each batch is its own short read, so the export never pins a snapshot for minutes.
            await session.commit()
            if formatting is not None:
                yield await formatting
            if not ids:
                return
            formatting = asyncio.ensure_future(asyncio.to_thread(records_chunk, rows))
            before = ids[-1]
            chars = sum(len(r[R_BODY] or "") + len(r[R_SUBJECT]) for r in rows) or 1
            size = max(BATCH_ROWS[0], min(BATCH_ROWS[1], BATCH_CHARS * len(rows) // chars))
    finally:
        if formatting is not None:
            formatting.cancel()
