"""The journey log's hand-written migrations exactly as ivr101 shipped them before Alembic.

Only to make old databases in tests: a v1 or v2 database with its ``schema_version`` table, as
deployments have them today, which the Alembic migrations must adopt without loss.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

schema_version = sa.Table(
    "schema_version", sa.MetaData(), sa.Column("version", sa.Integer, nullable=False)
)


def _v1(conn: Connection) -> None:
    """The first layout: calls and events."""
    md = sa.MetaData()
    sa.Table(
        "calls",
        md,
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("started", sa.Float, nullable=False, index=True),
        sa.Column("ended", sa.Float),
        sa.Column("status", sa.String(32)),
        sa.Column("duration", sa.Integer),
        sa.Column("caller", sa.String(80)),
    )
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False, index=True),
        sa.Column("at", sa.Float, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("node", sa.String(64)),
        sa.Column("key", sa.String(16)),
        sa.Column("option", sa.String(64)),
        sa.Column("confidence", sa.Float),
        sa.Column("outcome", sa.String(64)),
        sa.Column("detail", sa.Text),
    )
    md.create_all(conn)


def _v2(conn: Connection) -> None:
    """The caller's language on calls and events; the callbacks table."""
    inspector = sa.inspect(conn)
    for table in ("calls", "events"):
        if "language" not in {c["name"] for c in inspector.get_columns(table)}:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN language VARCHAR(16)"))
    md = sa.MetaData()
    sa.Table(
        "callbacks",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("call_sid", sa.String(64), nullable=False, index=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("queue", sa.String(64)),
        sa.Column("node", sa.String(64)),
        sa.Column("position", sa.Integer),
        sa.Column("wait", sa.Integer),
        sa.Column("requested_at", sa.Float, nullable=False, index=True),
        sa.Column("done_at", sa.Float),
        sa.Column("notes", sa.Text),
    )
    md.create_all(conn)


MIGRATIONS = (_v1, _v2)


def make_legacy_database(engine: Engine, version: int) -> None:
    """Bring an empty database to legacy schema ``version``, as the old ``migrate()`` did."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        conn.execute(schema_version.insert().values(version=0))
        for step in MIGRATIONS[:version]:
            step(conn)
        conn.execute(schema_version.update().values(version=version))
