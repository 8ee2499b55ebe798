"""The caller's language on calls and events; callback requests (schema version 2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in ("calls", "events"):
        # Before Alembic, SQLite ran this step outside a transaction: it may have been cut
        # short after one of the columns.
        if "language" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("language", sa.String(16)))
    if not inspector.has_table("callbacks"):
        op.create_table(
            "callbacks",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("call_sid", sa.String(64), nullable=False),
            sa.Column("number", sa.String(32), nullable=False),
            sa.Column("queue", sa.String(64)),
            sa.Column("node", sa.String(64)),
            sa.Column("position", sa.Integer),
            sa.Column("wait", sa.Integer),
            sa.Column("requested_at", sa.Float, nullable=False),
            sa.Column("done_at", sa.Float),
            sa.Column("notes", sa.Text),
        )
        op.create_index("ix_callbacks_call_sid", "callbacks", ["call_sid"])
        op.create_index("ix_callbacks_requested_at", "callbacks", ["requested_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
    for table in ("events", "calls"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
