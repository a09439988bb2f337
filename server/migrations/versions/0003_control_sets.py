"""Control sets: which versions of the checks the stored decisions were made with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_sets",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("applied_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("the evidence schema is not downgraded; restore from backup instead")
