"""Calls and their events (the layout ivr101 called schema version 1).

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    # Before Alembic, SQLite ran this step outside a transaction: a step cut short may have
    # made some of the tables already.
    if "calls" not in have:
        op.create_table(
            "calls",
            sa.Column("call_sid", sa.String(64), primary_key=True),
            sa.Column("started", sa.Float, nullable=False),
            sa.Column("ended", sa.Float),
            sa.Column("status", sa.String(32)),
            sa.Column("duration", sa.Integer),
            sa.Column("caller", sa.String(80)),
        )
        op.create_index("ix_calls_started", "calls", ["started"])
    if "events" not in have:
        op.create_table(
            "events",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("call_sid", sa.String(64), nullable=False),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("node", sa.String(64)),
            sa.Column("key", sa.String(16)),
            sa.Column("option", sa.String(64)),
            sa.Column("confidence", sa.Float),
            sa.Column("outcome", sa.String(64)),
            sa.Column("detail", sa.Text),
        )
        op.create_index("ix_events_call_sid", "events", ["call_sid"])
        op.create_index("ix_events_at", "events", ["at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("calls")
