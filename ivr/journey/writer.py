"""The thread that writes what the journey log is told, in batches, through database faults.

Records are spooled and buffered by :meth:`BatchWriter.put` (on the webhook's path: a copy into
the spool's mapping, a lock, an append) and written by one thread per process, a batch per
transaction. When the database is down the thread logs the fault (with the CallSids waiting),
keeps the records and retries with backoff; a batch that keeps failing for another reason is
written record by record, so that one bad record cannot hold up the others.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from ..numbers import mask
from . import rows
from .spool import Segment, Spool, encode

log = logging.getLogger("ivr.journey")


class BatchWriter:
    """The buffer between the webhooks and the database, and the thread that empties it."""

    def __init__(
        self,
        write: Callable[[Sequence[rows.Record]], None],
        spool: Spool | None,
        *,
        prepare: Callable[[], None] = lambda: None,
        chores: Callable[[], None] = lambda: None,
        chores_every: float = 60.0,
        buffer_limit: int = 100_000,
        batch_size: int = 500,
        retry_initial: float = 0.1,
        retry_max: float = 10.0,
    ) -> None:
        """``write`` stores a batch in one transaction (or raises); ``prepare`` readies the
        database when the thread starts; ``chores`` runs when idle, every ``chores_every`` s."""
        self.write = write
        self.spool = spool
        self.prepare = prepare
        self.run_chores = chores
        self.chores_every = chores_every
        self.buffer_limit = buffer_limit
        self.batch_size = batch_size
        self.linger = 0.05
        """Seconds the thread waits for more records before writing a part-filled batch."""
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._buffer: deque[tuple[int, rows.Record, bool]] = deque()
        """(sequence number, record, whether the spool has it), oldest first."""
        self._seq = 0
        # A plain lock: every webhook takes it, and an RLock costs more to take.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = False
        self._closed = False
        self.outage = False
        """True while the last attempt to write failed."""
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.next_chores = 0.0
        """When the thread next runs the chores (time.monotonic); 0: as soon as it is idle."""
        self.written = 0
        """Records written since start."""
        self.dropped = 0
        """Records given up on: each one logged in full."""
        self.faults = 0
        """Failed write attempts since start."""

    def chores(self) -> None:
        self.next_chores = time.monotonic() + self.chores_every
        self.run_chores()

    def put(self, record: rows.Record, durable: bool = False) -> bool:
        """Spool and buffer a record; True if the spool has it. ``durable``: flush it to disk,
        and buffer it only if that worked."""
        line = encode(record) if self.spool is not None else None
        with self._lock:  # the Condition's own lock, taken without its Python-level wrapper
            if self._closed:
                if not durable:
                    self.drop(record, "the journey log is closed")
                return False
            self._seq += 1
            spooled = line is not None and self.spool.append(line, self._seq, durable)  # type: ignore[union-attr]
            if durable and not spooled:
                return False
            if len(self._buffer) >= self.buffer_limit:
                if spooled:
                    # Safe on disk: a replay writes it once this file is let go of.
                    self.spool.keep_current()  # type: ignore[union-attr]
                else:
                    self.drop(record, f"the buffer is full ({self.buffer_limit} waiting)")
                return spooled
            self._buffer.append((self._seq, record, spooled))
            if len(self._buffer) == 1:  # only an idle writer needs waking (or starting)
                self._ensure_writer()
                self._cond.notify()
            return spooled

    def drop(self, record: rows.Record, why: str) -> None:
        # Log the whole record, so that it can still be recovered by hand; never a number.
        self.dropped += 1
        if record[0] == rows.CALLBACK:
            shown: Any = dict(record[1], number=mask(record[1].get("number")))
        else:
            shown = record
        log.error(
            "journey log: DROPPED %s for call %s because %s: %s",
            "event" if record[0] == rows.EVENT else "callback",
            rows.call_sid_of(record),
            why,
            json.dumps(shown, default=str, sort_keys=True),
        )

    # -- the writer -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread now rather than on the first record."""
        with self._cond:
            self._ensure_writer()

    def _ensure_writer(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="ivr-journey-writer", daemon=True
            )
            self._thread.start()

    def after_fork(self) -> None:
        """In a forked child (gunicorn --preload): the parent's buffer, files and thread are
        the parent's; the lock may have been held by a thread that does not exist here."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buffer.clear()
        self._thread = None
        if self.spool is not None:
            self.spool.forget()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued record is written; False if ``timeout`` passed first."""
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
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Records waiting to be written."""
        return len(self._buffer)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting (for up to ``timeout`` seconds), then stop the thread.

        What the database still cannot take stays in the spool for the next start to replay.
        """
        if self._closed:
            return
        drained = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._stopping = True
            left = list(self._buffer)
            self._buffer.clear()
            for _seq, record, spooled in left:
                if not spooled:
                    self.drop(record, "the database was still unavailable at shutdown")
            kept = self.spool.close(all_written=drained) if self.spool is not None else []
            if left and kept:
                log.error(
                    "journey log: the database was still unavailable at shutdown; %d record(s) "
                    "kept in %s for the next start to replay",
                    sum(1 for item in left if item[2]),
                    ", ".join(map(str, kept)),
                )
            self._cond.notify_all()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(timeout, 1.0))

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
            self.prepare()
        except Exception as exc:  # the first write retries it
            log.error("journey log: cannot prepare the database (%s); will retry", exc)
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    idle = self.next_chores - time.monotonic()
                    if idle <= 0:
                        break
                    self._cond.wait(idle)
                if not self._buffer:
                    if self._stopping:
                        return
                    batch = None
                else:
                    if len(self._buffer) < self.batch_size and not self._stopping:
                        # Let a batch gather: one transaction for many events costs the
                        # webhooks sharing this process far less CPU than one each.
                        self._cond.wait(self.linger)
                    batch = list(itertools.islice(self._buffer, self.batch_size))
            if batch is None:
                self.chores()
                continue
            records = [record for _seq, record, _spooled in batch]
            try:
                self.write(records)
                done = len(batch)
            except Exception as exc:
                failures += 1
                self.faults += 1
                self.outage = True
                stubborn = 0 if is_transient(exc) else stubborn + 1
                self._log_fault(exc, records, failures, delay)
                done = 0
                if stubborn >= 3:
                    # The same batch keeps failing for a reason other than the connection:
                    # find the record at fault, log it in full and let the others through.
                    done = self.write_singly(records, give_up=stubborn >= 10)
                if done == 0:
                    if self._stopping:
                        return
                    self._wake.wait(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
            finished: list[Segment] = []
            with self._cond:
                # close() may have given up on (and logged) what was waiting meanwhile.
                last = 0
                for _ in range(min(done, len(self._buffer))):
                    last = self._buffer.popleft()[0]
                if last and self.spool is not None and not self._closed:
                    finished = self.spool.written(last, everything=not self._buffer)
                self.written += done
                waiting = len(self._buffer)
            # Deleting files is system calls: not while the webhooks' threads wait for the lock.
            if finished and self.spool is not None and self.spool.release(finished):
                self.next_chores = 0.0  # replay what the buffer could not hold
            with self._cond:
                self._cond.notify_all()  # flush() returns with the files let go of, too
            if failures:
                log.warning(
                    "journey log: database is back after %d failed attempt(s); "
                    "%d item(s) still waiting",
                    failures,
                    waiting,
                )
                self.next_chores = 0.0  # replay what others could not write meanwhile
            failures = stubborn = 0
            self.outage = False
            delay = self.retry_initial

    def write_singly(self, records: Sequence[rows.Record], give_up: bool) -> int:
        """Write records one by one; return how many from the front are dealt with.

        A record the database refuses is dropped (logged in full) only when others around it
        were written, proving the fault is the record's; or, with ``give_up``, a batch of one
        that has failed many times over, so one bad event cannot hold up all the others.
        """
        refused: list[tuple[rows.Record, Exception]] = []
        written = 0
        done = 0
        for record in records:
            try:
                self.write([record])
                written += 1
            except Exception as exc:
                if is_transient(exc):
                    break
                refused.append((record, exc))
            done += 1
        if refused and not written and not (give_up and len(records) == 1):
            return 0
        with self._cond:
            for record, exc in refused:
                self.drop(record, f"the database refuses it ({exc.__class__.__name__}: {exc})")
        return done

    def _log_fault(
        self, exc: BaseException, records: Sequence[rows.Record], failures: int, delay: float
    ) -> None:
        sids = sorted({rows.call_sid_of(r) for r in records})
        shown = ", ".join(sids[:5]) + (f" and {len(sids) - 5} more" if len(sids) > 5 else "")
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        log.error(
            "journey log: cannot write %d item(s) for call(s) %s (attempt %d, %s: %s); "
            "keeping them (%d waiting) and retrying in %.1fs",
            len(records),
            shown,
            failures,
            exc.__class__.__name__,
            message,
            len(self._buffer),
            delay,
        )


def is_transient(exc: BaseException) -> bool:
    """A fault that waiting may cure: the server is down, the file locked or unreachable."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OSError, sa.exc.TimeoutError))
