"""message search: full-text index (FTS5 on SQLite, tsvector + GIN on PostgreSQL)

Revision ID: 0003_search
Revises: 0001
Create Date: 2026-11-24 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_search"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# External content: the index holds only tokens, the text stays in `message`. Triggers keep it
# in step with every insert, update and delete, whoever writes the row.
SQLITE_UP = [
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
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS message_fts_au",
    "DROP TRIGGER IF EXISTS message_fts_ad",
    "DROP TRIGGER IF EXISTS message_fts_ai",
    "DROP TABLE IF EXISTS message_fts",
]
PG_UP = [
    """ALTER TABLE message ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, subject || ' ' || body_text)) STORED""",
    "CREATE INDEX ix_message_search_tsv ON message USING gin (search_tsv)",
    # With the default statistics target a rare term looked common to the planner, which then
    # walked the id index for hundreds of milliseconds; 1000 keeps enough lexemes to tell.
    "ALTER TABLE message ALTER COLUMN search_tsv SET STATISTICS 1000",
]
PG_DOWN = [
    "DROP INDEX IF EXISTS ix_message_search_tsv",
    "ALTER TABLE message DROP COLUMN IF EXISTS search_tsv",
]


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_created_at", ["created_at"], unique=False)
    op.create_index(
        "ix_prospect_first_name_lower", "prospect", [sa.text("lower(first_name)")], unique=False
    )
    op.create_index(
        "ix_prospect_last_name_lower", "prospect", [sa.text("lower(last_name)")], unique=False
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else PG_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else PG_DOWN:
        op.execute(statement)
    op.drop_index("ix_prospect_last_name_lower", table_name="prospect")
    op.drop_index("ix_prospect_first_name_lower", table_name="prospect")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_created_at")
