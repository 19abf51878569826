"""The two full-text engines behind `inbox.search.SearchBackend`.

SQLite: an FTS5 table over `message` (external content, triggers keep it in step). Walking it by
rowid from the top stops at the page size whatever the term's frequency.

PostgreSQL: a generated tsvector column with a GIN index. The planner has two shapes and picks
badly on its own for rare terms (it walks the id index hoping to meet a match soon): we ask it
how many rows the term matches and, for rare ones, fence the GIN look-up in a MATERIALIZED CTE.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from inbox.contacts.models import Prospect
from inbox.conversations.models import Conversation, Message
from inbox.search.query import MARK_END, MARK_START, Criteria, Keywords

SNIPPET_WORDS = 24
SHORT_BODY = 200
# A prospect filter that matches at most this many prospects is resolved to their conversations'
# ids first (the prefix indexes on the lower-cased names find them); more than that, and it stays
# a subquery checked against each message the keyword walk meets.
PROSPECT_CAP = 3000
# When the resolved conversations hold about this many messages or fewer (estimated from the
# average messages per conversation), the search starts from them and checks each against the
# keywords; beyond it, walking the keyword's hits newest first meets a page of them sooner. The
# two cost the same near 6,000 of 1,000,000 messages on SQLite (gathering a candidate from the
# conversation index about 1.7 us, walking a keyword hit and reading its message about 1.4 us).
NARROW_MESSAGES = 6000
# SQLite checks candidates against FTS5 by walking the term's doclist over a rowid range (about
# 60 ns an entry); a seek on its own costs about 70 us, so candidates closer than this many
# rowids share one range.
SQLITE_GAP = 2000
# For candidates, the gap is set by the query's share of hits among the newest SQLITE_SAMPLE
# rowids: a seek costs about as much as walking SQLITE_SEEK_ENTRIES doclist entries (50 us
# against 90 ns each), so a rare word walks one range and a common one seeks more often.
SQLITE_SAMPLE = 2000
SQLITE_SEEK_ENTRIES = 550
# Candidates gathered per query, newest first, before they are checked a slice at a time.
SQLITE_GATHER = 6000
# Up to this many ids (a page of the largest size and one more), a walk that can mark its hits
# as it finds them does so; an export's batches are larger and need no marks.
SQLITE_MARK_WITH_IDS = 101
SQLITE_RANGES = 200
# The share of all messages up to which PostgreSQL reads every hit through GIN and sorts them,
# rather than walking the newest messages until a page of hits turns up. A word missing from
# the column's most-common-elements statistics is estimated at exactly this share.
PG_RARE = 0.005
# How many of the newest messages a rare-looking search looks through before it reads all hits.
PG_PROBE = 5000
# Keywords with name prefixes: when the page's hits look to lie among this many of the newest
# messages (estimated from the planner's count of rows matching both), they are walked newest
# first; otherwise GIN intersects the word and the names and the hits are sorted. At 1,000,000
# messages a walk costs about 0.7 us a message and a hit read through GIN about 1.2 us, so the
# two meet near 5,000 hits (a walk of 10,000 messages for a page of 50).
PG_NAMES_WALK = 10_000
# Migration 0011 gives each message a lexeme naming its block of 2**RECENCY_SHIFT ids. GIN
# reads one block's hits of a word and a name in about 0.4 ms (an OR of blocks in one scan is
# several times slower, so each block is a branch of its own): up to PG_BLOCKS blocks are read
# when they should hold PG_BLOCKS_MARGIN pages of hits.
RECENCY_SHIFT = 15
PG_BLOCKS = 6
PG_BLOCKS_MARGIN = 1.5


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_query(keywords: Keywords, names: tuple[str, str] | None = None) -> str:
    """The FTS5 MATCH expression; every term is a quoted string, so no input is syntax. The
    keywords look in the subject and body only; `names` (first, last lower-cased prefixes, ''
    for none) are matched as prefixes of the name tokens that migration 0009 indexes."""
    groups = ["(" + " OR ".join(_quote(t) for t in group) + ")" for group in keywords.groups]
    expression = " AND ".join(groups)
    if keywords.excluded:
        expression += " NOT (" + " OR ".join(_quote(t) for t in keywords.excluded) + ")"
    expression = "{subject body_text} : (" + expression + ")"
    for column, prefix in zip(("first_name", "last_name"), names or ("", ""), strict=True):
        if prefix:
            expression += f" AND {{{column}}} : {_quote(name_token(prefix))}*"
    return expression


def name_token(name: str) -> str:
    """A lower-cased name as migration 0009 indexes it: its UTF-8 bytes in hex, E as G (the
    tokenizer folds case, and the Porter stemmer finds no suffix to strip in these letters)."""
    return name.encode().hex().replace("e", "g")


def pg_names_query(names: tuple[str, str]) -> str | None:
    """The `tsquery` for lower-cased first and last name prefixes ('' for none) as migration
    0010 indexes them (each prefix of a name is one lexeme: 'f' or 'l' and its UTF-8 bytes in
    hex, so no input is syntax), or None when a prefix is longer than any stored name."""
    lexemes = []
    for kind, prefix, column in zip(
        "fl", names, (Prospect.first_name, Prospect.last_name), strict=True
    ):
        if not prefix:
            continue
        if len(prefix) > column.type.length:
            return None
        lexemes.append(kind + prefix.encode().hex())
    return " & ".join(lexemes)


def websearch_query(keywords: Keywords) -> str:
    """The same query rebuilt for `websearch_to_tsquery`, each term quoted."""
    parts = [" or ".join(f'"{t}"' for t in group) for group in keywords.groups]
    parts += [f'-"{t}"' for t in keywords.excluded]
    return " ".join(parts)


_FTS = sa.table("message_fts", sa.column("rowid", sa.Integer))
_MATCH = sa.text("message_fts MATCH :fts")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A prospect filter resolved: its conversations' ids (None when more than PROSPECT_CAP
    prospects match), whether they look narrow enough to start from, and the extra columns."""

    conversation_ids: list[int] | None
    narrow: bool
    extra: tuple[Any, ...] = ()


async def resolve_prospects(
    session: AsyncSession,
    criteria: Criteria,
    extra: Sequence[sa.ColumnElement[Any]] = (),
    params: dict[str, Any] | None = None,
) -> Resolved:
    """The prospect filter as conversation ids, in one round trip with `extra` columns."""
    assert criteria.prospects is not None
    # A prospect has one conversation, found by its unique index. Ids only grow, so the
    # highest ones tell the tables' sizes without counting a million rows.
    # Counted first (up to one over the cap): a broad name gives one row, without looking up
    # thousands of conversations it will not use (14 ms for Smith on PostgreSQL).
    matched = criteria.prospects.limit(PROSPECT_CAP + 1).cte("matched")
    count = sa.select(sa.func.count()).select_from(matched).scalar_subquery()
    few = count <= PROSPECT_CAP
    conversation = (
        sa.select(Conversation.id).where(Conversation.prospect_id == matched.c.id).scalar_subquery()
    )
    query = (
        sa.select(
            sa.case((few, conversation)),
            sa.select(sa.func.max(Message.id)).scalar_subquery(),
            sa.select(sa.func.max(Conversation.id)).scalar_subquery(),
            count,
            *extra,
        )
        .select_from(matched)
        .limit(sa.case((few, PROSPECT_CAP), else_=1))
    )
    rows = (await session.execute(query, params or {})).all()
    if not rows:
        return Resolved([], True)
    extras = tuple(rows[0][4:])
    if rows[0][3] > PROSPECT_CAP:
        return Resolved(None, False, extras)
    conversation_ids = [r[0] for r in rows if r[0] is not None]
    per_conversation = (rows[0][1] or 0) / max(rows[0][2] or 1, 1)
    narrow = len(conversation_ids) * per_conversation <= NARROW_MESSAGES
    return Resolved(conversation_ids, narrow, extras)


def rowid_ranges(ids: Sequence[int], gap: int) -> list[list[int]]:
    """The ids (any order) in runs, highest first, where neighbours are at most `gap` apart."""
    runs: list[list[int]] = []
    for i in sorted(ids, reverse=True):
        if runs and runs[-1][-1] - i <= gap:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _fts_over(columns: str, runs: list[list[int]]) -> str:
    """One FTS5 query per run, each walking the doclists over that run's rowid range only and
    keeping that run's rowids. The ids are integers from the database, written in as such."""
    arms = [
        f"SELECT rowid, {columns} FROM message_fts WHERE message_fts MATCH :fts"  # noqa: S608
        f" AND rowid BETWEEN {int(run[-1])} AND {int(run[0])}"
        f" AND +rowid IN ({','.join(str(int(i)) for i in run)})"
        for run in runs
    ]
    return " UNION ALL ".join(arms)


def _sqlite_in(column: InstrumentedAttribute[int], values: Sequence[int]) -> sa.ColumnElement[bool]:
    # One JSON parameter: SQLAlchemy renders and binds thousands of `?` at a few us each.
    listed = sa.func.json_each(sa.bindparam(None, json.dumps(list(values)))).table_valued("value")
    return column.in_(sa.select(listed.c.value))


_MARK_PARAMS = {"start": MARK_START, "end": MARK_END, "words": SNIPPET_WORDS}
_FTS_TABLE: sa.ColumnElement[Any] = sa.literal_column("message_fts")
_MARK_COLUMNS: tuple[sa.ColumnElement[Any], ...] = (
    sa.func.highlight(_FTS_TABLE, 0, MARK_START, MARK_END),
    sa.func.snippet(_FTS_TABLE, 1, MARK_START, MARK_END, "…", SNIPPET_WORDS),
)


class SqliteSearch:
    """FTS5, newest first by walking the index's rowids downwards, or, for a narrow prospect
    filter, by checking that filter's messages against the index, newest first."""

    def __init__(self) -> None:
        # Marks already made while finding a page: (the query they are for, by message id).
        self._marked: tuple[str, dict[int, tuple[str, str]]] | None = None

    def mark_columns(self, keywords: Keywords) -> None:
        # FTS5's highlight() and snippet() need the MATCH query: marks come from `marks`.
        return None

    def ids_in(
        self, column: InstrumentedAttribute[int], ids: Sequence[int]
    ) -> sa.ColumnElement[bool]:
        return _sqlite_in(column, ids)

    async def find_ids(
        self, session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int
    ) -> list[int]:
        conditions = list(criteria.conditions)
        if before is not None:
            conditions.append(Message.id < before)
        if criteria.keywords is not None and criteria.names is not None:
            return await self._with_names(session, criteria, conditions, before, limit)
        narrow = False
        share = 1.0
        params: dict[str, Any] = {}
        if criteria.prospects is not None:
            # With keywords, the same round trip counts their hits among the newest rowids.
            sample = []
            if criteria.keywords is not None:
                newest = sa.select(sa.func.max(Message.id)).scalar_subquery()
                sample.append(
                    sa.select(sa.func.count())
                    .select_from(_FTS)
                    .where(_MATCH, _FTS.c.rowid > newest - SQLITE_SAMPLE)
                    .scalar_subquery()
                )
                params = {"fts": fts5_query(criteria.keywords)}
            resolved = await resolve_prospects(session, criteria, sample, params)
            conversation_ids, narrow = resolved.conversation_ids, resolved.narrow
            if resolved.extra:
                share = max(resolved.extra[0] or 0, 0.5) / SQLITE_SAMPLE
            if conversation_ids == []:
                return []
            if conversation_ids is None:
                # Many prospects: each message met is checked through its conversation's
                # prospect (a materialized IN list of tens of thousands costs more than the walk).
                conditions.append(
                    sa.exists(
                        criteria.prospects.join(
                            Conversation, Conversation.prospect_id == Prospect.id
                        ).where(Conversation.id == Message.conversation_id)
                    )
                )
            else:
                conditions.append(_sqlite_in(Message.conversation_id, conversation_ids))
        if criteria.keywords is None:
            query = sa.select(Message.id).where(*conditions).order_by(Message.id.desc())
            return list((await session.execute(query.limit(limit))).scalars())
        fts = fts5_query(criteria.keywords)
        if narrow:
            return await self._candidates_first(session, conditions, fts, share, limit)
        query = (
            sa.select(_FTS.c.rowid)
            .select_from(_FTS)
            .join(Message, Message.id == _FTS.c.rowid)
            .where(_MATCH, *conditions)
        )
        if before is not None:
            query = query.where(_FTS.c.rowid < before)
        query = query.order_by(_FTS.c.rowid.desc()).limit(limit)
        return list((await session.execute(query, {"fts": fts})).scalars())

    async def _with_names(
        self,
        session: AsyncSession,
        criteria: Criteria,
        conditions: list[sa.ColumnElement[bool]],
        before: int | None,
        limit: int,
    ) -> list[int]:
        """Keywords and name prefixes in one FTS5 query: the index intersects their doclists
        while it walks rowids downwards, and stops at the page. Each hit's prospect is checked
        against the filter once more (a page's worth of primary-key look-ups)."""
        assert criteria.keywords is not None and criteria.prospects is not None
        fts = fts5_query(criteria.keywords, criteria.names)
        prospect = sa.exists(
            criteria.prospects.join(Conversation, Conversation.prospect_id == Prospect.id).where(
                Conversation.id == Message.conversation_id
            )
        )
        # A page's marks come from the same walk (the names are matched in their own columns,
        # so they mark nothing in the subject or body): rows spread over the table would each
        # cost a doclist seek per word again in `marks`. Not for an export's batches.
        marking = limit <= SQLITE_MARK_WITH_IDS
        columns = [_FTS.c.rowid, *(_MARK_COLUMNS if marking else ())]
        query = (
            sa.select(*columns)
            .select_from(_FTS)
            .join(Message, Message.id == _FTS.c.rowid)
            .where(_MATCH, *conditions, prospect)
        )
        if before is not None:
            query = query.where(_FTS.c.rowid < before)
        query = query.order_by(_FTS.c.rowid.desc()).limit(limit)
        rows = (await session.execute(query, {"fts": fts})).all()
        if marking:
            self._marked = (
                fts5_query(criteria.keywords),
                {r[0]: (r[1] or "", r[2] or "") for r in rows},
            )
        return [r[0] for r in rows]

    async def _candidates_first(
        self,
        session: AsyncSession,
        conditions: list[sa.ColumnElement[bool]],
        fts: str,
        share: float,
        limit: int,
    ) -> list[int]:
        """The filtered messages newest first, a slice at a time, kept when they match.
        `share` is the query's share of hits among the newest messages."""
        found: list[int] = []
        below: int | None = None
        gap = int(SQLITE_SEEK_ENTRIES / share)
        while len(found) < limit:
            query = sa.select(Message.id).where(*conditions)
            if below is not None:
                query = query.where(Message.id < below)
            gathered = await session.execute(query.order_by(Message.id.desc()).limit(SQLITE_GATHER))
            candidates = list(gathered.scalars())
            # The first slice holds about a page and a half of hits at that share.
            start, size = 0, max(limit, min(int(1.5 * limit / share), SQLITE_GATHER))
            while start < len(candidates) and len(found) < limit:
                found += await self._matching(session, fts, candidates[start : start + size], gap)
                start, size = start + size, size * 4
            if len(candidates) < SQLITE_GATHER:
                break
            below = candidates[-1]
        return found[:limit]

    async def _matching(
        self, session: AsyncSession, fts: str, ids: Sequence[int], gap: int
    ) -> list[int]:
        """Those of `ids` the query matches, highest first."""
        runs = rowid_ranges(ids, gap)
        out: list[int] = []
        for start in range(0, len(runs), SQLITE_RANGES):
            sql = _fts_over("1", runs[start : start + SQLITE_RANGES])
            out += (await session.execute(sa.text(sql), {"fts": fts})).scalars()
        return sorted(out, reverse=True)

    async def marks(
        self, session: AsyncSession, keywords: Keywords, ids: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        fts = fts5_query(keywords)
        found: dict[int, tuple[str, str]] = {}
        if self._marked is not None and self._marked[0] == fts:
            found = {i: self._marked[1][i] for i in ids if i in self._marked[1]}
        missing = [i for i in ids if i not in found]
        if not missing:
            return found
        # One pass over each run of nearby rowids: looking up each rowid on its own seeks every
        # term's doclist again (about 70 us a row for a common word), while one range over ids
        # spread across the table would walk every hit in between.
        runs = rowid_ranges(missing, SQLITE_GAP)
        columns = "highlight(message_fts, 0, :start, :end), snippet(message_fts, 1, :start, :end, '…', :words)"
        rows = await session.execute(
            sa.text(_fts_over(columns, runs)), {"fts": fts, **_MARK_PARAMS}
        )
        return found | {r[0]: (r[1] or "", r[2] or "") for r in rows.all()}


_TSV: sa.ColumnElement[Any] = sa.literal_column("message.search_tsv")
_NAMES: sa.ColumnElement[Any] = sa.literal_column("message.search_names")
_CONFIG: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
_HEADLINE_SUBJECT = f"HighlightAll=true, StartSel={MARK_START}, StopSel={MARK_END}"
_HEADLINE_BODY = (
    f"MaxFragments=2, MaxWords={SNIPPET_WORDS}, MinWords=10, "
    f'FragmentDelimiter=" … ", StartSel={MARK_START}, StopSel={MARK_END}'
)


def _tsquery(keywords: Keywords) -> sa.ColumnElement[Any]:
    return sa.func.websearch_to_tsquery(
        _CONFIG, sa.bindparam("tsq", websearch_query(keywords), type_=sa.Text)
    )


def _matches(
    keywords: Keywords, after: Sequence[sa.ColumnElement[bool]] = ()
) -> sa.ColumnElement[bool]:
    """The keywords' test on a row, in a form the planner cannot answer from GIN: for a walk
    down the newest ids, where reading every hit of a common word through GIN is the slow plan
    it would otherwise pick for a phrase or a narrow filter (`ts_match_vq` is what `@@` runs).
    The executor would test it before cheaper conditions of the same cost estimate; inside a
    CASE it runs only on rows that pass `after` (12 ms instead of 16 ms for "appointment" on
    the 24,000 newest messages walked to find John's)."""
    test = sa.func.ts_match_vq(_TSV, _tsquery(keywords), type_=sa.Boolean)
    if not after:
        return test
    return sa.case((sa.and_(*after), test), else_=sa.false())


def _recent_blocks(before: int, rate: float, limit: int) -> list[int]:
    """The blocks of ids (migration 0011), newest first, below `before` that should hold
    PG_BLOCKS_MARGIN pages of hits at `rate` hits an id; none when that takes more than
    PG_BLOCKS: the hits are then too sparse for blocks to beat reading them all."""
    if before <= 1 or rate <= 0:
        return []
    span = PG_BLOCKS_MARGIN * limit / rate
    top = (before - 1) >> RECENCY_SHIFT
    bottom = max(0, int(before - span)) >> RECENCY_SHIFT
    if top - bottom + 1 > PG_BLOCKS:
        return []
    return list(range(top, bottom - 1, -1))


def _pg_in(column: InstrumentedAttribute[int], values: Sequence[int]) -> sa.ColumnElement[bool]:
    # One array parameter: thousands of ids stay one value, hashed by the executor.
    return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(sa.BigInteger)))


def _range_is_behind(criteria: Criteria, newest: datetime | None) -> bool:
    """Whether the date window holds fewer messages than those newer than it (a walk down the
    ids would meet all of those first), taking messages as coming at an even rate."""
    if criteria.date_from is None or criteria.date_to is None or newest is None:
        return False
    return criteria.date_to - criteria.date_from < newest - criteria.date_to


# Each search's settings (see `PostgresSearch.find_ids`), the table's row count as the planner
# reckons it, and its newest date and id, in one round trip; built once. The planner scales the
# rows counted at the last ANALYZE by the pages the table has now; the estimates compared with
# this count (`EXPLAIN`'s rows) are scaled the same way, or a table grown since its last ANALYZE
# would make every word look common (a word missing from the statistics is estimated at
# exactly PG_RARE of the rows) and send a search for a typo on a walk through every message.
_PG_TABLE_ROWS = """(SELECT greatest(CASE WHEN relpages > 0
        THEN reltuples / relpages * (pg_relation_size(oid) / current_setting('block_size')::float8)
        ELSE reltuples END, 1)
    FROM pg_class WHERE oid = 'message'::regclass)"""
_PG_SETTINGS: list[sa.ColumnElement[Any]] = [
    sa.func.set_config("plan_cache_mode", "force_custom_plan", True),
    sa.func.set_config("max_parallel_workers_per_gather", "0", True),
    sa.func.set_config("jit", "off", True),
    sa.literal_column(_PG_TABLE_ROWS),
    sa.select(sa.func.max(Message.created_at)).scalar_subquery(),
    sa.select(sa.func.max(Message.id)).scalar_subquery(),
]
_PG_PREAMBLE = sa.select(*_PG_SETTINGS)


class PostgresSearch:
    """tsvector + GIN; the plan is chosen by how many rows the keywords match."""

    def ids_in(
        self, column: InstrumentedAttribute[int], ids: Sequence[int]
    ) -> sa.ColumnElement[bool]:
        return _pg_in(column, ids)

    async def find_ids(
        self, session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int
    ) -> list[int]:
        # A prepared statement may fall back to a generic plan that ignores the term's
        # frequency: each search is planned for its own values. Parallel workers cost more to
        # start (tens of ms on two busy cores) than a page of 50 takes to find, and so does
        # compiling a plan that the planner costs high only because it cannot see the LIMIT.
        # The table's row count from its statistics and its newest date and id come back in the
        # same round trip, which also resolves the prospect filter if there is one.
        conditions = list(criteria.conditions)
        if before is not None:
            conditions.append(Message.id < before)
        narrow = False
        prospect: sa.ColumnElement[bool] | None = None
        if criteria.keywords is not None and criteria.names is not None:
            values = tuple((await session.execute(_PG_PREAMBLE)).one())
            return await self._with_names(
                session,
                criteria,
                conditions,
                float(values[3]),
                values[4],
                before=before if before is not None else (values[5] or 0) + 1,
                limit=limit,
            )
        if criteria.prospects is None:
            values = tuple((await session.execute(_PG_PREAMBLE)).one())
        else:
            resolved = await resolve_prospects(session, criteria, _PG_SETTINGS)
            conversation_ids, narrow = resolved.conversation_ids, resolved.narrow
            if conversation_ids == []:
                return []
            values = resolved.extra
            if conversation_ids is None:
                # Left to the planner as a semi-join, and out of `after` below: inside a CASE
                # it would be a second, hashed, subplan.
                assert criteria.conversations is not None
                prospect = Message.conversation_id.in_(criteria.conversations)
            else:
                conditions.append(_pg_in(Message.conversation_id, conversation_ids))
        table_rows, newest = float(values[3]), values[4]
        order = Message.id.desc()
        if narrow or _range_is_behind(criteria, newest):
            # The planner takes dates (or conversations) and ids as unrelated and would walk
            # every newer message down the id index; `id + 0` makes it read the date range (or
            # the conversations' messages) through their index and sort those instead.
            order = sa.desc(Message.id + 0)
        if criteria.keywords is not None:
            if narrow:
                conditions.append(_matches(criteria.keywords, after=conditions))
            else:
                # The planner multiplies a phrase's words as if independent and would read
                # tens of thousands of hits of "test drive" through GIN; the probe walks.
                phrase = any(" " in t for group in criteria.keywords.groups for t in group)
                hits_at_most = await self._hits_at_most(session, criteria.keywords)
                # The planner rounds its estimate to whole rows.
                if phrase or hits_at_most <= PG_RARE * table_rows + 1:
                    return await self._rare(
                        session,
                        conditions,
                        [] if prospect is None else [prospect],
                        criteria.keywords,
                        phrase,
                        top=before if before is not None else (values[5] or 0) + 1,
                        limit=limit,
                    )
                conditions.append(_matches(criteria.keywords, after=conditions))
        if prospect is not None:
            conditions.append(prospect)
        query = sa.select(Message.id).where(*conditions).order_by(order).limit(limit)
        return list((await session.execute(query)).scalars())

    async def _with_names(
        self,
        session: AsyncSession,
        criteria: Criteria,
        conditions: list[sa.ColumnElement[bool]],
        table_rows: float,
        newest: datetime | None,
        *,
        before: int,
        limit: int,
    ) -> list[int]:
        """Keywords and name prefixes on the message row (migration 0010): the planner counts
        the rows matching both from the two columns' statistics. Many: walk the newest messages,
        testing the names first. Fewer: GIN intersects the word's posting list with the name's,
        block by block of ids from the newest (migration 0011) while a few blocks should hold a
        page, then for all older hits at once, which are sorted (a date window far behind the
        newest messages goes straight there)."""
        assert criteria.keywords is not None and criteria.names is not None
        names = pg_names_query(criteria.names)
        if names is None:
            return []
        named = sa.cast(sa.bindparam("names", names, type_=sa.Text), TSQUERY)
        estimate = await self._estimate(
            session,
            "search_tsv @@ websearch_to_tsquery('english'::regconfig, :tsq)"
            " AND search_names @@ CAST(:names AS tsquery)",
            tsq=websearch_query(criteria.keywords),
            names=names,
        )
        if estimate * PG_NAMES_WALK >= limit * table_rows and not _range_is_behind(
            criteria, newest
        ):
            test = sa.func.ts_match_vq(_NAMES, named, type_=sa.Boolean)
            walk = (
                sa.select(Message.id)
                .where(*conditions, _matches(criteria.keywords, after=[*conditions, test]))
                .order_by(Message.id.desc())
                .limit(limit)
            )
            return list((await session.execute(walk)).scalars())
        words = _TSV.op("@@")(_tsquery(criteria.keywords))
        found: list[int] = []
        blocks = _recent_blocks(before, estimate / table_rows, limit)
        if blocks and not _range_is_behind(criteria, newest):
            branches = [
                sa.select(Message.id.label("id")).where(
                    *conditions,
                    words,
                    _NAMES.op("@@")(sa.cast(sa.literal(f"({names}) & r{block}"), TSQUERY)),
                )
                for block in blocks
            ]
            recent = sa.union_all(*branches).subquery("recent")
            query = sa.select(recent.c.id).order_by(recent.c.id.desc()).limit(limit)
            found = list((await session.execute(query)).scalars())
            if len(found) == limit:
                return found
            conditions = [*conditions, Message.id < blocks[-1] << RECENCY_SHIFT]
        matched = sa.and_(words, _NAMES.op("@@")(named))
        hits = sa.select(Message.id.label("id")).where(*conditions, matched).cte("hits")
        hits = hits.prefix_with("MATERIALIZED")
        query = sa.select(hits.c.id).order_by(hits.c.id.desc()).limit(limit - len(found))
        return found + list((await session.execute(query)).scalars())

    async def _rare(
        self,
        session: AsyncSession,
        conditions: list[sa.ColumnElement[bool]],
        extra: list[sa.ColumnElement[bool]],
        keywords: Keywords,
        phrase: bool,
        *,
        top: int,
        limit: int,
    ) -> list[int]:
        """Statistics cannot tell a word in 1% of messages from one in ten (both are below the
        most-common list): look among the newest PG_PROBE ids below `top` first, where a word
        that common fills the page, and only then read every hit through GIN and sort. A
        word's short posting list is read through GIN for the probe too; a phrase's words may
        each be common, so its probe walks those messages instead (2,300 rows in about 1.3 ms,
        against 7 ms for the 20,000 hits of "test" and "drive" through GIN). The ids are
        counted, not the messages (finding the 5,000th message below `top` took 1.8 ms): with
        deleted messages among them the probe looks at fewer."""
        matched = _TSV.op("@@")(_tsquery(keywords))
        floor = top - 1 - PG_PROBE
        if floor > 0:
            probe = (
                sa.select(Message.id)
                .where(
                    *conditions,
                    *extra,
                    Message.id > floor,
                    _matches(keywords, after=conditions) if phrase else matched,
                )
                .order_by(Message.id.desc())
                .limit(limit)
            )
            found = list((await session.execute(probe)).scalars())
            if len(found) == limit:
                return found
        hits = sa.select(Message.id.label("id")).where(*conditions, *extra, matched).cte("hits")
        hits = hits.prefix_with("MATERIALIZED")
        query = sa.select(hits.c.id).order_by(hits.c.id.desc()).limit(limit)
        return list((await session.execute(query)).scalars())

    async def _estimate(self, session: AsyncSession, where: str, **params: Any) -> float:
        plan = await session.scalar(
            # `where` is always one of this class's literals; the values are bound.
            sa.text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM message WHERE {where}"),  # noqa: S608
            params,
        )
        parsed = json.loads(plan) if isinstance(plan, str) else plan
        return float(parsed[0]["Plan"]["Plan Rows"])

    async def _hits_at_most(self, session: AsyncSession, keywords: Keywords) -> float:
        """An upper bound of the hits from per-word statistics: the planner multiplies the
        words of a phrase as if independent, which makes "test drive" look rare."""
        where = "search_tsv @@ websearch_to_tsquery('english'::regconfig, :tsq)"
        bound = float("inf")
        for group in keywords.groups:
            total = 0.0
            for term in group:
                words = [await self._estimate(session, where, tsq=f'"{w}"') for w in term.split()]
                total += min(words)
            bound = min(bound, total)
        return bound

    def mark_columns(
        self, keywords: Keywords
    ) -> tuple[sa.ColumnElement[str], sa.ColumnElement[str]]:
        query = _tsquery(keywords)
        subject = sa.func.ts_headline(
            _CONFIG, Message.subject, query, _HEADLINE_SUBJECT, type_=sa.Text
        )
        # Fragments cut even a short text; a short one is shown whole.
        body = sa.case(
            (
                sa.func.length(Message.body_text) <= SHORT_BODY,
                sa.func.ts_headline(_CONFIG, Message.body_text, query, _HEADLINE_SUBJECT),
            ),
            else_=sa.func.ts_headline(_CONFIG, Message.body_text, query, _HEADLINE_BODY),
        )
        return subject, body

    async def marks(
        self, session: AsyncSession, keywords: Keywords, ids: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        if not ids:
            return {}
        subject, body = self.mark_columns(keywords)
        rows = await session.execute(
            sa.select(Message.id, subject, body).where(_pg_in(Message.id, ids))
        )
        return {r[0]: (r[1] or "", r[2] or "") for r in rows.all()}
