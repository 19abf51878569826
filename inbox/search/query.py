"""A validated search as both backends read it: the parsed keywords, the SQL conditions, and
the markers the backends wrap matches in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

# Highlight markers: the backends wrap matches in these, the text is escaped, and only then do
# they become <b> and </b>, so nothing in a message can ever turn into markup.
MARK_START = "\x02"
MARK_END = "\x03"


@dataclass(frozen=True, slots=True)
class Keywords:
    """A parsed websearch query: every group must match (one of its terms), none of `excluded`.
    A term is the text of one word or one quoted phrase, as the user typed it."""

    groups: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Criteria:
    """A validated search: SQL conditions on `message`, and the keywords if any."""

    conditions: tuple[sa.ColumnElement[bool], ...]
    keywords: Keywords | None
    # The prospect filters, separately (not in `conditions`): the ids of the prospects they match
    # and of those prospects' conversations. Backends resolve them first when few match.
    prospects: sa.Select[int] | None
    conversations: sa.Select[int] | None
    date_from: datetime | None = None
    date_to: datetime | None = None
    # When the prospect filter is only name prefixes: (first, last), lower-cased, '' when not
    # given. Both backends then let their full-text index intersect the names with the keywords.
    names: tuple[str, str] | None = None
