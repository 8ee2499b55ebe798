"""A local append-only file of what the journey log was told, so a killed process loses nothing.

Each process appends every record to its own spool file before the webhook answers. The file is
mapped into memory (``mmap``, shared): appending is a copy into the page cache, with no system
call, and the pages belong to the kernel, so a SIGKILLed process loses nothing it had appended.
Only a power cut can; a callback request, which a caller was promised, is also flushed to disk
(``msync``, and the file's own ``fsync``) when the database cannot take it at once.

Why a mapping rather than ``os.write``: a system call releases Python's GIL, and the writer
thread takes it for up to the switch interval (5 ms) before the webhook gets it back. Measured
with ``python -m bench.cost``, ``os.write`` put every webhook near 1.9x the bare Flask floor;
the copy into a mapping keeps it within 1.25x. Each file's space is reserved when the file is
made (``posix_fallocate``), so a full disk is found then, never as a SIGBUS mid-copy.

A spool file is held with an exclusive ``flock`` for as long as its process lives; the kernel
drops the lock when the process dies, however it dies. Any journey log starting on the same
folder (a new gunicorn worker, another instance on the host, ``ivr report``) therefore knows
a file it can lock belongs to no one, replays it into the database (idempotently: event ids and
callback CallSids are unique keys) and deletes it. The folder must be on a local disk: ``flock``
over NFS does not tell live owners from dead ones.

Disk use is bounded: a file holds ``segment_bytes``; a full one is followed by a fresh one and
deleted once everything in it is in the database; past ``max_bytes`` of files not yet written
the log keeps further records in memory only, and says so.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
import socket
import struct
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import rows

log = logging.getLogger("ivr.journey")

SUFFIX = ".spool"
RETRY_SECONDS = 5.0


@dataclass(eq=False, slots=True)
class Segment:
    """One of this process's spool files, mapped."""

    path: Path
    fd: int
    map: mmap.mmap
    capacity: int
    size: int = 0
    """Bytes appended; the rest of the file is zeros."""
    last: int = 0
    """Sequence number of the last record in it."""
    kept: bool = False
    """Holds a record the buffer could not take: leave the file for a replay."""
    synced: bool = False
    """Its name and size are on disk (fsync of the file and the folder), for durable appends."""


class Spool:
    """This process's spool files in ``folder``, and the dead processes' files beside them.

    The journey log calls the appending side with its lock held; it releases files (system
    calls) outside it, with :meth:`release`.
    """

    def __init__(
        self, folder: str | Path, segment_bytes: int = 1 << 20, max_bytes: int = 256 << 20
    ) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self._segments: deque[Segment] = deque()
        self._current: Segment | None = None
        """The file being appended to (the last of ``_segments``)."""
        self._bytes = 0
        """Disk reserved by this process's files."""
        self._broken = False
        """True after a file could not be made (full disk, read-only folder): memory only,
        until a new file can be made (tried again every ``RETRY_SECONDS``)."""
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"<Spool {self.folder}>"

    # -- this process's files --------------------------------------------------------------

    def append(self, line: bytes, seq: int, sync: bool = False) -> bool:
        """Append one record; True if the kernel has it (and, with ``sync``, the disk)."""
        seg = self._current
        start = seg.size if seg is not None else 0
        end = start + len(line)
        if seg is None or end > seg.capacity:
            seg = self._start(len(line))
            if seg is None:
                return False
            start, end = 0, len(line)
        seg.map[start:end] = line
        seg.size = end
        seg.last = seq
        if sync:
            try:
                seg.map.flush()
                if not seg.synced:
                    os.fsync(seg.fd)
                    _fsync_folder(self.folder)
                    seg.synced = True
            except OSError as exc:
                return self._fail(str(exc))
        return True

    def keep_current(self) -> None:
        """The last record appended is not in the buffer: never delete its file unreplayed."""
        if self._current is not None:
            self._current.kept = True

    def written(self, seq: int, everything: bool = False) -> list[Segment]:
        """Every buffered record up to ``seq`` (with ``everything``: every buffered record) is
        in the database: the files they fill, for :meth:`release`. A file being appended to is
        kept, unless it holds a record the buffer could not take."""
        done = []
        while self._segments:
            seg = self._segments[0]
            if seg.last > seq and not everything:
                break
            if seg is self._current and not seg.kept:
                break  # still the file being appended to
            self._segments.popleft()
            if seg is self._current:
                self._current = None
            self._bytes -= seg.capacity
            done.append(seg)
        return done

    def release(self, segments: list[Segment]) -> bool:
        """Let go of files :meth:`written` handed over: deleted, or left for a replay if kept.
        True if one was left."""
        left = False
        for seg in segments:
            self._release(seg, delete=not seg.kept)
            left = left or seg.kept
        return left

    def close(self, all_written: bool) -> list[Path]:
        """Let go of every file: deleted if ``all_written``, else left for a replay."""
        left = []
        self._current = None
        while self._segments:
            seg = self._segments.popleft()
            delete = all_written and not seg.kept
            self._release(seg, delete=delete)
            if not delete and seg.size:
                left.append(seg.path)
        self._bytes = 0
        return left

    def forget(self) -> None:
        """After a fork: the parent's files are the parent's. Close our copies of them, which
        leaves the parent's locks in place."""
        for seg in self._segments:
            try:
                seg.map.close()
                os.close(seg.fd)
            except (OSError, ValueError):
                pass
        self._segments.clear()
        self._current = None
        self._bytes = 0
        self._broken = False

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def _start(self, need: int) -> Segment | None:
        """A new file, locked before it takes its name, so no replayer ever sees it unlocked."""
        if self._broken and time.monotonic() < self._retry_at:
            return None
        capacity = max(self.segment_bytes, need)
        if self._bytes + capacity > self.max_bytes:
            self._fail(f"over its limit of {self.max_bytes} bytes")
            return None
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        temp = self.folder / f"{name}.new"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            self._fail(str(exc))
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.posix_fallocate(fd, 0, capacity)  # the disk space, now: never a SIGBUS later
            mapped = mmap.mmap(fd, capacity, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            _prefault(mapped, capacity)
            path = self.folder / f"{name}{SUFFIX}"
            os.rename(temp, path)
        except (OSError, ValueError) as exc:
            os.close(fd)
            temp.unlink(missing_ok=True)
            self._fail(str(exc))
            return None
        if self._broken:
            log.warning("journey log: spooling to %s again", self.folder)
            self._broken = False
        seg = Segment(path, fd, mapped, capacity)
        self._segments.append(seg)
        self._current = seg
        self._bytes += capacity
        return seg

    def _release(self, seg: Segment, delete: bool) -> None:
        if delete:
            try:
                seg.path.unlink()  # before the lock goes: no replayer can find it half-gone
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("journey log: cannot delete spool file %s: %s", seg.path, exc)
        try:
            seg.map.close()
            if not delete:
                os.ftruncate(seg.fd, seg.size)  # left for a replay: without the unused space
            os.close(seg.fd)
        except (OSError, ValueError):
            pass

    def _fail(self, why: str) -> bool:
        if not self._broken:
            log.error(
                "journey log: cannot spool to %s (%s); events are kept in memory only until it "
                "can, so a process killed meanwhile would lose them",
                self.folder,
                why,
            )
            self._broken = True
        self._retry_at = time.monotonic() + RETRY_SECONDS
        # The next record tries a new file: the fault (a full disk) may have passed.
        if self._current is not None:
            self._current.capacity = self._current.size
        return False

    # -- the dead processes' files -------------------------------------------------------------

    def _sweep_unnamed(self) -> None:
        """Delete files a process made but died before naming (empty, or nearly: never a record
        that was not also kept in its memory)."""
        now = time.time()
        for path in self.folder.glob("*.new"):
            try:
                if now - path.stat().st_mtime > 60:
                    orphan = Orphan.claim(path)
                    if orphan is not None:
                        orphan.done()
                        orphan.release()
            except OSError:
                pass

    def orphans(self) -> Iterator[Orphan]:
        """Spool files no live process holds, each locked for the caller while it is handled."""
        try:
            names = sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX))
            self._sweep_unnamed()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("journey log: cannot look for spool files in %s: %s", self.folder, exc)
            return
        # Our own open files are skipped too: flock refuses a second lock even to us.
        for path in names:
            orphan = Orphan.claim(path)
            if orphan is not None:
                try:
                    yield orphan
                finally:
                    orphan.release()


class Orphan:
    """A dead process's spool file, locked by us while we replay it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.skipped = 0
        """Lines cut short or garbled (the process died mid-write, or the power went)."""

    @classmethod
    def claim(cls, path: Path) -> Orphan | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None  # replayed and deleted by another process meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                log.warning("journey log: cannot lock spool file %s: %s", path, exc)
            return None  # its process lives, or another process is replaying it
        if os.fstat(fd).st_nlink == 0:  # replayed and deleted while we waited to open it
            os.close(fd)
            return None
        return cls(path, fd)

    def batches(self, size: int) -> Iterator[list[rows.Record]]:
        """The records in the file, ``size`` at a time. A damaged record (cut short by a crash
        mid-copy, or garbled by a power cut) is counted in ``skipped`` and stepped over."""
        with os.fdopen(os.dup(self.fd), "rb") as f:
            data = f.read()  # at most a few segments' worth: bounded by segment_bytes
        batch: list[rows.Record] = []
        for record in _records(data, self):
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def done(self) -> None:
        """Everything is in the database: delete the file (still holding its lock)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # e.g. a command run by a user who may not delete it
            log.warning("journey log: cannot delete spool file %s: %s", self.path, exc)

    def release(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


HEADER = struct.Struct("<II")
"""Before each record: its length and its CRC-32, so a damaged one is known, not misread."""


def encode(record: rows.Record) -> bytes:
    """A record as it is appended to a spool file."""
    data = rows.dumps(record)
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def _records(data: bytes, orphan: Orphan) -> Iterator[rows.Record]:
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        n, crc = HEADER.unpack_from(data, pos)
        if n == 0:
            return  # the file's unused space: zeros
        payload = data[pos + HEADER.size : pos + HEADER.size + n]
        record = rows.loads(payload) if len(payload) == n and zlib.crc32(payload) == crc else None
        if record is not None:
            yield record
            pos += HEADER.size + n
            continue
        orphan.skipped += 1
        pos = _next_record(data, pos + 1)


def _next_record(data: bytes, pos: int) -> int:
    """Where the next whole record starts after damage (the end if none does)."""
    end = len(data)
    while pos + HEADER.size <= end:
        n, crc = HEADER.unpack_from(data, pos)
        if n == 0 and not data[pos:].strip(b"\x00"):
            return end
        if 0 < n <= end - pos - HEADER.size:
            payload = data[pos + HEADER.size : pos + HEADER.size + n]
            if zlib.crc32(payload) == crc:
                return pos
        pos += 1
    return end


MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)
"""Linux 5.14+: fault the pages in writable now, once per file, rather than one page fault (a
few microseconds each) on the webhooks' path every twentieth record."""


def _prefault(mapped: mmap.mmap, size: int) -> None:
    try:
        mapped.madvise(MADV_POPULATE_WRITE, 0, size)
    except (OSError, ValueError, AttributeError):
        pass  # an older kernel: the pages fault in as they are written, which is correct too
