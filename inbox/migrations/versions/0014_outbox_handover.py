"""send queue: mark the hand-over of a job's message, so a crash leaves only that one unknown

Revision ID: 0014_outbox_handover
Revises: 0013_one_line
Create Date: 2026-11-24 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_outbox_handover"
down_revision: str | None = "0013_one_line"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A sender commits `handing_over_at` just before the step that may deliver a job's message and
# clears it with the outcome. After a crash, a job whose lease lapsed without it was claimed but
# never handed over, and is simply sent; only one with it needs asking the channel. A job that a
# sender of the code before held when it stopped cannot tell which it was: it is taken as
# maybe handed over, as that code did.


def upgrade() -> None:
    with op.batch_alter_table("outbox_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handing_over_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE outbox_job SET handing_over_at = COALESCE(locked_until, created_at) WHERE state = 'sending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox_job", schema=None) as batch_op:
        batch_op.drop_column("handing_over_at")
