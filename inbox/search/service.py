"""The message search grid: filters, full-text keywords, bold highlights, keyset pages.

One interface, `SearchBackend`, with two implementations in `inbox/search/backends.py` (the
parsed query they both read is in `inbox/search/query.py`): SQLite
FTS5 (an external-content table kept in step by triggers) and PostgreSQL (a generated tsvector
column with a GIN index). Both see the same parsed query, so websearch syntax means the same on
either: words, "exact phrases", `or` between terms and `-excluded` terms.
"""

from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account
from inbox.contacts.models import PhoneKind, Prospect, ProspectEmail, ProspectPhone
from inbox.contacts.phones import try_parse_phone
from inbox.conversations.models import Channel, Conversation, Direction, Message
from inbox.core.access import Actor, check_staff
from inbox.core.schemas import Input, Page
from inbox.errors import ValidationFailed
from inbox.search.backends import PostgresSearch, SqliteSearch
from inbox.search.query import MARK_END, MARK_START, Criteria, Keywords

PAGE_SIZES = (20, 50, 100)
PREVIEW_CHARS = 200

Text = Annotated[str, msgspec.Meta(max_length=200)]


class MessageSearch(Input):
    """The grid's filters; every one is optional and they combine with AND."""

    q: Text = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    account_id: int | None = None
    channel: Channel | None = None
    direction: Direction | None = None
    first_name: Text = ""
    last_name: Text = ""
    email: Text = ""
    home_phone: Text = ""
    work_phone: Text = ""
    mobile_phone: Text = ""


TEXT_FILTERS = (
    "q",
    "first_name",
    "last_name",
    "email",
    "home_phone",
    "work_phone",
    "mobile_phone",
)


class SearchHit(msgspec.Struct, kw_only=True):
    """One row of the grid. `subject_html` and `snippet_html` are escaped text with <b> marks."""

    message_id: int
    conversation_id: int
    prospect_id: int
    link: str
    date: datetime
    direction: Direction
    channel: Channel
    account_id: int | None
    account_name: str
    prospect_name: str
    subject_html: str
    snippet_html: str


@dataclass(frozen=True, slots=True)
class Row:
    """What a page or an export needs of one message, with the marked-up texts."""

    message_id: int
    conversation_id: int
    prospect_id: int
    created_at: datetime
    direction: Direction
    channel: Channel
    account_id: int | None
    account_name: str
    prospect_name: str
    prospect_email: str
    subject: str
    body_text: str


class SearchBackend(Protocol):
    """A full-text engine: finds message ids newest first, and marks matches on a page."""

    async def find_ids(
        self, session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int
    ) -> list[int]:
        """Ids of matching messages below `before`, highest (newest) first."""
        ...

    async def marks(
        self, session: AsyncSession, keywords: Keywords, ids: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        """For each id: (subject, body snippet) with matches between MARK_START and MARK_END."""
        ...

    def ids_in(
        self, column: sa.orm.InstrumentedAttribute[int], ids: Sequence[int]
    ) -> sa.ColumnElement[bool]:
        """`column IN ids` as one parameter, however many ids."""
        ...

    def mark_columns(
        self, keywords: Keywords
    ) -> tuple[sa.ColumnElement[str], sa.ColumnElement[str]] | None:
        """The marked subject and snippet as columns of the page's row query, when this
        engine can compute them there (one statement fewer than `marks`); else None."""
        ...


_TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_keywords(query: str) -> Keywords | None:
    """Websearch syntax: words, "quoted phrases", `or` between terms, `-term` to exclude."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    pending_or = False
    for match in _TERM.finditer(query):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None:
            if bare.lower() == "or" and groups:
                pending_or = True
                continue
            negated = "-" if bare.startswith("-") else ""
            quoted = bare.lstrip("-").replace('"', "")
        text = " ".join(quoted.split())
        if not re.search(r"\w", text):
            continue
        if negated:
            excluded.append(text)
        elif pending_or:
            groups[-1].append(text)
        else:
            groups.append([text])
        pending_or = False
    if not groups and excluded:
        raise ValidationFailed.field("q", "say what to look for, not only what to leave out")
    if not groups:
        return None
    return Keywords(tuple(tuple(g) for g in groups), tuple(excluded))


def _prefix(column: sa.orm.InstrumentedAttribute[str], typed: str) -> sa.ColumnElement[bool]:
    # A range on lower(column) uses the expression index and gives the planner a true row
    # estimate (adding a LIKE made PostgreSQL think a common first name 50 times rarer and pick a
    # 200 ms plan). It is an exact prefix in code point order: SQLite, PostgreSQL under the C
    # collation. Other collations may also let in names with punctuation inside the prefix.
    low = typed.strip().lower()
    high = low[:-1] + chr(ord(low[-1]) + 1)
    lowered = sa.func.lower(column)
    return sa.and_(lowered >= low, lowered < high)


def _prospect_conditions(search: MessageSearch, region: str) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if search.first_name.strip():
        conditions.append(_prefix(Prospect.first_name, search.first_name))
    if search.last_name.strip():
        conditions.append(_prefix(Prospect.last_name, search.last_name))
    if search.email.strip():
        conditions.append(
            Prospect.id.in_(
                sa.select(ProspectEmail.prospect_id).where(
                    ProspectEmail.email == search.email.strip().lower()
                )
            )
        )
    for kind, typed, field in (
        (PhoneKind.HOME, search.home_phone, "home_phone"),
        (PhoneKind.WORK, search.work_phone, "work_phone"),
        (PhoneKind.MOBILE, search.mobile_phone, "mobile_phone"),
    ):
        if not typed.strip():
            continue
        e164 = try_parse_phone(typed, region)
        if e164 is None:
            raise ValidationFailed.field(field, f"{typed!r} is not a phone number")
        conditions.append(
            Prospect.id.in_(
                sa.select(ProspectPhone.prospect_id).where(
                    ProspectPhone.kind == kind, ProspectPhone.e164 == e164
                )
            )
        )
    return conditions


def check_search(search: MessageSearch, *, region: str) -> Criteria:
    """Validate the filters and turn them into conditions on `message`."""
    conditions: list[sa.ColumnElement[bool]] = []
    for name in ("date_from", "date_to"):
        value = getattr(search, name)
        if value is not None and value.tzinfo is None:
            raise ValidationFailed.field(name, "give a time zone (e.g. Z or +02:00)")
    for name in TEXT_FILTERS:
        # PostgreSQL refuses NUL in a parameter and SQLite's MATCH reads it as the end of the
        # query; either way the grid (or an export, after its header) would fail mid-way.
        if "\x00" in getattr(search, name):
            raise ValidationFailed.field(name, "must not contain the NUL character (\\u0000)")
    if search.date_from is not None:
        conditions.append(Message.created_at >= search.date_from)
    if search.date_to is not None:
        conditions.append(Message.created_at < search.date_to)
    if search.account_id is not None:
        conditions.append(Message.author_account_id == search.account_id)
    if search.channel is not None:
        conditions.append(Message.channel == search.channel)
    if search.direction is not None:
        conditions.append(Message.direction == search.direction)
    prospects = conversations = None
    names = None
    prospect_conditions = _prospect_conditions(search, region)
    first, last = search.first_name.strip().lower(), search.last_name.strip().lower()
    if (first or last) and len(prospect_conditions) == bool(first) + bool(last):
        names = (first, last)
    if prospect_conditions:
        prospects = sa.select(Prospect.id).where(*prospect_conditions)
        conversations = sa.select(Conversation.id).where(Conversation.prospect_id.in_(prospects))
    return Criteria(
        tuple(conditions),
        parse_keywords(search.q),
        prospects,
        conversations,
        date_from=search.date_from,
        date_to=search.date_to,
        names=names,
    )


def marked_html(marked: str) -> str:
    """Escape the text, then turn the markers into <b>/</b>. Markers that were already in the
    message itself can only ever produce balanced <b> tags, never other markup."""
    # Neighbouring matches read as one bold run, whichever backend marked them one by one.
    marked = re.sub(f"{MARK_END}(\\s+){MARK_START}", r"\1", marked)
    out: list[str] = []
    bold = False
    for part in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if part == MARK_START:
            if not bold:
                out.append("<b>")
            bold = True
        elif part == MARK_END:
            if bold:
                out.append("</b>")
            bold = False
        else:
            out.append(html.escape(part, quote=True))
    if bold:
        out.append("</b>")
    return "".join(out)


def deep_link(conversation_id: int, message_id: int) -> str:
    """Where a result opens: the prospect's conversation, scrolled to this message."""
    return f"/#/conversations/{conversation_id}?message={message_id}"


def encode_cursor(message_id: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([message_id])).decode().rstrip("=")


def decode_cursor(raw: str) -> int:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        (message_id,) = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=tuple[int])
    except (ValueError, msgspec.DecodeError):
        raise ValidationFailed.field("cursor", "not a cursor this server gave out") from None
    return message_id


def _first_email() -> sa.ScalarSelect[str]:
    return (
        sa.select(ProspectEmail.email)
        .where(ProspectEmail.prospect_id == Prospect.id)
        .order_by(ProspectEmail.position)
        .limit(1)
        .scalar_subquery()
    )


# The columns `load_raw` returns, by position.
R_ID, R_CONVERSATION, R_PROSPECT, R_CREATED, R_DIRECTION, R_CHANNEL, R_ACCOUNT_ID = range(7)
R_ACCOUNT, R_FIRST, R_LAST, R_EMAIL, R_SUBJECT, R_BODY = range(7, 13)
R_MARKS = 13  # the first of `load_rows`'s two mark columns, when asked for


@functools.cache
def _raw_select(body_chars: int) -> Any:
    # Built once per length: building this select took a third of a millisecond a page.
    return (
        sa.select(
            Message.id,
            Message.conversation_id,
            Prospect.id,
            Message.created_at,
            # Their stored values: an export skips building 200,000 enum members.
            sa.type_coerce(Message.direction, sa.String),
            sa.type_coerce(Message.channel, sa.String),
            Message.author_account_id,
            Account.name,
            Prospect.first_name,
            Prospect.last_name,
            _first_email(),
            Message.subject,
            sa.func.substr(Message.body_text, 1, body_chars),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Prospect, Prospect.id == Conversation.prospect_id)
        .outerjoin(Account, Account.id == Message.author_account_id)
    )


async def load_raw(
    session: AsyncSession,
    backend: SearchBackend,
    ids: Sequence[int],
    *,
    body_chars: int,
    extra: Sequence[sa.ColumnElement[Any]] = (),
) -> list[Any]:
    """The grid's columns for these messages as plain rows (positions R_*, then `extra`), in
    no set order. Core rows and one list parameter: an export reads 100,000 of them."""
    if not ids:
        return []
    connection = await session.connection()
    query = _raw_select(body_chars)
    if extra:
        query = query.add_columns(*extra)
    query = query.where(backend.ids_in(Message.id, ids))
    return list((await connection.execute(query)).all())


async def load_raw_filtered(
    session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int, body_chars: int
) -> list[Any]:
    """Without keywords or prospect filters, the grid's columns of the newest `limit` messages
    below `before` that pass the filters, newest first, in one statement: an export then reads
    each message's row once, not once to find it and again to load it."""
    assert criteria.keywords is None and criteria.prospects is None
    query = _raw_select(body_chars).where(*criteria.conditions)
    if before is not None:
        query = query.where(Message.id < before)
    connection = await session.connection()
    result = await connection.execute(query.order_by(Message.id.desc()).limit(limit))
    return list(result.all())


def prospect_name(r: Any) -> str:
    return f"{r[R_FIRST]} {r[R_LAST]}".strip() or r[R_EMAIL] or f"Prospect {r[R_PROSPECT]}"


async def load_rows(
    session: AsyncSession,
    backend: SearchBackend,
    ids: Sequence[int],
    *,
    body_chars: int,
    marks: tuple[sa.ColumnElement[str], sa.ColumnElement[str]] | None = None,
) -> tuple[list[Row], dict[int, tuple[str, str]]]:
    """The grid's columns for these messages, in the order of `ids`, and the `marks` columns
    (marked subject and snippet) by id when asked for."""
    rows: dict[int, Row] = {}
    marked: dict[int, tuple[str, str]] = {}
    for r in await load_raw(session, backend, ids, body_chars=body_chars, extra=marks or ()):
        if marks is not None:
            marked[r[R_ID]] = (r[R_MARKS] or "", r[R_MARKS + 1] or "")
        rows[r[R_ID]] = Row(
            message_id=r[R_ID],
            conversation_id=r[R_CONVERSATION],
            prospect_id=r[R_PROSPECT],
            created_at=r[R_CREATED],
            direction=Direction(r[R_DIRECTION]),
            channel=Channel(r[R_CHANNEL]),
            account_id=r[R_ACCOUNT_ID],
            account_name=r[R_ACCOUNT] or "",
            prospect_name=prospect_name(r),
            prospect_email=r[R_EMAIL] or "",
            subject=r[R_SUBJECT],
            body_text=r[R_BODY] or "",
        )
    return [rows[i] for i in ids if i in rows], marked


def backend_for(session: AsyncSession) -> SearchBackend:
    """The engine that matches the session's database."""
    if session.get_bind().dialect.name == "sqlite":
        return SqliteSearch()
    return PostgresSearch()


def _hit(row: Row, marks: tuple[str, str] | None) -> SearchHit:
    if marks is None:
        subject, snippet = row.subject, " ".join(row.body_text.split())[:PREVIEW_CHARS]
    else:
        subject, snippet = marks
    return SearchHit(
        message_id=row.message_id,
        conversation_id=row.conversation_id,
        prospect_id=row.prospect_id,
        link=deep_link(row.conversation_id, row.message_id),
        date=row.created_at,
        direction=row.direction,
        channel=row.channel,
        account_id=row.account_id,
        account_name=row.account_name,
        prospect_name=row.prospect_name,
        subject_html=marked_html(subject),
        snippet_html=marked_html(" ".join(snippet.split())),
    )


async def search_messages(
    session: AsyncSession,
    actor: Actor,
    search: MessageSearch,
    *,
    region: str,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SearchHit]:
    """One page of matching messages, newest first (ids grow with time), with every matched
    word in bold. The cursor is the last id shown, so new messages never shift later pages."""
    check_staff(actor)
    if limit not in PAGE_SIZES:
        raise ValidationFailed.field("limit", "must be 20, 50 or 100")
    criteria = check_search(search, region=region)
    before = decode_cursor(cursor) if cursor else None
    backend = backend_for(session)
    ids = await backend.find_ids(session, criteria, before=before, limit=limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    # Highlighting is the costly part: only the page's rows get it, never the whole match set.
    keywords = criteria.keywords
    columns = backend.mark_columns(keywords) if keywords is not None else None
    rows, marks = await load_rows(
        session, backend, ids, body_chars=PREVIEW_CHARS * 2, marks=columns
    )
    if keywords is not None and columns is None:
        marks = await backend.marks(session, keywords, ids)
    items = [_hit(row, marks.get(row.message_id)) for row in rows]
    return Page(items=items, next_cursor=encode_cursor(ids[-1]) if more and ids else None)
