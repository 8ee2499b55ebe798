"""The call-handler line's wrong PINs, counted per caller across workers and instances.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handler_pin_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_handler_pin_failures_caller_at", "handler_pin_failures", ["caller", "at"])
    op.create_index("ix_handler_pin_failures_at", "handler_pin_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_handler_pin_failures_at", table_name="handler_pin_failures")
    op.drop_index("ix_handler_pin_failures_caller_at", table_name="handler_pin_failures")
    op.drop_table("handler_pin_failures")
