"""The journey log as a recorder: a cheap, durable ``record()`` and a thread that writes batches.

``record()`` protects personal data, appends one line to this process's spool file (so a
SIGKILL loses nothing the kernel has) and hands the record to a writer thread; it never waits for
the database. The writer writes batches; when the database is down it logs the fault (with the
CallSids waiting), keeps the records and retries with backoff. When it starts, and every
``chores_every`` seconds, it replays spool files that dead processes left behind.

A callback request is different: the caller is about to hear "we will call you back", so
:meth:`JourneyLog.request_callback` returns only once the request is in the database, or fsynced
to the spool when the database cannot take it, and raises :class:`JourneyError` otherwise.

A SQLite file by default (WAL mode, zero set-up); any SQLAlchemy URL otherwise, e.g.
``postgresql+psycopg://user@host/db`` for several instances sharing one log. The schema is
created and upgraded by Alembic when the log starts (see ``migrate.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from ..errors import JourneyError
from ..events import Event, Kind
from ..menu import to_e164
from . import migrate, queries, rows
from .report import Report
from .schema import callbacks
from .spool import Spool
from .times import parse_duration
from .writer import BatchWriter, is_transient

log = logging.getLogger("ivr.journey")

DEFAULT_URL = "sqlite:///ivr-journeys.db"
"""Where the log goes when neither an argument nor ``DATABASE_URL`` says otherwise."""
DEFAULT_SPOOL_BASE = "ivr-spool"
"""Where spool folders go (in the working directory) for databases that are not SQLite files."""
CALLBACK_NUMBER_RETENTION = "30d"
_LIVE: weakref.WeakSet[JourneyLog] = weakref.WeakSet()


def spool_folder(url: sa.URL, base: str | Path | None = None) -> Path | None:
    """The spool folder for a database: one per database, so that a log opened on another
    database (``ivr report --database ...``) never replays this one's records into it.

    Without ``base``: beside a SQLite file (``ivr-journeys.db-spool``), else ``ivr-spool/<db>``
    in the working directory. None for an in-memory database, which dies with its process.
    """
    if url.get_backend_name() == "sqlite":
        if _is_memory(url):
            return None
        if base is None:
            db = Path(url.database or "").expanduser().absolute()
            return db.with_name(db.name + "-spool")
    plain = url.set(password=None).render_as_string(hide_password=False)
    name = "".join(c if c.isalnum() else "-" for c in f"{url.host or ''}-{url.database or ''}")
    digest = hashlib.sha1(plain.encode()).hexdigest()[:10]
    key = f"{url.get_backend_name()}-{name.strip('-')[:40]}-{digest}"
    return Path(base or DEFAULT_SPOOL_BASE).expanduser().absolute() / key


class JourneyLog:
    """A durable :class:`~ivr.events.Recorder` over SQLAlchemy, and the reports read from it."""

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        caller_storage: str = "mask",
        hash_key: str | bytes | None = None,
        keep_speech: bool = False,
        spool: str | Path | bool | None = None,
        callback_number_retention: timedelta | str = CALLBACK_NUMBER_RETENTION,
        buffer_limit: int = 100_000,
        batch_size: int = 500,
        retry_initial: float = 0.1,
        retry_max: float = 10.0,
        chores_every: float = 60.0,
    ) -> None:
        """``spool``: a base folder for the spool (None: the default; False: no spool, so a
        killed process loses what it had not written)."""
        self.privacy = rows.Privacy(caller_storage, hash_key, keep_speech)
        if isinstance(callback_number_retention, str):
            callback_number_retention = parse_duration(callback_number_retention)
        self.callback_number_retention = callback_number_retention
        self.engine = self._make_engine(url or DEFAULT_URL)
        folder = None if spool is False else spool_folder(self.engine.url, spool or None)
        self.spool = Spool(folder) if folder is not None else None
        self.batch_size = batch_size
        self.writer = BatchWriter(
            self._write,
            self.spool,
            prepare=self.ensure_schema,
            chores=self._chores,
            chores_every=chores_every,
            buffer_limit=buffer_limit,
            batch_size=batch_size,
            retry_initial=retry_initial,
            retry_max=retry_max,
        )
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._replay_lock = threading.Lock()
        self._next_number_purge = 0.0
        self._callbacks: OrderedDict[str, str] = OrderedDict()
        """CallSid -> callback id, for a webhook replayed while the database is down."""
        self._callbacks_lock = threading.Lock()
        self.replayed = 0
        """Records replayed from dead processes' spool files."""
        _LIVE.add(self)
        atexit.register(self.close)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> JourneyLog:
        """Build from parsed settings (an app.config or ``ivr.settings.load()``): DATABASE_URL,
        IVR_CALLER_STORAGE, IVR_CALLER_HASH_KEY, IVR_STORE_SPEECH, IVR_SPOOL_DIR,
        IVR_CALLBACK_NUMBER_RETENTION."""
        spool = str(config.get("IVR_SPOOL_DIR") or "").strip()
        return cls(
            config.get("DATABASE_URL") or None,
            caller_storage=config.get("IVR_CALLER_STORAGE") or "mask",
            hash_key=config.get("IVR_CALLER_HASH_KEY") or None,
            keep_speech=bool(config.get("IVR_STORE_SPEECH")),
            spool=False if spool.lower() == "off" else (spool or None),
            callback_number_retention=config.get("IVR_CALLBACK_NUMBER_RETENTION")
            or CALLBACK_NUMBER_RETENTION,
            **kwargs,
        )

    def _make_engine(self, url: str | sa.URL) -> Engine:
        # Errors are logged; their SQL parameters may hold a callback number or what was said.
        private = {"hide_parameters": True}
        try:
            url = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise JourneyError(f"DATABASE_URL is not a database URL: {exc}") from None
        if url.get_backend_name() == "sqlite":
            if _is_memory(url):
                engine = sa.create_engine(
                    url,
                    poolclass=StaticPool,
                    connect_args={"check_same_thread": False},
                    **private,
                )
            else:
                # Absolute now: each batch connects afresh, and the working directory may change.
                path = Path(url.database or "").expanduser().absolute()
                url = url.set(database=str(path))
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:  # the writer keeps retrying; calls go on meanwhile
                    log.error("journey log: cannot create %s: %s", path.parent, exc)
                # A fresh connection per batch: cheap for SQLite, and a file that went away
                # (a disk unmounted) is noticed instead of written through a stale handle.
                engine = sa.create_engine(url, poolclass=NullPool, **private)
            sa_event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 5
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **private)

    def __repr__(self) -> str:
        return f"<JourneyLog {self.engine.url.render_as_string(hide_password=True)}>"

    @property
    def caller_storage(self) -> str:
        return self.privacy.caller_storage

    @property
    def keep_speech(self) -> bool:
        return self.privacy.keep_speech

    def protect(self, number: str | None) -> str | None:
        """The form in which a caller's number is stored: masked, hashed or nothing."""
        return self.privacy.protect(number)

    # -- recording --------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Spool ``event`` and queue it for writing; never raises, never waits for the database."""
        try:
            self.writer.put(self.privacy.record(event))
        except Exception:  # pragma: no cover - a recorder must never break a call
            log.exception("journey log: could not queue event for call %s", event.call_sid)

    def request_callback(
        self,
        call_sid: str,
        number: str,
        *,
        queue: str | None = None,
        node: str | None = None,
        position: int | None = None,
        wait: int | None = None,
        notes: str | None = None,
        at: float | None = None,
    ) -> str:
        """Store a callback request durably and return its id; the call's existing request's id
        if it has one (a replayed webhook). Raises :class:`JourneyError` if it cannot be stored.
        """
        try:
            number = to_e164(number)
        except ValueError as exc:
            raise JourneyError(str(exc)) from None
        at = time.time() if at is None else at
        row = rows.callback_row(
            {
                "id": uuid.uuid4().hex,
                "call_sid": call_sid,
                "number": number,
                "queue": queue,
                "node": node,
                "position": position,
                "wait": wait,
                "requested_at": at,
                "notes": notes,
            }
        )
        sid = row["call_sid"]
        with self._callbacks_lock:
            stored = self._callbacks.get(sid)
            new = False
            if stored is None and not self.writer.outage:
                try:
                    stored, new = self._store_callback(row)
                except Exception as exc:
                    log.warning(
                        "journey log: cannot store call %s's callback request in the database "
                        "(%s: %s); keeping it in the spool",
                        sid,
                        exc.__class__.__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                    )
            if stored is None:
                if not self.writer.put([rows.CALLBACK, row], durable=True):
                    raise JourneyError(
                        f"cannot store call {sid}'s callback request: the database is "
                        "unavailable and the spool cannot take it"
                    )
                stored, new = row["id"], True
            self._callbacks[sid] = stored
            while len(self._callbacks) > 10_000:
                self._callbacks.popitem(last=False)
        if new:
            self.record(
                Event(
                    call_sid,
                    Kind.CALLBACK,
                    node=node,
                    outcome="requested",
                    detail={"callback": stored, "queue": queue, "position": position, "wait": wait},
                    at=at,
                )
            )
        return stored

    def _store_callback(self, row: dict[str, Any]) -> tuple[str, bool]:
        """Insert the request unless the call has one; (the call's request id, whether new)."""
        self.ensure_schema()
        with self.engine.begin() as conn:
            rows.write(conn, [[rows.CALLBACK, row]])
            stored = conn.execute(
                sa.select(callbacks.c.id).where(callbacks.c.call_sid == row["call_sid"])
            ).scalar_one()
        return stored, stored == row["id"]

    def start(self) -> None:
        """Start the writer now (it upgrades the schema and replays dead processes' spools)
        rather than on first use."""
        self.writer.start()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued record is written; False if ``timeout`` passed first."""
        return self.writer.flush(timeout)

    @property
    def pending(self) -> int:
        """Records waiting to be written."""
        return self.writer.pending

    @property
    def written(self) -> int:
        """Events and callback requests written since start (replays not counted)."""
        return self.writer.written

    @property
    def dropped(self) -> int:
        """Records given up on: each one logged in full."""
        return self.writer.dropped

    @property
    def faults(self) -> int:
        """Failed write attempts since start."""
        return self.writer.faults

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting (for up to ``timeout`` seconds), stop the writer, disconnect.

        What the database still cannot take stays in the spool for the next start to replay.
        """
        atexit.unregister(self.close)
        self.writer.close(timeout)
        self.engine.dispose()

    def __enter__(self) -> JourneyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork(self) -> None:
        # gunicorn --preload: the parent's buffer, files, thread and connections are its own.
        self._schema_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._callbacks_lock = threading.Lock()
        self.writer.after_fork()
        self.engine.dispose(close=False)

    def ensure_schema(self) -> None:
        """Make or upgrade the schema, once per process: before the writer's first batch, the
        first read, and the first use by anything else keeping rows here (the PIN lockout)."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                migrate.upgrade(self.engine)
                self._schema_ready = True

    def _write(self, records: Sequence[rows.Record]) -> None:
        self.ensure_schema()
        with self.engine.begin() as conn:
            rows.write(conn, records)

    def _chores(self) -> None:
        """What the writer does when idle: replay dead processes' spools, purge old numbers."""
        try:
            self.ensure_schema()
        except Exception:
            return  # logged by the batch writes; tried again next time
        self.replay()
        if time.monotonic() >= self._next_number_purge:
            try:
                purged = queries.purge_callback_numbers(
                    self.engine, time.time() - self.callback_number_retention.total_seconds()
                )
            except sa.exc.SQLAlchemyError as exc:
                log.warning("journey log: cannot purge old callback numbers yet: %s", exc)
                return
            if purged:
                log.info("journey log: removed the number from %d done or old callback(s)", purged)
            self._next_number_purge = time.monotonic() + 3600

    def replay(self, wait: float = 0.0) -> int:
        """Write what dead processes left in their spool files; return how many records.

        The writer does this when it starts and every ``chores_every`` seconds; the commands
        do it before they read (``ivr report`` after a crash counts what was spooled). If
        another thread of this process is replaying, wait up to ``wait`` seconds for it.
        """
        if self.spool is None:
            return 0
        got = self._replay_lock.acquire(timeout=wait) if wait else self._replay_lock.acquire(False)
        if not got:
            return 0
        total = 0
        try:
            for orphan in self.spool.orphans():
                n = 0
                for batch in orphan.batches(self.batch_size):
                    try:
                        self._write(batch)
                    except Exception as exc:
                        # Never give up on a file's records here: a database that refuses
                        # them all (a read-only role running `ivr report`) must not cost them.
                        if is_transient(exc) or not self.writer.write_singly(batch, give_up=False):
                            log.warning(
                                "journey log: cannot replay %s yet (%s); will try again",
                                orphan.path,
                                exc.__class__.__name__,
                            )
                            return total
                    n += len(batch)
                orphan.done()
                total += n
                self.replayed += n
                log.warning(
                    "journey log: replayed %d record(s) from %s, left by a process that stopped "
                    "before writing them%s",
                    n,
                    orphan.path.name,
                    f" ({orphan.skipped} damaged part(s) skipped)" if orphan.skipped else "",
                )
        finally:
            self._replay_lock.release()
        return total

    # -- reading ----------------------------------------------------------------------------

    def _ready(self) -> None:
        """Before a read: what this process recorded is written, and the schema is there."""
        # Reads in this process see what it has recorded; another process sees what is written.
        if self.writer.pending and self.writer.running:
            self.flush(timeout=2.0)
        try:
            self.ensure_schema()
        except sa.exc.SQLAlchemyError as exc:
            raise JourneyError(f"cannot read the journey log: {exc}") from exc

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A connection for one read; any database failure during it, connecting or querying,
        is a JourneyError (an IVRError: the webhooks that read fall back instead of failing)."""
        self._ready()
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise JourneyError(f"cannot read the journey log: {exc}") from exc

    def call(self, call_sid: str) -> queries.StoredCall | None:
        """The call's summary row, or None."""
        with self._reader() as conn:
            return queries.call(conn, call_sid)

    def journey(self, call_sid: str) -> list[Event]:
        """Every recorded step of one call, in order."""
        with self._reader() as conn:
            return queries.journey(conn, call_sid)

    def recent_calls(self, limit: int = 20) -> list[queries.StoredCall]:
        """The latest calls, newest first."""
        with self._reader() as conn:
            return queries.recent_calls(conn, limit)

    def pending_callbacks(self) -> list[queries.Callback]:
        """Callback requests not yet done, oldest first, with the options each caller chose."""
        with self._reader() as conn:
            return queries.pending_callbacks(conn)

    def complete_callback(self, callback_id: str, notes: str | None = None) -> queries.Callback:
        """Mark a callback done and forget its number; ``callback_id`` may be a unique prefix
        of at least 4 characters."""
        self._ready()
        return queries.complete_callback(self.engine, callback_id, notes)

    def purge(
        self, older_than: timedelta | str, now: float | None = None, dry_run: bool = False
    ) -> dict[str, int]:
        """Delete calls, their events and callbacks older than ``older_than``; return counts
        (with ``dry_run``, what would go, deleting nothing)."""
        if isinstance(older_than, str):
            older_than = parse_duration(older_than)
        cutoff = (time.time() if now is None else now) - older_than.total_seconds()
        self._ready()
        return queries.purge(self.engine, cutoff, dry_run)

    def report(
        self,
        since: float | None = None,
        until: float | None = None,
        menu: Any = None,
        include_test_calls: bool = False,
    ) -> Report:
        """Figures for calls that started in ``[since, until)`` (epoch seconds; None: open).

        With the ``menu`` (an :class:`ivr.menu.Menu`) the report also knows which nodes end a
        call by design, queue names and transfer numbers. Test callers' calls (on the draft
        menu) are counted apart and left out, unless ``include_test_calls``.
        """
        with self._reader() as conn:
            return queries.report(conn, since, until, menu, include_test_calls)


def _is_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout first: switching to WAL itself waits for other writers.
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _after_fork_in_child() -> None:
    for journey_log in list(_LIVE):
        journey_log._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
