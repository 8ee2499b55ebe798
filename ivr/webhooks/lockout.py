"""The call-handler line's PIN lockout: wrong PINs counted per caller ID, shared by every worker.

Ten wrong PINs from one caller ID within fifteen minutes lock that caller ID out of PIN entry
until the oldest of them is fifteen minutes old; other callers are not affected, so one person
guessing cannot lock out the staff. :class:`PinAttempts` is the seam; two stores sit behind it:

- :class:`SqlPinAttempts`, one row per wrong PIN in the journey log's database, so that every
  worker of every instance counts the same failures. Each failure is one transaction that
  holds the database's lock for that caller (a PostgreSQL advisory lock; SQLite has one writer
  at a time), so the failure that reaches the limit is known exactly and its lockout is logged
  once, whichever worker served it. If the database fails, the count carries on in memory.
- :class:`MemoryPinAttempts`, for one process: used when the journey log is off.

:class:`PinLockout` is the handler line's side: it counts against a keyed hash of the caller
ID (the shared database holds no phone numbers), on a wall clock (several machines share the
rows), and logs each lockout.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import JourneyError
from ..journey import schema
from ..numbers import mask

log = logging.getLogger("ivr.handler")

LIMIT = 10
"""Wrong PINs from one caller ID, within :data:`WINDOW`, that lock it out."""
WINDOW = 900.0
"""Seconds a wrong PIN counts for (15 minutes)."""
UNKNOWN_CALLER = "(no caller ID)"
"""What wrong PINs count against when ``From`` is not a plain number (withheld, SIP,
``client:``): such callers can name themselves anything, so they share one count."""


class PinAttempts(Protocol):
    """Wrong PINs per caller: who is locked out, and which failure locked them out."""

    limit: int
    window: float

    def locked(self, caller: str, now: float) -> bool:
        """True while ``caller`` has :attr:`limit` wrong PINs in the last :attr:`window`."""
        ...

    def attempt(self, caller: str, now: float) -> int:
        """Count one PIN try *before* it is compared, unless ``caller`` is locked out: the
        tries now counted in the window, this one included; 0 (nothing counted) when locked
        out. Counting first means simultaneous tries cannot all slip in under the limit.
        The right PIN then clears the count (:meth:`passed`)."""
        ...

    def passed(self, caller: str, now: float) -> None:
        """The right PIN: ``caller``'s earlier wrong PINs no longer count."""
        ...

    def close(self) -> None: ...


class MemoryPinAttempts:
    """Wrong PINs kept in this process: each worker counts only what it served."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW, callers: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.callers = callers
        """At most this many callers remembered (the longest quiet forgotten first), so
        guesses from endless made-up caller IDs cannot fill the memory."""
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, caller: str, now: float) -> deque[float]:
        times = self._failures.get(caller)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[caller]
        return times

    def locked(self, caller: str, now: float) -> bool:
        with self._lock:
            return len(self._recent(caller, now)) >= self.limit

    def attempt(self, caller: str, now: float) -> int:
        with self._lock:
            times = self._recent(caller, now)
            if len(times) >= self.limit:
                return 0
            times.append(now)
            self._failures[caller] = times
            self._failures.move_to_end(caller)
            while len(self._failures) > self.callers:
                self._failures.popitem(last=False)
            return len(times)

    def passed(self, caller: str, now: float) -> None:
        with self._lock:
            self._failures.pop(caller, None)

    def close(self) -> None:
        pass


# -- the shared store ----------------------------------------------------------------------------

# The table lives with the rest of the shared database's schema (the journey log's migrations
# create it); both names are kept here for the lockout's readers.
metadata = schema.metadata
pin_failures = schema.pin_failures

_FAULTS = (sa.exc.SQLAlchemyError, JourneyError)
"""The database cannot be used (or its schema made): count in this process meanwhile."""

_LOCK_CLASS = 0x1017_0001
"""pg_advisory_xact_lock's first key: "an ivr101 handler-line caller"."""


class SqlPinAttempts:
    """Wrong PINs in a shared SQL database: every worker and instance counts the same ones.

    The table (:data:`pin_failures`) is created by the journey log's migrations. While the
    database cannot be used, failures are counted in memory (:class:`MemoryPinAttempts`) and
    the fault is logged once; a caller locked out by either count is locked out.
    """

    def __init__(
        self,
        engine: Engine,
        limit: int = LIMIT,
        window: float = WINDOW,
        prepare: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.prepare = prepare
        """Makes the schema if nobody has yet (the journey log's ``ensure_schema``): on a new
        database the first wrong PIN may come before the journey log's first write."""
        self.limit = limit
        self.window = window
        self.fallback = MemoryPinAttempts(limit, window)
        self._postgres = engine.dialect.name == "postgresql"
        self._healthy = True
        self._swept = 0.0

    def locked(self, caller: str, now: float) -> bool:
        if self.fallback.locked(caller, now):
            return True
        try:
            self.prepare()
            with self.engine.connect() as conn:
                count = self._count(conn, caller, now)
        except _FAULTS as exc:
            self._fault(exc)
            return False
        self._recovered()
        return count >= self.limit

    def attempt(self, caller: str, now: float) -> int:
        if self.fallback.locked(caller, now):
            return 0
        try:
            self.prepare()
            with self.engine.begin() as conn:
                self._serialise(conn, caller)
                # This caller's expired failures go now; everyone else's in the sweep below.
                conn.execute(
                    pin_failures.delete().where(
                        pin_failures.c.caller == caller, pin_failures.c.at <= now - self.window
                    )
                )
                count = self._count(conn, caller, now)
                if count < self.limit:
                    conn.execute(pin_failures.insert().values(caller=caller, at=now))
        except _FAULTS as exc:
            self._fault(exc)
            return self.fallback.attempt(caller, now)
        self._recovered()
        self._sweep(now)
        return 0 if count >= self.limit else count + 1

    def passed(self, caller: str, now: float) -> None:
        self.fallback.passed(caller, now)
        try:
            self.prepare()
            with self.engine.begin() as conn:
                self._serialise(conn, caller)
                conn.execute(pin_failures.delete().where(pin_failures.c.caller == caller))
        except _FAULTS as exc:
            self._fault(exc)

    def close(self) -> None:
        pass  # the engine belongs to the journey log

    def _count(self, conn: Connection, caller: str, now: float) -> int:
        query = sa.select(sa.func.count()).where(
            pin_failures.c.caller == caller, pin_failures.c.at > now - self.window
        )
        return int(conn.execute(query).scalar_one())

    def _serialise(self, conn: Connection, caller: str) -> None:
        """Hold this caller's lock until the transaction ends, so counts are exact.

        SQLite needs nothing: the first statement after this is a write, which takes the
        database's one write lock (waiting for another writer) before the count is read.
        """
        if self._postgres:
            key = int.from_bytes(hashlib.sha256(caller.encode()).digest()[:4], "big", signed=True)
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:class, :key)"),
                {"class": _LOCK_CLASS, "key": key},
            )

    def _sweep(self, now: float) -> None:
        """Delete every caller's expired failures, at most once a window per process."""
        if now - self._swept < self.window:
            return
        self._swept = now
        try:
            with self.engine.begin() as conn:
                conn.execute(pin_failures.delete().where(pin_failures.c.at <= now - self.window))
        except sa.exc.SQLAlchemyError as exc:
            # Harmless: expired rows are never counted, and the next sweep takes them.
            log.info("handler line: could not clear expired PIN failures: %s", exc)

    def _fault(self, exc: Exception) -> None:
        if self._healthy:
            self._healthy = False
            log.error(
                "handler line: the PIN lockout's database cannot be used (%s); wrong PINs are "
                "counted in this process only until it can",
                str(exc).splitlines()[0],
            )

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            log.warning("handler line: the PIN lockout's database is back")


def pin_attempts(engine: Engine | None, prepare: Callable[[], None] = lambda: None) -> PinAttempts:
    """The store for an app: the shared database when there is one to share, else memory.
    ``prepare`` makes the database's schema (see :class:`SqlPinAttempts`).

    An in-memory SQLite database is one connection for the whole process, which the journey
    log's writer is using: memory it is, as nothing else could share it anyway.
    """
    if engine is None:
        return MemoryPinAttempts()
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return MemoryPinAttempts()
    return SqlPinAttempts(engine, prepare=prepare)


@dataclass
class PinLockout:
    """Wrong PINs per caller ID, as the handler line asks: ``caller`` is the E.164 number
    (:func:`ivr.numbers.caller_id`), or None for callers without a plain one."""

    attempts: PinAttempts
    secret: bytes
    clock: Callable[[], float] = time.time
    """Seconds since the epoch, which every worker and instance sharing the count agree on."""

    def key(self, caller: str | None) -> str:
        text = f"pin/{caller or UNKNOWN_CALLER}".encode()
        return hmac.new(self.secret, text, hashlib.sha256).hexdigest()[:32]

    def locked(self, caller: str | None) -> bool:
        """Too many wrong PINs from this caller ID lately: someone may be guessing."""
        return self.attempts.locked(self.key(caller), self.clock())

    def attempt(self, caller: str | None) -> int:
        """Count a PIN try before comparing it (:meth:`PinAttempts.attempt`): 0 if this caller
        ID is locked out and the PIN must not be compared, else the tries counted so far."""
        return self.attempts.attempt(self.key(caller), self.clock())

    def wrong(self, caller: str | None, tries: int) -> bool:
        """The PIN counted as try ``tries`` was wrong. True if that was the last one allowed:
        the lockout it causes is logged, once."""
        if tries < self.attempts.limit:
            return False
        minutes = int(self.attempts.window // 60)
        log.warning(
            "handler line: %d wrong PINs from %s within %d minutes: PIN entry refused for that "
            "caller ID for up to %d minutes (other callers are not affected)",
            self.attempts.limit,
            mask(caller) if caller else "callers without a plain caller ID",
            minutes,
            minutes,
        )
        return True

    def passed(self, caller: str | None) -> None:
        """The right PIN: this caller's wrong ones no longer count."""
        self.attempts.passed(self.key(caller), self.clock())
