"""sms inbound: the raw webhooks of inbound texts, kept before they are answered and placed

Revision ID: 0015_inbound_sms
Revises: 0014_outbox_handover
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_inbound_sms"
down_revision: str | None = "0014_outbox_handover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per provider id (MessageSid): the webhook commits it and answers, and a placer threads
# it in the background. Texts received before this revision were threaded inside the request,
# so there is nothing to copy.


def upgrade() -> None:
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=200), nullable=False),
        sa.Column("from_number", sa.String(length=100), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "placed",
                "failed",
                name="inbound_sms_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid"),
    )
    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_sms_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_inbound_sms_from", ["from_number", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_sms_from")
        batch_op.drop_index("ix_inbound_sms_due")
    op.drop_table("inbound_sms")
