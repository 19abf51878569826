"""message search: a recency lexeme on each message for PostgreSQL's GIN

Revision ID: 0011_search_recency
Revises: 0010_search_names_pg
Create Date: 2026-11-24 05:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_search_recency"
# It redefines 0010's functions and adds to its column.
down_revision: str | None = "0010_search_names_pg"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# GIN cannot read hits newest first: a search whose hits are many reads all of them and sorts
# them (John + "appointment": 2,559 rows, each a heap page, 8 ms). So `message.search_names`
# also holds one lexeme naming the message's block of 32,768 ids, 'r' and `id >> 15` in decimal
# (names are 'f' or 'l' and hex, so they cannot collide). A search then asks GIN for the hits
# in the newest block, then the one before, each one exact lexeme more in the same index scan
# (0.4 ms for John's newest block, 36 hits), and reads only those rows. A message's id never
# changes, so neither does its block: every writer of the column adds it.
RECENCY_SHIFT = 15

PG_UP = [
    f"""CREATE FUNCTION search_recency(message_id bigint) RETURNS tsvector
        LANGUAGE sql IMMUTABLE AS $$
        SELECT array_to_tsvector(ARRAY['r' || (message_id >> {RECENCY_SHIFT})::text])
        $$""",
    """CREATE OR REPLACE FUNCTION message_search_names_set() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_names := coalesce(message_search_names(NEW.conversation_id), '')
                || search_recency(NEW.id);
            RETURN NEW;
        END $$""",
    """CREATE OR REPLACE FUNCTION message_search_names_prospect() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message m SET search_names =
                search_name_lexemes(NEW.first_name, NEW.last_name) || search_recency(m.id)
            FROM conversation c WHERE c.prospect_id = NEW.id AND m.conversation_id = c.id;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION message_search_names_conversation() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message SET search_names =
                coalesce(message_search_names(NEW.id), '') || search_recency(id)
            WHERE conversation_id = NEW.id;
            RETURN NULL;
        END $$""",
    "UPDATE message SET search_names = coalesce(search_names, '') || search_recency(id)",
    "ANALYZE message (search_names)",
]
# Down: 0010's functions and its names-only backfill, as 0010 wrote them (copied here, not
# imported: a migration never imports another).
PG_DOWN = [
    """CREATE OR REPLACE FUNCTION message_search_names_set() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_names := message_search_names(NEW.conversation_id);
            RETURN NEW;
        END $$""",
    """CREATE OR REPLACE FUNCTION message_search_names_prospect() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message m SET search_names = search_name_lexemes(NEW.first_name, NEW.last_name)
            FROM conversation c WHERE c.prospect_id = NEW.id AND m.conversation_id = c.id;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION message_search_names_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message SET search_names = message_search_names(NEW.id)
            WHERE conversation_id = NEW.id;
            RETURN NULL;
        END $$""",
    """UPDATE message m SET search_names = n.lexemes
        FROM (SELECT c.id, search_name_lexemes(p.first_name, p.last_name) AS lexemes
            FROM conversation c JOIN prospect p ON p.id = c.prospect_id) AS n
        WHERE n.id = m.conversation_id""",
    "DROP FUNCTION IF EXISTS search_recency(bigint)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in PG_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in PG_DOWN:
        op.execute(statement)
