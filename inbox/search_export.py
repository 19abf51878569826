"""The search grid as CSV: the whole filtered set, streamed in keyset batches (flat memory)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.access import Actor, check_staff
from inbox.search import (
    Criteria,
    MessageSearch,
    Row,
    backend_for,
    check_search,
    deep_link,
    load_rows,
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
BATCH = 2000
BOM = "\ufeff"


def neutralize(cell: str) -> str:
    """A cell that a spreadsheet would run as a formula, made inert with a leading quote."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _record(row: Row) -> list[str]:
    return [
        row.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        row.direction.value,
        row.channel.value,
        row.account_name,
        row.prospect_name,
        row.prospect_email,
        row.subject,
        row.body_text,
        str(row.conversation_id),
        str(row.message_id),
        deep_link(row.conversation_id, row.message_id),
    ]


def csv_chunk(rows: list[list[str]]) -> str:
    """CSV text (CRLF lines, as RFC 4180 has it) for these records, every cell neutralized."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([neutralize(cell) for cell in record] for record in rows)
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
    while True:
        ids = await backend.find_ids(session, criteria, before=before, limit=BATCH)
        if not ids:
            return
        rows = await load_rows(session, ids, body_chars=CELL_CHARS)
        # Formatting a batch is CPU work; keep it off the event loop.
        yield await asyncio.to_thread(csv_chunk, [_record(r) for r in rows])
        # Each batch is its own short read, so the export never pins a snapshot for minutes.
        await session.commit()
        before = ids[-1]
