"""email outbound: per-recipient delivery outcomes, Reply-To and the signature applied

Revision ID: 0006_email_out
Revises: 0001
Create Date: 2026-11-24 00:26:15.417245
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_email_out"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recipient_outcome",
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "sent",
                "deferred",
                "failed",
                name="recipient_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "address"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reply_to", sa.String(length=320), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("signature_kind", sa.String(length=20), nullable=False, server_default="")
        )


def downgrade() -> None:
    # In place on SQLite too (ALTER TABLE ... DROP COLUMN): batch mode would copy `message` to
    # a new table, which the search view (0009) refuses and which would lose the search triggers.
    op.drop_column("message", "signature_kind")
    op.drop_column("message", "reply_to")
    op.drop_table("recipient_outcome")
