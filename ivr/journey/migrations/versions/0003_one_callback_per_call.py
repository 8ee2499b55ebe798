"""One callback request per call; Alembic replaces the schema_version table.

Replaying a signed callback webhook used to add a request each time. The copies are folded into
the earliest request of each call (done if any copy was done, their notes kept) before the
CallSid is made unique.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-01
"""

from __future__ import annotations

import itertools

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

callbacks = sa.table(
    "callbacks",
    sa.column("id", sa.String),
    sa.column("call_sid", sa.String),
    sa.column("requested_at", sa.Float),
    sa.column("done_at", sa.Float),
    sa.column("notes", sa.Text),
)


def upgrade() -> None:
    conn = op.get_bind()
    twice = (
        sa.select(callbacks.c.call_sid)
        .group_by(callbacks.c.call_sid)
        .having(sa.func.count() > 1)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(callbacks)
        .where(callbacks.c.call_sid.in_(twice))
        .order_by(callbacks.c.call_sid, callbacks.c.requested_at, callbacks.c.id)
    ).all()
    for _sid, group in itertools.groupby(rows, key=lambda r: r.call_sid):
        keep, *copies = list(group)
        done = [r.done_at for r in (keep, *copies) if r.done_at is not None]
        notes = [r.notes for r in (keep, *copies) if r.notes]
        conn.execute(
            callbacks.update()
            .where(callbacks.c.id == keep.id)
            .values(
                done_at=min(done) if done else None,
                notes="\n".join(dict.fromkeys(notes)) or None,
            )
        )
        conn.execute(callbacks.delete().where(callbacks.c.id.in_([r.id for r in copies])))
    op.drop_index("ix_callbacks_call_sid", table_name="callbacks")
    op.create_index("ix_callbacks_call_sid", "callbacks", ["call_sid"], unique=True)
    if sa.inspect(conn).has_table("schema_version"):
        op.drop_table("schema_version")


def downgrade() -> None:
    op.drop_index("ix_callbacks_call_sid", table_name="callbacks")
    op.create_index("ix_callbacks_call_sid", "callbacks", ["call_sid"])
