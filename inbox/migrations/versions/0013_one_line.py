"""one line: the capability branches end here, and every later revision follows this one

Revision ID: 0013_one_line
Revises: 0002_suppression, 0004_sms, 0005_workflows, 0006_email_out, 0007_email_in,
    0008_search_speed, 0009_search_names, 0011_search_recency, 0012_message_author
Create Date: 2026-11-24 07:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0013_one_line"
# The heads before this merge are exactly the rows that a database migrated by the code before
# it holds in `alembic_version` (0003 and 0010 are ancestors of 0009 and 0011), so alembic
# recognizes such a database as it is: applying this revision runs no DDL, it only replaces
# those rows with this one. A new revision's down_revision is the single head before it.
down_revision: str | Sequence[str] | None = (
    "0002_suppression",
    "0004_sms",
    "0005_workflows",
    "0006_email_out",
    "0007_email_in",
    "0008_search_speed",
    "0009_search_names",
    "0011_search_recency",
    "0012_message_author",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
