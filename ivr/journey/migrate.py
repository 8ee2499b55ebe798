"""Bring a journey database's schema up to date with Alembic, once, however many processes start.

The revisions live in ``migrations/versions/``; add one for every change to ``schema.py`` and
never edit one that has shipped. They run when the log starts and with ``ivr db upgrade``.

Several gunicorn workers (and instances) start at once on a new database, so the whole upgrade
runs in ONE transaction that holds a lock:

- PostgreSQL: ``pg_advisory_xact_lock``; DDL is transactional, so the others wait, then find the
  schema at its head and do nothing.
- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock for the whole upgrade, and SQLite
  DDL is transactional too (the driver is told to leave transactions to us). Others wait for the
  lock (``busy_timeout``), then find nothing to do. No lock file is needed: the database file is
  the lock, and a step cut short by a crash is rolled back rather than left half done.

A database made before Alembic has a ``schema_version`` table instead of ``alembic_version``: it
is stamped with the matching revision and then upgraded like any other.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine

from ..errors import JourneyError

log = logging.getLogger("ivr.journey")

FOLDER = Path(__file__).resolve().parent / "migrations"
LEGACY = {1: "0001", 2: "0002"}
"""``schema_version`` (ivr101 before Alembic) -> the revision with the same tables."""
LOCK_KEY = 0x1017_101
"""pg_advisory_xact_lock key: "the ivr101 journey schema"."""
SQLITE_BUSY_MS = 30_000
_ALEMBIC = threading.Lock()
"""Alembic's ``op`` and ``context`` are module-wide: one upgrade at a time in a process, even
on different databases (two at once had one's DDL run on the other's SQLite connection)."""


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the journey log's revisions (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this ivr101 knows."""
    found = _scripts().get_current_head()
    assert found is not None
    return found


def current(engine: Engine) -> str | None:
    """The database's revision: None for an empty database, ``legacy-N`` before Alembic.
    Raises :class:`JourneyError` if the database cannot be read (the writer never asks: it
    tells a database that is down from a fault by SQLAlchemy's own errors)."""
    try:
        with engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
            if revision is None and sa.inspect(conn).has_table("schema_version"):
                legacy = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar()
                return f"legacy-{legacy or 0}"
    except sa.exc.SQLAlchemyError as exc:
        raise JourneyError(f"cannot read the journey database's revision: {exc}") from exc
    return revision


def is_current(engine: Engine) -> bool:
    """Whether the schema is at this ivr101's head (a read; no lock, no DDL)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() == head()
    except sa.exc.SQLAlchemyError:
        return False


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the schema to ``revision``; return the revision reached.

    Safe when several processes do it at once. Raises :class:`JourneyError` for a database a
    newer ivr101 has migrated.
    """
    if revision == "head" and is_current(engine):
        return head()
    with _ALEMBIC, _exclusive(engine) as conn:
        before = _adopt_legacy(conn)
        if before is not None:
            try:
                _scripts().get_revision(before)
            except CommandError:
                raise JourneyError(
                    f"the journey database is at revision {before}, which this ivr101 does "
                    f"not know (a newer ivr101 migrated it); upgrade ivr101"
                ) from None
        command.upgrade(config(conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("journey log: schema upgraded from %s to %s", before or "nothing", after)
    return after


def _adopt_legacy(conn: Connection) -> str | None:
    """The current revision, after stamping a database made before Alembic."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None or not sa.inspect(conn).has_table("schema_version"):
        return revision
    version = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0
    if version > max(LEGACY):
        raise JourneyError(
            f"the journey database is at schema version {version}, newer than this ivr101 "
            f"knows; upgrade ivr101"
        )
    if version == 0:
        return None
    command.stamp(config(conn), LEGACY[version])
    log.info("journey log: adopted schema version %d as revision %s", version, LEGACY[version])
    return LEGACY[version]


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other migrating process can enter."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        locked = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
        sa_event.listen(locked, "connect", _sqlite_manual_transactions)
        sa_event.listen(locked, "begin", _sqlite_begin_immediate)
        try:
            with locked.begin() as conn:
                yield conn
        finally:
            locked.dispose()
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module would commit before each DDL statement; None leaves BEGIN to us.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
