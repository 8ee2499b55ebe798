"""The journey log's tables as the code reads and writes them (the head of the migrations).

The migrations in ``migrations/versions/`` build these tables step by step and never import this
module: a revision is frozen once it has run somewhere. A test checks that the tables below and
the database the migrations build agree, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("started", sa.Float, nullable=False, index=True),
    sa.Column("ended", sa.Float),
    sa.Column("status", sa.String(32)),
    sa.Column("duration", sa.Integer),
    sa.Column("caller", sa.String(80)),
    sa.Column("language", sa.String(16)),
)

events = sa.Table(
    "events",
    metadata,
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
    sa.Column("language", sa.String(16)),
)

callbacks = sa.Table(
    "callbacks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    # One CallSid, one request: a replayed webhook finds the request it already made.
    sa.Column("call_sid", sa.String(64), nullable=False, index=True, unique=True),
    # E.164 until the callback is done or too old; then masked like any stored number.
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("queue", sa.String(64)),
    sa.Column("node", sa.String(64)),
    sa.Column("position", sa.Integer),
    sa.Column("wait", sa.Integer),
    sa.Column("requested_at", sa.Float, nullable=False, index=True),
    sa.Column("done_at", sa.Float),
    sa.Column("notes", sa.Text),
)

pin_failures = sa.Table(
    "handler_pin_failures",
    metadata,
    # BIGINT on PostgreSQL; SQLite's autoincrementing key must be spelled INTEGER.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("caller", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_handler_pin_failures_caller_at", "caller", "at"),
    sa.Index("ix_handler_pin_failures_at", "at"),
)
"""The call-handler line's wrong PINs (``ivr/webhooks/lockout.py``), shared by every worker and
instance: one row per wrong PIN, the caller as a keyed hash (never the number) and when."""

INT_MAX = 2**31 - 1
"""PostgreSQL's INTEGER; SQLite would store more, so both are held to this."""


def text(value: object, size: int | None = None) -> str | None:
    """A string every database stores as given: no NUL (PostgreSQL refuses it), no lone
    surrogate (no driver can encode it), at most ``size`` characters (VARCHAR(n))."""
    if value is None:
        return None
    value = value if isinstance(value, str) else str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if size is not None and len(value) > size:
        value = value[:size]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def whole(value: object) -> int | None:
    """A whole number within INTEGER's range, or None if ``value`` is not a number."""
    try:
        number = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return max(-INT_MAX - 1, min(INT_MAX, number))


def real(value: object) -> float | None:
    """A float, or None if ``value`` is not a number."""
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
