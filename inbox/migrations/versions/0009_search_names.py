"""message search: the prospect's names in the SQLite FTS5 index, so a word and a name intersect

Revision ID: 0009_search_names
Revises: 0003_search
Create Date: 2026-11-24 03:30:00.000000
"""

# The SQL below is assembled from this module's own literals only; no value comes from outside.
# ruff: noqa: S608

from collections.abc import Sequence

from alembic import op

revision: str = "0009_search_names"
# It rebuilds 0003's FTS table and triggers, so it comes after 0003.
down_revision: str | None = "0003_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The FTS5 table gains two columns, the prospect's lower-cased first and last name, each one
# token: its UTF-8 bytes in hex (E written as G, which leaves the Porter stemmer nothing to strip).
# A name prefix is then a token prefix, byte for byte the same test as the `lower(name)` range.
# The content is a view over message, conversation and prospect (the `message` table is not
# touched); triggers keep the index in step with messages, renames and moves, and re-index a
# prospect's or a conversation's messages with empty names before they are deleted, since the
# cascade that then deletes the messages can no longer look their names up.
_NAME = "replace(hex(lower({})), 'E', 'G')"


def _names(conversation_id: str) -> tuple[str, str]:
    """The first and last name tokens of a conversation's prospect ('' when there is none)."""
    out = []
    for column in ("first_name", "last_name"):
        out.append(
            f"coalesce((SELECT {_NAME.format('p.' + column)} FROM conversation c"
            f" JOIN prospect p ON p.id = c.prospect_id WHERE c.id = {conversation_id}), '')"
        )
    return out[0], out[1]


_OLD_FIRST, _OLD_LAST = _names("old.conversation_id")
_NEW_FIRST, _NEW_LAST = _names("new.conversation_id")
_COLUMNS = "rowid, subject, body_text, first_name, last_name"


def _reindex(where: str, old: tuple[str, str], new: tuple[str, str]) -> str:
    """Delete the entries of the messages `where` selects (m joined to c, their conversation)
    as indexed with the `old` name tokens, and insert them again with the `new` ones."""
    return f"""
        INSERT INTO message_fts(message_fts, {_COLUMNS})
        SELECT 'delete', m.id, m.subject, m.body_text, {old[0]}, {old[1]}
        FROM message m JOIN conversation c ON c.id = m.conversation_id WHERE {where};
        INSERT INTO message_fts({_COLUMNS})
        SELECT m.id, m.subject, m.body_text, {new[0]}, {new[1]}
        FROM message m JOIN conversation c ON c.id = m.conversation_id WHERE {where};"""


_PROSPECT_OLD = (_NAME.format("old.first_name"), _NAME.format("old.last_name"))
_PROSPECT_NEW = (_NAME.format("new.first_name"), _NAME.format("new.last_name"))


def _prospect_names(prospect_id: str) -> tuple[str, str]:
    """The name tokens of the prospect with this id ('' when there is none)."""
    first, last = (
        f"coalesce((SELECT {_NAME.format('p.' + column)} FROM prospect p"
        f" WHERE p.id = {prospect_id}), '')"
        for column in ("first_name", "last_name")
    )
    return first, last


_CONV_OLD = _prospect_names("old.prospect_id")
_CONV_NEW = _prospect_names("new.prospect_id")

SQLITE_UP = [
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TABLE IF EXISTS message_fts",
    f"""CREATE VIEW message_fts_source AS
        SELECT m.id AS id, m.subject AS subject, m.body_text AS body_text,
            coalesce({_NAME.format("p.first_name")}, '') AS first_name,
            coalesce({_NAME.format("p.last_name")}, '') AS last_name
        FROM message m
        LEFT JOIN conversation c ON c.id = m.conversation_id
        LEFT JOIN prospect p ON p.id = c.prospect_id""",
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        subject, body_text, first_name, last_name,
        content='message_fts_source', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER message_fts_ai AFTER INSERT ON message BEGIN
        INSERT INTO message_fts({_COLUMNS})
        VALUES (new.id, new.subject, new.body_text, {_NEW_FIRST}, {_NEW_LAST});
    END""",
    f"""CREATE TRIGGER message_fts_ad AFTER DELETE ON message BEGIN
        INSERT INTO message_fts(message_fts, {_COLUMNS})
        VALUES ('delete', old.id, old.subject, old.body_text, {_OLD_FIRST}, {_OLD_LAST});
    END""",
    f"""CREATE TRIGGER message_fts_au
        AFTER UPDATE OF subject, body_text, conversation_id ON message BEGIN
        INSERT INTO message_fts(message_fts, {_COLUMNS})
        VALUES ('delete', old.id, old.subject, old.body_text, {_OLD_FIRST}, {_OLD_LAST});
        INSERT INTO message_fts({_COLUMNS})
        VALUES (new.id, new.subject, new.body_text, {_NEW_FIRST}, {_NEW_LAST});
    END""",
    f"""CREATE TRIGGER message_fts_prospect_au
        AFTER UPDATE OF first_name, last_name ON prospect
        WHEN old.first_name IS NOT new.first_name OR old.last_name IS NOT new.last_name BEGIN
        {_reindex("c.prospect_id = new.id", _PROSPECT_OLD, _PROSPECT_NEW)}
    END""",
    f"""CREATE TRIGGER message_fts_prospect_bd BEFORE DELETE ON prospect BEGIN
        {_reindex("c.prospect_id = old.id", _PROSPECT_OLD, ("''", "''"))}
    END""",
    f"""CREATE TRIGGER message_fts_conversation_au
        AFTER UPDATE OF prospect_id ON conversation
        WHEN old.prospect_id IS NOT new.prospect_id BEGIN
        {_reindex("c.id = new.id", _CONV_OLD, _CONV_NEW)}
    END""",
    f"""CREATE TRIGGER message_fts_conversation_bd BEFORE DELETE ON conversation BEGIN
        {_reindex("c.id = old.id", _CONV_OLD, ("''", "''"))}
    END""",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS message_fts_conversation_bd",
    "DROP TRIGGER IF EXISTS message_fts_conversation_au",
    "DROP TRIGGER IF EXISTS message_fts_prospect_bd",
    "DROP TRIGGER IF EXISTS message_fts_prospect_au",
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TABLE IF EXISTS message_fts",
    "DROP VIEW IF EXISTS message_fts_source",
]

# 0003's table and triggers, as 0003 wrote them (a migration never imports another: each one
# stays as it was written, whatever later ones change).
SQLITE_0003 = [
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        subject, body_text, content='message', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER message_fts_ai AFTER INSERT ON message BEGIN
        INSERT INTO message_fts(rowid, subject, body_text)
        VALUES (new.id, new.subject, new.body_text);
    END""",
    """CREATE TRIGGER message_fts_ad AFTER DELETE ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, subject, body_text)
        VALUES ('delete', old.id, old.subject, old.body_text);
    END""",
    """CREATE TRIGGER message_fts_au AFTER UPDATE OF subject, body_text ON message BEGIN
        INSERT INTO message_fts(message_fts, rowid, subject, body_text)
        VALUES ('delete', old.id, old.subject, old.body_text);
        INSERT INTO message_fts(rowid, subject, body_text)
        VALUES (new.id, new.subject, new.body_text);
    END""",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in SQLITE_DOWN:
        op.execute(statement)
    # Back to 0003's table and triggers, rebuilt from `message`.
    for statement in SQLITE_0003:
        op.execute(statement)
