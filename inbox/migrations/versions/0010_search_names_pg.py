"""message search: the prospect's names on each message for PostgreSQL's GIN

Revision ID: 0010_search_names_pg
Revises: 0003_search
Create Date: 2026-11-24 04:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_search_names_pg"
# The names sit beside 0003's search vector, and a keyword search tests both.
down_revision: str | None = "0003_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `message.search_names` holds every prefix of the prospect's lower-cased first and last name,
# each one lexeme taken as is (not parsed): 'f' or 'l' and the prefix's UTF-8 bytes in hex. A
# name prefix is then one exact lexeme ('f6a6f' for "jo"), the same test as the `lower(name)`
# range, and GIN intersects a word's posting list with a name's in one index scan. (A `:*`
# prefix query on whole names would first gather every matching name's items into a bitmap:
# 12 ms for John's 21,000 messages against 5 ms for one exact lexeme.)
# Adding a column without a default leaves the table's rows as they are; the backfill writes
# each row once. Triggers keep the names in step: a message's when it is written or moved, a
# prospect's messages when it is renamed, a conversation's when it changes prospect. Deletes
# need nothing: the message rows go with their conversation.
PG_UP = [
    "ALTER TABLE message ADD COLUMN search_names tsvector",
    """CREATE FUNCTION search_name_lexemes(first_name text, last_name text) RETURNS tsvector
        LANGUAGE sql STABLE AS $$
        SELECT array_to_tsvector(ARRAY(
            SELECT kind || encode(convert_to(left(name, k), 'UTF8'), 'hex')
            FROM (VALUES ('f', lower(first_name)), ('l', lower(last_name))) AS n(kind, name),
                generate_series(1, length(name)) AS k))
        $$""",
    """CREATE FUNCTION message_search_names(conversation bigint) RETURNS tsvector
        LANGUAGE sql STABLE AS $$
        SELECT search_name_lexemes(p.first_name, p.last_name)
        FROM conversation c JOIN prospect p ON p.id = c.prospect_id WHERE c.id = conversation
        $$""",
    # Each prospect's lexemes once, joined to its messages.
    """UPDATE message m SET search_names = n.lexemes
        FROM (SELECT c.id, search_name_lexemes(p.first_name, p.last_name) AS lexemes
            FROM conversation c JOIN prospect p ON p.id = c.prospect_id) AS n
        WHERE n.id = m.conversation_id""",
    """CREATE FUNCTION message_search_names_set() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_names := message_search_names(NEW.conversation_id);
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER message_search_names_biu
        BEFORE INSERT OR UPDATE OF conversation_id ON message
        FOR EACH ROW EXECUTE FUNCTION message_search_names_set()""",
    """CREATE FUNCTION message_search_names_prospect() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message m SET search_names = search_name_lexemes(NEW.first_name, NEW.last_name)
            FROM conversation c WHERE c.prospect_id = NEW.id AND m.conversation_id = c.id;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER message_search_names_prospect_au
        AFTER UPDATE OF first_name, last_name ON prospect FOR EACH ROW
        WHEN (OLD.first_name IS DISTINCT FROM NEW.first_name
            OR OLD.last_name IS DISTINCT FROM NEW.last_name)
        EXECUTE FUNCTION message_search_names_prospect()""",
    """CREATE FUNCTION message_search_names_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE message SET search_names = message_search_names(NEW.id)
            WHERE conversation_id = NEW.id;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER message_search_names_conversation_au
        AFTER UPDATE OF prospect_id ON conversation FOR EACH ROW
        WHEN (OLD.prospect_id IS DISTINCT FROM NEW.prospect_id)
        EXECUTE FUNCTION message_search_names_conversation()""",
    # One index on both vectors: a word and a name are two keys of one GIN scan, which steps
    # through the shorter posting list and skips ahead in the longer one. It also answers the
    # words alone, so it replaces 0003's index on the search vector.
    "CREATE INDEX ix_message_search ON message USING gin (search_tsv, search_names)",
    "DROP INDEX ix_message_search_tsv",
    "ALTER TABLE message ALTER COLUMN search_names SET STATISTICS 1000",
    "ANALYZE message (search_names)",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS message_search_names_conversation_au ON conversation",
    "DROP TRIGGER IF EXISTS message_search_names_prospect_au ON prospect",
    "DROP TRIGGER IF EXISTS message_search_names_biu ON message",
    "DROP FUNCTION IF EXISTS message_search_names_conversation()",
    "DROP FUNCTION IF EXISTS message_search_names_prospect()",
    "DROP FUNCTION IF EXISTS message_search_names_set()",
    "DROP FUNCTION IF EXISTS message_search_names(bigint)",
    "DROP FUNCTION IF EXISTS search_name_lexemes(text, text)",
    "CREATE INDEX IF NOT EXISTS ix_message_search_tsv ON message USING gin (search_tsv)",
    "DROP INDEX IF EXISTS ix_message_search",
    "ALTER TABLE message DROP COLUMN IF EXISTS search_names",
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
