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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Message
from inbox.search import MARK_END, MARK_START, Criteria, Keywords

SNIPPET_WORDS = 24
SHORT_BODY = 200
# Below this many candidate messages a narrow prospect filter drives the SQLite query: each
# candidate is checked against the index by rowid (about 16 us each, measured at 1,000,000
# messages) instead of walking keyword hits (under 1 us each, but 1/selectivity of them).
SQLITE_NARROW = 2000
# The share of all messages up to which PostgreSQL reads every hit through GIN and sorts them,
# rather than walking the newest messages until a page of hits turns up. A word missing from
# the column's most-common-elements statistics is estimated at exactly this share.
PG_RARE = 0.005
# How many of the newest messages a rare-looking search looks through before it reads all hits.
PG_PROBE = 5000


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_query(keywords: Keywords) -> str:
    """The FTS5 MATCH expression; every term is a quoted string, so no input is syntax."""
    groups = ["(" + " OR ".join(_quote(t) for t in group) + ")" for group in keywords.groups]
    expression = " AND ".join(groups)
    if keywords.excluded:
        expression += " NOT (" + " OR ".join(_quote(t) for t in keywords.excluded) + ")"
    return expression


def websearch_query(keywords: Keywords) -> str:
    """The same query rebuilt for `websearch_to_tsquery`, each term quoted."""
    parts = [" or ".join(f'"{t}"' for t in group) for group in keywords.groups]
    parts += [f'-"{t}"' for t in keywords.excluded]
    return " ".join(parts)


_FTS = sa.table("message_fts", sa.column("rowid", sa.Integer))
_MATCH = sa.text("message_fts MATCH :fts")


class SqliteSearch:
    """FTS5, newest first by walking the index's rowids downwards."""

    async def find_ids(
        self, session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int
    ) -> list[int]:
        conditions = list(criteria.conditions)
        if before is not None:
            conditions.append(Message.id < before)
        if criteria.keywords is None:
            query = sa.select(Message.id).where(*conditions)
        elif criteria.conversations is not None and await self._narrow(session, conditions):
            query = sa.select(Message.id).where(
                *conditions,
                sa.exists(
                    sa.select(sa.literal(1))
                    .select_from(_FTS)
                    .where(_MATCH, _FTS.c.rowid == Message.id)
                ),
            )
        else:
            query = (
                sa.select(_FTS.c.rowid)
                .select_from(_FTS)
                .join(Message, Message.id == _FTS.c.rowid)
                .where(_MATCH, *conditions)
            )
            if before is not None:
                query = query.where(_FTS.c.rowid < before)
            query = query.order_by(_FTS.c.rowid.desc()).limit(limit)
            params = {"fts": fts5_query(criteria.keywords)}
            return list((await session.execute(query, params)).scalars())
        query = query.order_by(Message.id.desc()).limit(limit)
        params = {"fts": fts5_query(criteria.keywords)} if criteria.keywords else {}
        return list((await session.execute(query, params)).scalars())

    async def _narrow(
        self, session: AsyncSession, conditions: list[sa.ColumnElement[bool]]
    ) -> bool:
        sample = sa.select(Message.id).where(*conditions).limit(SQLITE_NARROW + 1).subquery()
        count = await session.scalar(sa.select(sa.func.count()).select_from(sample))
        return (count or 0) <= SQLITE_NARROW

    async def marks(
        self, session: AsyncSession, keywords: Keywords, ids: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        if not ids:
            return {}
        rows = await session.execute(
            sa.text(
                "SELECT rowid, highlight(message_fts, 0, :start, :end),"
                " snippet(message_fts, 1, :start, :end, '…', :words)"
                " FROM message_fts WHERE message_fts MATCH :fts"
                # One pass over the page's rowid range: looking up each rowid on its own seeks
                # every term's doclist again (about 70 us a row for a common word).
                " AND rowid BETWEEN :low AND :high AND +rowid IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {
                "start": MARK_START,
                "end": MARK_END,
                "words": SNIPPET_WORDS,
                "fts": fts5_query(keywords),
                "ids": list(ids),
                "low": min(ids),
                "high": max(ids),
            },
        )
        return {r[0]: (r[1] or "", r[2] or "") for r in rows.all()}


_TSV: sa.ColumnElement[Any] = sa.literal_column("message.search_tsv")
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


class PostgresSearch:
    """tsvector + GIN; the plan is chosen by how many rows the keywords match."""

    async def find_ids(
        self, session: AsyncSession, criteria: Criteria, *, before: int | None, limit: int
    ) -> list[int]:
        # A prepared statement may fall back to a generic plan that ignores the term's
        # frequency: each search is planned for its own values. Parallel workers cost more to
        # start (tens of ms on two busy cores) than a page of 50 takes to find.
        await session.execute(
            sa.text(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
                " set_config('max_parallel_workers_per_gather', '0', true)"
            )
        )
        conditions = list(criteria.conditions)
        if before is not None:
            conditions.append(Message.id < before)
        order = Message.id.desc()
        if await self._range_is_behind(session, criteria):
            # The planner takes dates and ids as unrelated and would walk every newer message
            # down the id index; `id + 0` makes it read the date range and sort that instead.
            order = sa.desc(Message.id + 0)
        if criteria.keywords is not None:
            conditions.append(_TSV.op("@@")(_tsquery(criteria.keywords)))
            # The planner multiplies a phrase's words as if independent and reads tens of
            # thousands of hits of "test drive" through GIN; the probe handles phrases.
            phrase = any(" " in t for group in criteria.keywords.groups for t in group)
            hits_at_most = await self._hits_at_most(session, criteria.keywords)
            if phrase or hits_at_most <= PG_RARE * await self._estimate(session, "true"):
                return await self._rare(session, conditions, before=before, limit=limit)
        query = sa.select(Message.id).where(*conditions).order_by(order).limit(limit)
        return list((await session.execute(query)).scalars())

    async def _rare(
        self,
        session: AsyncSession,
        conditions: list[sa.ColumnElement[bool]],
        *,
        before: int | None,
        limit: int,
    ) -> list[int]:
        """Statistics cannot tell a word in 1% of messages from one in ten (both are below the
        most-common list): look among the newest PG_PROBE messages first, where a word that
        common fills the page, and only then read every hit through GIN and sort."""
        recent = sa.select(Message.id).order_by(Message.id.desc()).offset(PG_PROBE).limit(1)
        if before is not None:
            recent = recent.where(Message.id < before)
        floor = await session.scalar(recent)
        if floor is not None:
            probe = (
                sa.select(Message.id)
                .where(*conditions, Message.id > floor)
                .order_by(Message.id.desc())
                .limit(limit)
            )
            found = list((await session.execute(probe)).scalars())
            if len(found) == limit:
                return found
        hits = sa.select(Message.id.label("id")).where(*conditions).cte("hits")
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

    async def _range_is_behind(self, session: AsyncSession, criteria: Criteria) -> bool:
        if criteria.date_to is None:
            return False
        newer = await self._estimate(session, "created_at >= :to", to=criteria.date_to)
        if criteria.date_from is None:
            return False
        inside = await self._estimate(
            session,
            "created_at >= :since AND created_at < :to",
            since=criteria.date_from,
            to=criteria.date_to,
        )
        return inside < newer

    async def marks(
        self, session: AsyncSession, keywords: Keywords, ids: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        if not ids:
            return {}
        query = _tsquery(keywords)
        rows = await session.execute(
            sa.select(
                Message.id,
                sa.func.ts_headline(_CONFIG, Message.subject, query, _HEADLINE_SUBJECT),
                # Fragments cut even a short text; a short one is shown whole.
                sa.case(
                    (
                        sa.func.length(Message.body_text) <= SHORT_BODY,
                        sa.func.ts_headline(_CONFIG, Message.body_text, query, _HEADLINE_SUBJECT),
                    ),
                    else_=sa.func.ts_headline(_CONFIG, Message.body_text, query, _HEADLINE_BODY),
                ),
            ).where(Message.id.in_(ids))
        )
        return {r[0]: (r[1] or "", r[2] or "") for r in rows.all()}
