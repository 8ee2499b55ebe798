"""The journey log: every step of every call in a SQL database, read back as journeys and reports.

:class:`JourneyLog` is a :class:`~ivr.events.Recorder`. ``record()`` only appends the event to an
in-memory buffer; a background thread writes batches to the database. When the database is down
the writer logs the fault (with the CallSids waiting), keeps the events and retries with backoff,
so a caller never notices and nothing is lost silently. Event ids are the primary key, so a batch
retried after a fault half-way through is still written exactly once.

A SQLite file by default (WAL mode, zero set-up); any SQLAlchemy URL otherwise, e.g.
``postgresql+psycopg://user@host/db`` for several instances sharing one log. The schema is created
on first use and migrated forward step by step (``schema_version`` holds the step reached).

Caller numbers are personal data: they are stored masked (default), as a keyed HMAC, or not at all
(``caller_storage``). The one exception is the number a caller asks to be called back on, which is
needed to call them back; :meth:`JourneyLog.purge` removes it with the rest.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from .errors import CallbackNotFound, JourneyError
from .events import Event, Kind, mask_number

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("ivr.journey")

DEFAULT_URL = "sqlite:///ivr-journeys.db"
"""Where the log goes when neither an argument nor ``DATABASE_URL`` says otherwise."""

LONDON = ZoneInfo("Europe/London")
CALLER_STORAGE = ("mask", "hash", "none")
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
ANSWERED = frozenset({"bridged", "bridging-in-process", "redirected-from-bridged"})
SPEECH_KEYS = frozenset({"speech", "SpeechResult", "UnstableSpeechResult"})
NUMBER_KEYS = frozenset({"caller", "From", "Caller", "from", "number", "To", "Called"})

# -- schema ------------------------------------------------------------------------------------

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata, sa.Column("version", sa.Integer, nullable=False)
)

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
        # A step interrupted half-way (SQLite DDL is not transactional) may be re-run.
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


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2)
"""Schema steps in order; step ``n`` takes a database from version ``n`` to ``n + 1``.
Append new steps, never edit old ones: deployed databases have already run them."""
SCHEMA_VERSION = len(MIGRATIONS)


_LOCK_KEY = 0x1017_101  # pg_advisory_xact_lock key: "the ivr101 journey schema"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold off other processes migrating the same SQLite file (a lock file beside it).

    PostgreSQL needs none: migrate() takes an advisory lock in its transaction.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or _is_memory(url) or fcntl is None:
        yield
        return
    with open(f"{url.database}-migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine, target: int | None = None) -> int:
    """Bring the schema up to ``target`` (default: current); return the version reached.

    Safe when several processes (gunicorn workers, instances) start on a new database at once.
    """
    target = SCHEMA_VERSION if target is None else target
    with _migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        schema_version.create(conn, checkfirst=True)
        current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if current is None:
            conn.execute(schema_version.insert().values(version=0))
            current = 0
        if current > SCHEMA_VERSION:
            raise JourneyError(
                f"the journey database is at schema version {current}, newer than this ivr "
                f"({SCHEMA_VERSION}); upgrade ivr101"
            )
        while current < target:
            log.info("journey log: migrating schema to version %d", current + 1)
            MIGRATIONS[current](conn)
            current += 1
            conn.execute(schema_version.update().values(version=current))
    return current


# -- settings and small parsers ----------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """Parse ``90d``, ``12h``, ``30m`` (also ``2w``, ``45s``) into a timedelta."""
    m = _DURATION.match(text or "")
    if not m:
        raise JourneyError(f"{text!r} is not a duration like 90d, 12h or 30m")
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def parse_time(text: str, now: float | None = None) -> float:
    """Parse a report bound: ``2026-11-01``, ``2026-11-01T09:30`` (UK time) or ``7d`` (ago)."""
    now = time.time() if now is None else now
    if _DURATION.match(text or ""):
        return now - parse_duration(text).total_seconds()
    try:
        moment = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise JourneyError(f"{text!r} is not a date, a date and time, or a duration") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.timestamp()


def local_time(at: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format an epoch time in UK time."""
    if at is None:
        return ""
    return datetime.fromtimestamp(at, LONDON).strftime(fmt)


def _cut(value: Any, size: int) -> Any:
    if isinstance(value, str) and len(value) > size:
        return value[:size]
    return value


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _is_transient(exc: BaseException) -> bool:
    """A fault that waiting may cure: the server is down, the file locked or unreachable."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OSError, sa.exc.TimeoutError))


def _is_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


# -- the log -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """One call as the ``calls`` table holds it."""

    call_sid: str
    started: float
    ended: float | None = None
    status: str | None = None
    duration: int | None = None
    caller: str | None = None
    """Masked, hashed (``hmac-sha256:...``) or None, per ``caller_storage``."""
    language: str | None = None


@dataclass(frozen=True)
class Callback:
    """A caller's request to be called back instead of holding."""

    id: str
    call_sid: str
    number: str
    queue: str | None
    node: str | None
    position: int | None
    wait: int | None
    requested_at: float
    done_at: float | None = None
    notes: str | None = None
    path: tuple[str, ...] = ()
    """The options the caller chose on the way, in order (filled in by pending_callbacks)."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = list(self.path)
        return d


@dataclass
class _CallbackRow:
    row: dict[str, Any]


class JourneyLog:
    """A durable :class:`~ivr.events.Recorder` over SQLAlchemy, and the reports read from it."""

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        caller_storage: str = "mask",
        hash_key: str | bytes | None = None,
        keep_speech: bool = False,
        buffer_limit: int = 100_000,
        batch_size: int = 500,
        retry_initial: float = 0.1,
        retry_max: float = 10.0,
    ) -> None:
        if caller_storage not in CALLER_STORAGE:
            raise JourneyError(
                f"caller storage {caller_storage!r} is not one of {', '.join(CALLER_STORAGE)}"
            )
        if caller_storage == "hash" and not hash_key:
            raise JourneyError("caller storage 'hash' needs a key (IVR_CALLER_HASH_KEY)")
        self.caller_storage = caller_storage
        self._hash_key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        self.keep_speech = keep_speech
        self.buffer_limit = buffer_limit
        self.batch_size = batch_size
        self.linger = 0.05
        """Seconds the writer waits for more events before writing a part-filled batch."""
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.engine = self._make_engine(url or DEFAULT_URL)

        self._buffer: deque[Event | _CallbackRow] = deque()
        self._cond = threading.Condition()
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._stopping = False
        self._closed = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.written = 0
        """Events and callback requests written since start."""
        self.dropped = 0
        """Items refused because the buffer was full, or abandoned: each one logged in full."""
        self.faults = 0
        """Failed write attempts since start."""
        atexit.register(self.close)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> JourneyLog:
        """Build from settings: DATABASE_URL, IVR_CALLER_STORAGE, IVR_CALLER_HASH_KEY,
        IVR_STORE_SPEECH (an app.config or os.environ)."""
        keep = str(config.get("IVR_STORE_SPEECH") or "").lower() in ("1", "true", "yes", "on")
        return cls(
            config.get("DATABASE_URL") or None,
            caller_storage=(config.get("IVR_CALLER_STORAGE") or "mask").lower(),
            hash_key=config.get("IVR_CALLER_HASH_KEY") or None,
            keep_speech=keep,
            **kwargs,
        )

    def _make_engine(self, url: str | sa.URL) -> Engine:
        try:
            url = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise JourneyError(f"DATABASE_URL is not a database URL: {exc}") from None
        if url.get_backend_name() == "sqlite":
            if _is_memory(url):
                engine = sa.create_engine(
                    url, poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                # Absolute now: each batch connects afresh, and the working directory may change.
                path = Path(url.database).expanduser().absolute()
                url = url.set(database=str(path))
                folder = path.parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:  # the writer keeps retrying; calls go on meanwhile
                    log.error("journey log: cannot create %s: %s", folder, exc)
                # A fresh connection per batch: cheap for SQLite, and a file that went away
                # (a disk unmounted) is noticed instead of written through a stale handle.
                engine = sa.create_engine(url, poolclass=NullPool)
            sa_event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 5
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    def __repr__(self) -> str:
        return f"<JourneyLog {self.engine.url.render_as_string(hide_password=True)}>"

    # -- writing ----------------------------------------------------------------------------

    def protect(self, number: str | None) -> str | None:
        """The form in which a caller's number is stored: masked, hashed or nothing."""
        if not number:
            return None
        if self.caller_storage == "mask":
            return mask_number(number)
        if self.caller_storage == "hash":
            assert self._hash_key is not None
            plain = re.sub(r"[\s()-]", "", number)
            digest = hmac.new(self._hash_key, plain.encode(), hashlib.sha256).hexdigest()
            return "hmac-sha256:" + digest[:40]
        return None

    def record(self, event: Event) -> None:
        """Queue ``event`` for writing; never raises, never waits for the database."""
        try:
            self._put(event)
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
        """Store a callback request (written like events: never waits); return its id."""
        from .numbers import to_e164

        try:
            number = to_e164(number)
        except ValueError as exc:
            raise JourneyError(str(exc)) from None
        at = time.time() if at is None else at
        callback_id = uuid.uuid4().hex
        row = {
            "id": callback_id,
            "call_sid": _cut(call_sid, 64),
            "number": number,
            "queue": _cut(queue, 64),
            "node": _cut(node, 64),
            "position": _int(position),
            "wait": _int(wait),
            "requested_at": at,
            "done_at": None,
            "notes": notes,
        }
        self._put(_CallbackRow(row))
        self.record(
            Event(
                call_sid,
                "callback",
                node=node,
                outcome="requested",
                detail={
                    "callback": callback_id,
                    "queue": queue,
                    "position": position,
                    "wait": wait,
                },
                at=at,
            )
        )
        return callback_id

    def _put(self, item: Event | _CallbackRow) -> None:
        with self._cond:
            if self._closed:
                self._drop(item, "the journey log is closed")
                return
            if len(self._buffer) >= self.buffer_limit:
                self._drop(item, f"the buffer is full ({self.buffer_limit} waiting)")
                return
            self._buffer.append(item)
            self._ensure_writer()
            if len(self._buffer) == 1:  # only an idle writer needs waking
                self._cond.notify_all()

    def _drop(self, item: Event | _CallbackRow, why: str) -> None:
        # Called with the lock held. Log the whole item, so it can still be recovered by hand.
        self.dropped += 1
        if isinstance(item, Event):
            sid = item.call_sid
            try:
                data = self._event_row(item)
            except Exception:  # the very reason it could not be stored
                data = item.as_dict() | {"caller": self.protect(item.caller), "detail": "?"}
        else:
            sid, data = item.row["call_sid"], item.row
        log.error(
            "journey log: DROPPED %s for call %s because %s: %s",
            "event" if isinstance(item, Event) else "callback",
            sid,
            why,
            json.dumps(data, default=str, sort_keys=True),
        )

    def start(self) -> None:
        """Start the writer now (it creates or migrates the schema) rather than on first use."""
        with self._cond:
            self._ensure_writer()

    def _ensure_writer(self) -> None:
        # After a fork (gunicorn --preload) the parent's thread does not exist in the child.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = None
            self.engine.dispose(close=False)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="ivr-journey-writer", daemon=True
            )
            self._thread.start()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued item is written; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._buffer:
                if self._thread is None or not self._thread.is_alive():
                    if self._closed:
                        return False
                    self._ensure_writer()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 1.0)
        return True

    @property
    def pending(self) -> int:
        """Items waiting to be written."""
        return len(self._buffer)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting (for up to ``timeout`` seconds), stop the writer, disconnect."""
        if self._closed:
            return
        atexit.unregister(self.close)
        drained = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._stopping = True
            left = list(self._buffer)
            if not drained and left:
                for item in left:
                    self._drop(item, "the database was still unavailable at shutdown")
                self._buffer.clear()
            self._cond.notify_all()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(timeout, 1.0))
        self.engine.dispose()

    def __enter__(self) -> JourneyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._writer_loop()
        except Exception:  # pragma: no cover - a bug; flush() or the next record restarts it
            log.exception("journey log: the writer stopped; %d item(s) waiting", len(self._buffer))

    def _writer_loop(self) -> None:
        delay = self.retry_initial
        failures = 0  # consecutive failed attempts, for the log and the backoff
        stubborn = 0  # consecutive failures that waiting does not seem to cure
        try:
            self._ensure_schema()
        except Exception as exc:  # the first write retries it
            log.error("journey log: cannot prepare the database (%s); will retry", exc)
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    self._cond.wait()
                if not self._buffer:
                    return
                if len(self._buffer) < self.batch_size and not self._stopping:
                    # Let a batch gather: one transaction for many events costs the webhooks
                    # sharing this process far less CPU than one transaction each.
                    self._cond.wait(self.linger)
                batch = list(itertools.islice(self._buffer, self.batch_size))
            try:
                # Not the events' fault if this fails: never a reason to give any up.
                self._ensure_schema()
            except Exception as exc:
                failures += 1
                self.faults += 1
                self._log_fault(exc, batch, failures, delay)
                self._wake.wait(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            try:
                self._write(batch)
                done = len(batch)
            except Exception as exc:
                failures += 1
                self.faults += 1
                stubborn = 0 if _is_transient(exc) else stubborn + 1
                self._log_fault(exc, batch, failures, delay)
                done = 0
                if stubborn >= 3:
                    # The same batch keeps failing for a reason other than the connection:
                    # find the item at fault, log it in full and let the others through.
                    done = self._write_singly(batch, give_up=stubborn >= 10)
                if done == 0:
                    if self._stopping:
                        return
                    self._wake.wait(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
            with self._cond:
                # close() may have given up on (and logged) what was waiting meanwhile.
                for _ in range(min(done, len(self._buffer))):
                    self._buffer.popleft()
                self.written += done
                waiting = len(self._buffer)
                self._cond.notify_all()
            if failures:
                log.warning(
                    "journey log: database is back after %d failed attempt(s); "
                    "%d item(s) still waiting",
                    failures,
                    waiting,
                )
            failures = stubborn = 0
            delay = self.retry_initial

    def _write_singly(self, batch: list[Event | _CallbackRow], give_up: bool) -> int:
        """Write items one by one; return how many from the front are dealt with.

        An item the database refuses is dropped (logged in full) only when others around it
        were written, proving the fault is the item's; or, with ``give_up``, a batch of one
        that has failed many times over, so one bad event cannot hold up all the others.
        """
        refused: list[tuple[Event | _CallbackRow, Exception]] = []
        written = 0
        done = 0
        for item in batch:
            try:
                self._write([item])
                written += 1
            except Exception as exc:
                if _is_transient(exc):
                    break
                refused.append((item, exc))
            done += 1
        if refused and not written and not (give_up and len(batch) == 1):
            return 0
        with self._cond:
            for item, exc in refused:
                self._drop(item, f"the database refuses it ({exc.__class__.__name__}: {exc})")
        return done

    def _log_fault(
        self, exc: BaseException, batch: list[Event | _CallbackRow], failures: int, delay: float
    ) -> None:
        sids = sorted({i.call_sid if isinstance(i, Event) else i.row["call_sid"] for i in batch})
        shown = ", ".join(sids[:5]) + (f" and {len(sids) - 5} more" if len(sids) > 5 else "")
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        log.error(
            "journey log: cannot write %d item(s) for call(s) %s (attempt %d, %s: %s); "
            "keeping them (%d waiting) and retrying in %.1fs",
            len(batch),
            shown,
            failures,
            exc.__class__.__name__,
            message,
            len(self._buffer),
            delay,
        )

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                migrate(self.engine)
                self._schema_ready = True

    def _clean_detail(self, detail: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for name, value in detail.items():
            if name in SPEECH_KEYS and not self.keep_speech:
                continue
            if name in NUMBER_KEYS and isinstance(value, str):
                value = self.protect(value)
            clean[name] = value
        return clean

    def _event_row(self, e: Event) -> dict[str, Any]:
        detail = self._clean_detail(e.detail or {})
        return {
            "id": _cut(e.id, 64),
            "call_sid": _cut(e.call_sid, 64),
            "at": float(e.at),
            "kind": _cut(e.kind, 32),
            "node": _cut(e.node, 64),
            "key": _cut(e.key, 16),
            "option": _cut(e.option, 64),
            "confidence": e.confidence,
            "outcome": _cut(e.outcome, 64),
            "detail": json.dumps(detail, default=str, sort_keys=True) if detail else None,
            "language": _cut(e.language, 16),
        }

    def _write(self, batch: Sequence[Event | _CallbackRow]) -> None:
        self._ensure_schema()
        evs = [i for i in batch if isinstance(i, Event)]
        cbs = [i.row for i in batch if isinstance(i, _CallbackRow)]
        with self.engine.begin() as conn:
            if evs:
                rows = {}
                for e in evs:
                    rows[e.id[:64]] = self._event_row(e)
                # Inserting only ids not yet stored makes a retried batch idempotent.
                for chunk in _chunks(list(rows), 400):
                    have = conn.execute(
                        sa.select(events.c.id).where(events.c.id.in_(chunk))
                    ).scalars()
                    for seen in have:
                        rows.pop(seen, None)
                if rows:
                    conn.execute(events.insert(), list(rows.values()))
                self._update_calls(conn, evs)
            if cbs:
                ids = [r["id"] for r in cbs]
                have = set(
                    conn.execute(sa.select(callbacks.c.id).where(callbacks.c.id.in_(ids)))
                    .scalars()
                    .all()
                )
                fresh = [r for r in cbs if r["id"] not in have]
                if fresh:
                    conn.execute(callbacks.insert(), fresh)

    def _update_calls(self, conn: Connection, evs: Sequence[Event]) -> None:
        by_call: dict[str, dict[str, Any]] = {}
        for e in sorted(evs, key=lambda e: e.at):
            sid = _cut(e.call_sid, 64)
            c = by_call.setdefault(sid, {"call_sid": sid, "started": e.at})
            c["started"] = min(c["started"], e.at)
            if e.caller and "caller" not in c:
                c["caller"] = self.protect(e.caller)
            if e.language and "language" not in c:
                c["language"] = _cut(e.language, 16)
            if e.kind == "status":
                status = str(e.detail.get("CallStatus") or e.outcome or "").lower() or None
                if status:
                    c["status"] = _cut(status, 32)
                duration = _int(e.detail.get("CallDuration", e.detail.get("duration")))
                if duration is not None:
                    c["duration"] = duration
                if status in FINAL_STATUSES:
                    c["ended"] = e.at
        existing: dict[str, Any] = {}
        for chunk in _chunks(list(by_call), 400):
            for row in conn.execute(sa.select(calls).where(calls.c.call_sid.in_(chunk))):
                existing[row.call_sid] = row
        fresh = [
            {"ended": None, "status": None, "duration": None, "caller": None, "language": None} | c
            for sid, c in by_call.items()
            if sid not in existing
        ]
        if fresh:
            conn.execute(calls.insert(), fresh)
        for sid, c in by_call.items():
            row = existing.get(sid)
            if row is None:
                continue
            changes: dict[str, Any] = {}
            if c["started"] < row.started:
                changes["started"] = c["started"]
            for name in ("caller", "language"):
                if c.get(name) and getattr(row, name) is None:
                    changes[name] = c[name]
            for name in ("status", "duration", "ended"):
                if c.get(name) is not None:
                    changes[name] = c[name]
            if changes:
                conn.execute(calls.update().where(calls.c.call_sid == sid).values(**changes))

    # -- reading ----------------------------------------------------------------------------

    def _reader(self) -> Connection:
        # Reads in this process see what it has recorded; another process sees what is written.
        if self._buffer and self._thread is not None and self._thread.is_alive():
            self.flush(timeout=2.0)
        try:
            self._ensure_schema()
            return self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise JourneyError(f"cannot read the journey log: {exc}") from exc

    def call(self, call_sid: str) -> CallRecord | None:
        """The call's summary row, or None."""
        with self._reader() as conn:
            row = conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)).first()
        return CallRecord(**row._asdict()) if row else None

    def journey(self, call_sid: str) -> list[Event]:
        """Every recorded step of one call, in order."""
        with self._reader() as conn:
            rows = conn.execute(
                sa.select(events)
                .where(events.c.call_sid == call_sid)
                .order_by(events.c.at, events.c.id)
            ).all()
        return [_to_event(r) for r in rows]

    def recent_calls(self, limit: int = 20) -> list[CallRecord]:
        """The latest calls, newest first."""
        with self._reader() as conn:
            rows = conn.execute(
                sa.select(calls).order_by(calls.c.started.desc()).limit(limit)
            ).all()
        return [CallRecord(**r._asdict()) for r in rows]

    def pending_callbacks(self) -> list[Callback]:
        """Callback requests not yet done, oldest first, with the options each caller chose."""
        with self._reader() as conn:
            rows = conn.execute(
                sa.select(callbacks)
                .where(callbacks.c.done_at.is_(None))
                .order_by(callbacks.c.requested_at, callbacks.c.id)
            ).all()
            paths: dict[str, list[str]] = defaultdict(list)
            sids = list({r.call_sid for r in rows})
            for chunk in _chunks(sids, 400):
                for e in conn.execute(
                    sa.select(events.c.call_sid, events.c.option)
                    .where(events.c.call_sid.in_(chunk), events.c.option.is_not(None))
                    .where(events.c.outcome.not_in(("invalid", "silence")))
                    .order_by(events.c.at, events.c.id)
                ):
                    paths[e.call_sid].append(e.option)
        return [Callback(**r._asdict(), path=tuple(paths.get(r.call_sid, ()))) for r in rows]

    def complete_callback(self, callback_id: str, notes: str | None = None) -> Callback:
        """Mark a callback done; ``callback_id`` may be a unique prefix of at least 4 characters."""
        prefix = (callback_id or "").strip().lower()
        if len(prefix) < 4:
            raise CallbackNotFound(callback_id)
        with self._reader() as conn:
            rows = conn.execute(
                sa.select(callbacks).where(callbacks.c.id.startswith(prefix, autoescape=True))
            ).all()
        if len(rows) != 1:
            raise CallbackNotFound(callback_id, len(rows))
        row = rows[0]
        if row.done_at is not None:
            raise JourneyError(
                f"callback {row.id[:8]} was already done at {local_time(row.done_at)}"
            )
        done_at = time.time()
        changes: dict[str, Any] = {"done_at": done_at}
        if notes:
            changes["notes"] = f"{row.notes}\n{notes}" if row.notes else notes
        try:
            with self.engine.begin() as conn:
                conn.execute(callbacks.update().where(callbacks.c.id == row.id).values(**changes))
        except sa.exc.SQLAlchemyError as exc:
            raise JourneyError(f"cannot update the journey log: {exc}") from exc
        return Callback(**(row._asdict() | changes))

    def purge(self, older_than: timedelta | str, now: float | None = None) -> dict[str, int]:
        """Delete calls, their events and callbacks older than ``older_than``; return counts."""
        if isinstance(older_than, str):
            older_than = parse_duration(older_than)
        cutoff = (time.time() if now is None else now) - older_than.total_seconds()
        self._reader().close()
        try:
            with self.engine.begin() as conn:
                old = sa.select(calls.c.call_sid).where(calls.c.started < cutoff)
                n_events = conn.execute(
                    events.delete().where(sa.or_(events.c.call_sid.in_(old), events.c.at < cutoff))
                ).rowcount
                n_callbacks = conn.execute(
                    callbacks.delete().where(
                        sa.or_(callbacks.c.call_sid.in_(old), callbacks.c.requested_at < cutoff)
                    )
                ).rowcount
                n_calls = conn.execute(calls.delete().where(calls.c.started < cutoff)).rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise JourneyError(f"cannot purge the journey log: {exc}") from exc
        return {"calls": n_calls, "events": n_events, "callbacks": n_callbacks}

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
        now = time.time()
        builder = _ReportBuilder(now, MenuFacts.from_menu(menu) if menu else MenuFacts())
        builder.include_test_calls = include_test_calls
        with self._reader() as conn:
            where = []
            if since is not None:
                where.append(calls.c.started >= since)
            if until is not None:
                where.append(calls.c.started < until)
            q = sa.select(calls).where(*where).order_by(calls.c.call_sid)
            call_rows = {r.call_sid: r for r in conn.execute(q)}
            sids = list(call_rows)
            for chunk in _chunks(sids, 400):
                rows = conn.execute(
                    sa.select(events)
                    .where(events.c.call_sid.in_(chunk))
                    .order_by(events.c.call_sid, events.c.at, events.c.id)
                )
                for sid, group in itertools.groupby(rows, key=lambda r: r.call_sid):
                    builder.add_call(call_rows.pop(sid), [_to_event(r) for r in group])
            for row in call_rows.values():  # calls with no events left (should not happen)
                builder.add_call(row, [])
            cwhere = []
            if since is not None:
                cwhere.append(callbacks.c.requested_at >= since)
            if until is not None:
                cwhere.append(callbacks.c.requested_at < until)
            for row in conn.execute(sa.select(callbacks).where(*cwhere)):
                builder.add_callback(row)
        return builder.build(since, until)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout first: switching to WAL itself waits for other writers.
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _to_event(row: Any) -> Event:
    return Event(
        call_sid=row.call_sid,
        kind=row.kind,
        node=row.node,
        language=row.language,
        key=row.key,
        option=row.option,
        confidence=row.confidence,
        outcome=row.outcome,
        detail=json.loads(row.detail) if row.detail else {},
        at=row.at,
        id=row.id,
    )


# -- the report --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Count, median and 95th percentile of some durations in seconds."""
    med, p95 = percentile(values, 50), percentile(values, 95)
    return {
        "count": len(values),
        "median": None if med is None else round(med, 1),
        "p95": None if p95 is None else round(p95, 1),
    }


@dataclass
class Report:
    """What ``ivr report`` shows; every field is plain data (``as_dict`` is JSON-ready)."""

    since: float | None
    until: float | None
    generated: float
    calls: dict[str, Any]
    choices: list[dict[str, Any]]
    hangups: list[dict[str, Any]]
    hot_spots: list[dict[str, Any]]
    queues: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    callbacks: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _detail(e: Event, *names: str) -> Any:
    for name in names:
        if e.detail.get(name) not in (None, ""):
            return e.detail[name]
    return None


@dataclass(frozen=True)
class MenuFacts:
    """What the report needs to know about the menu's nodes (all optional)."""

    kinds: Mapping[str, str] = field(default_factory=dict)
    """Node id -> kind: menu, message, queue, transfer, hangup."""
    ends: frozenset[str] = frozenset()
    """Nodes after which the menu itself ends the call (hang-up nodes, final messages)."""
    queues: Mapping[str, str] = field(default_factory=dict)
    """Queue node -> Twilio queue name."""
    numbers: Mapping[str, str] = field(default_factory=dict)
    """Transfer node -> number dialled."""

    @classmethod
    def from_menu(cls, menu: Any) -> MenuFacts:
        """Read the facts from an :class:`ivr.menu.Menu`."""
        kinds = {node_id: node.kind for node_id, node in menu.nodes.items()}
        ends = {
            node_id
            for node_id, node in menu.nodes.items()
            if node.kind == "hangup" or (node.kind == "message" and node.next is None)
        }
        queues = {n: node.queue for n, node in menu.nodes.items() if node.kind == "queue"}
        numbers = {n: node.number for n, node in menu.nodes.items() if node.kind == "transfer"}
        return cls(kinds, frozenset(ends), queues, numbers)


@dataclass
class _ReportBuilder:
    now: float
    facts: MenuFacts
    n_calls: int = 0
    staff_calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    choices: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    confidences: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    inputs: Counter[str] = field(default_factory=Counter)
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)
    hangups: Counter[tuple[str, str]] = field(default_factory=Counter)
    queue_names: dict[str, str] = field(default_factory=dict)
    reached: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    results: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    transfers: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    transfer_to: dict[str, str] = field(default_factory=dict)
    cb_requested: int = 0
    cb_done: int = 0
    cb_times: list[float] = field(default_factory=list)
    include_test_calls: bool = False
    test_calls: set[str] = field(default_factory=set)
    """Test callers' calls (``test`` on the call-start event), left out of the figures."""

    def add_call(self, call: Any, evs: list[Event]) -> None:
        if evs and all(e.kind.startswith("handler-") for e in evs if e.kind != "status"):
            # A call handler's own call to the staff line (ivr/handler.py), not a caller's.
            self.staff_calls += 1
            return
        if not self.include_test_calls and any(
            e.kind == Kind.CALL_START and e.detail.get("test") for e in evs
        ):
            # A tester trying the draft menu: their calls would distort the figures.
            self.test_calls.add(call.call_sid)
            return
        self.n_calls += 1
        self.statuses[call.status or "in progress"] += 1
        if call.duration is not None:
            self.durations.append(call.duration)
        facts = self.facts
        start = min([call.started] + [e.at for e in evs])
        place: tuple[str, str] | None = None
        terminal: str | None = None
        # Queue visits still open: node -> (earliest sign of entering, latest wait heard of).
        visits: dict[str, list[float]] = {}

        def enter(node: str, at: float) -> None:
            visit = visits.setdefault(node, [at, 0.0])
            visit[0] = min(visit[0], at)

        def leave(node: str, wait: float | None) -> None:
            entered, waited = visits.pop(node, [None, 0.0])
            self.reached[node].append(max(0.0, (entered if entered is not None else start) - start))
            self.waits[node].append(waited if wait is None else wait)

        def arrive(node: str, at: float, hint: str | None = None) -> tuple[str, str]:
            nonlocal terminal
            kind = facts.kinds.get(node) or hint
            if kind == "queue":
                enter(node, at)
                return ("queue", node)
            if node in facts.ends or kind == "hangup":
                terminal = terminal or "ended by the menu"
            return ("transfer" if kind == "transfer" else "menu", node)

        for e in evs:
            node = e.node or ""
            if e.kind == "status":
                continue
            if e.kind == "choice" or e.outcome in ("invalid", "silence"):
                if e.outcome in ("invalid", "silence", "fallback"):
                    self.inputs[node] += 1
                    self.problems[(node, e.outcome)] += 1
                elif e.option is not None:
                    self.inputs[node] += 1
                    via = "key" if e.confidence is None else "speech"
                    self.choices[(node, e.key or "-", e.option, via)] += 1
                    if e.confidence is not None:
                        self.confidences[(node, e.option)].append(e.confidence)
                target = str(_detail(e, "next") or e.option or node)
                place = arrive(target, e.at) if target else place
            elif e.kind in ("enqueue", "queue"):
                enter(node, e.at)
                place = ("queue", node)
                queue = _detail(e, "queue", "Queue")
                if queue:
                    self.queue_names.setdefault(node, str(queue))
            elif e.kind == "queue-wait":
                waited = _int(_detail(e, "queue_time", "QueueTime")) or 0
                enter(node, e.at - waited)
                visits[node][1] = max(visits[node][1], waited)
                place = ("queue", node)
            elif e.kind == "queue-result":
                result = str(_detail(e, "QueueResult") or e.outcome or "unknown").lower()
                waited = _int(_detail(e, "queue_time", "QueueTime"))
                if waited is not None:
                    enter(node, e.at - waited)
                self.results[node][result] += 1
                leave(node, waited)
                if result in ANSWERED:
                    terminal = terminal or "answered"
                elif result == "redirected":
                    terminal = terminal or "taken on by a call handler"
                elif result == "hangup":
                    self.hangups[("queue", node)] += 1
                    terminal = terminal or "hung up in a queue"
                elif result == "leave" and any(x.kind == "callback" for x in evs):
                    terminal = terminal or "callback requested"
                elif terminal is None:
                    # queue-full, leave, error: the caller goes on to another node.
                    after = _detail(e, "next")
                    place = arrive(str(after), e.at) if after else ("menu", node)
            elif e.kind == "transfer-result":
                status = str(_detail(e, "DialCallStatus") or e.outcome or "unknown").lower()
                self.transfers[node][status] += 1
                if status in ("completed", "answered"):
                    terminal = terminal or "transferred"
                elif _detail(e, "next"):
                    place = arrive(str(_detail(e, "next")), e.at)
            elif e.kind == "callback":
                terminal = terminal or "callback requested"
            elif e.kind == "handler-bridged":
                # Played to the caller as a handler takes them: answered, whatever follows.
                terminal = terminal or "answered"
                waited = _int(_detail(e, "queue_time"))
                for visit in visits.values():
                    visit[1] = max(visit[1], waited or 0)
            elif e.kind in ("call-start", "menu", "message", "transfer", "hangup"):
                if e.kind == "hangup":
                    terminal = terminal or "ended by the menu"
                if node:
                    place = arrive(node, e.at, e.kind)
        for node in list(visits):
            leave(node, None)
        last = max([e.at for e in evs], default=call.started)
        over = call.ended is not None or self.now - last > 3600
        if terminal is None and over:
            where = place or ("menu", "")
            self.hangups[where] += 1
            terminal = {
                "queue": "hung up in a queue",
                "transfer": "hung up during a transfer",
            }.get(where[0], "hung up in the menu")
        self.outcomes[terminal or "in progress"] += 1

    def add_callback(self, row: Any) -> None:
        if row.call_sid in self.test_calls:
            return
        self.cb_requested += 1
        if row.done_at is not None:
            self.cb_done += 1
            self.cb_times.append(row.done_at - row.requested_at)

    def build(self, since: float | None, until: float | None) -> Report:
        totals = Counter[str]()
        for (node, _key, _option, _via), n in self.choices.items():
            totals[node] += n
        choices = []
        for (node, key, option, via), n in sorted(
            self.choices.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])
        ):
            conf = self.confidences.get((node, option), [])
            choices.append(
                {
                    "node": node,
                    "key": key,
                    "option": option,
                    "via": via,
                    "count": n,
                    "share": round(n / totals[node], 3) if totals[node] else None,
                    "confidence_median": None if not conf else round(percentile(conf, 50), 2),
                }
            )
        hot = []
        for node in sorted({n for n, _ in self.problems}):
            invalid = self.problems[(node, "invalid")]
            silence = self.problems[(node, "silence")]
            hot.append(
                {
                    "node": node,
                    "inputs": self.inputs[node],
                    "invalid": invalid,
                    "silence": silence,
                    "gave_up": self.problems[(node, "fallback")],
                    "rate": round((invalid + silence) / self.inputs[node], 3)
                    if self.inputs[node]
                    else None,
                }
            )
        hot.sort(key=lambda r: (-(r["invalid"] + r["silence"]), r["node"]))
        hangups = [
            {"where": where, "node": node, "count": n}
            for (where, node), n in sorted(self.hangups.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        queues = []
        for node in sorted(set(self.reached) | set(self.results)):
            queues.append(
                {
                    "node": node,
                    "queue": self.facts.queues.get(node) or self.queue_names.get(node, node),
                    "reached": len(self.reached.get(node, [])),
                    "time_to_reach": summary(self.reached.get(node, [])),
                    "wait": summary(self.waits.get(node, [])),
                    "results": dict(sorted(self.results.get(node, Counter()).items())),
                }
            )
        transfers = [
            {
                "node": node,
                "number": self.facts.numbers.get(node) or self.transfer_to.get(node),
                "attempts": sum(c.values()),
                "outcomes": dict(sorted(c.items())),
            }
            for node, c in sorted(self.transfers.items())
        ]
        return Report(
            since=since,
            until=until,
            generated=self.now,
            calls={
                "total": self.n_calls,
                "handler_line": self.staff_calls,
                "test_calls": len(self.test_calls),
                "by_status": dict(sorted(self.statuses.items())),
                "outcomes": dict(sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
                "duration": summary(self.durations),
            },
            choices=choices,
            hangups=hangups,
            hot_spots=hot,
            queues=queues,
            transfers=transfers,
            callbacks={
                "requested": self.cb_requested,
                "completed": self.cb_done,
                "pending": self.cb_requested - self.cb_done,
                "time_to_complete": summary(self.cb_times),
            },
        )


def describe(e: Event) -> str:
    """One line saying what happened at a step, for ``ivr journey``."""
    parts = [e.kind]
    if e.node:
        parts.append(f"at {e.node}")
    if e.key:
        parts.append(f"key {e.key}")
    if e.option:
        parts.append(f"-> {e.option}")
    if e.confidence is not None:
        parts.append(f"(confidence {e.confidence:.2f})")
    if e.outcome:
        parts.append(f"[{e.outcome}]")
    if e.detail:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(e.detail.items())))
    return " ".join(parts)
