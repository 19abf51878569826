"""The Alembic migrations, and what they create that the models deliberately leave out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

# The one list of what the schema holds and the models do not declare, on purpose: the
# full-text search index lives outside the ORM. Autogenerate (env.py) and the test that the
# models and the migrated schema agree skip exactly these. Each entry is (dialect, kind, name);
# a column or an index is named "table.name", and a name ending in "*" stands for every name
# that begins so.
NOT_IN_MODELS: Final[tuple[tuple[str, str, str], ...]] = (
    # The FTS5 index (0003, rebuilt with names by 0009) and the shadow tables FTS5 keeps beside
    # it (message_fts_data, _idx, _docsize, _config): a virtual table has no ORM form.
    ("sqlite", "table", "message_fts*"),
    # The search vectors on `message`, written by the database and never by the ORM: 0003's
    # generated column of words, and the names (0010) and recency (0011) lexemes its triggers
    # keep.
    ("postgresql", "column", "message.search_tsv"),
    ("postgresql", "column", "message.search_names"),
    # The GIN index over those two vectors (0010): the models cannot declare an index on
    # columns they do not have.
    ("postgresql", "index", "message.ix_message_search"),
)


def not_in_models(kind: str, name: str, table: str | None = None) -> bool:
    """Whether this table, column or index (of `table`) is one of NOT_IN_MODELS."""
    full = name if table is None else f"{table}.{name}"
    for _dialect, entry_kind, entry in NOT_IN_MODELS:
        if entry_kind != kind:
            continue
        if entry == full or (entry.endswith("*") and full.startswith(entry[:-1])):
            return True
    return False


ParentName = Literal["schema_name", "table_name", "schema_qualified_table_name"]


def include_name(
    name: str | None, type_: str, parent_names: Mapping[ParentName, str | None]
) -> bool:
    """Alembic's `include_name` hook: compare everything except NOT_IN_MODELS."""
    if name is None:
        return True
    return not not_in_models(type_, name, parent_names.get("table_name"))
