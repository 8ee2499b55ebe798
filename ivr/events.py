"""What happened at each webhook step of a call, and where those events go.

The webhooks describe every step as an :class:`Event` and hand it to the app's recorder.
The default recorder only logs (with the caller's number masked); the journey log
(``ivr.journey``) stores them durably.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

log = logging.getLogger("ivr.calls")

_DIGITS = re.compile(r"\d")


def mask_number(number: str | None) -> str:
    """Mask a phone number for logs: keep the country code and the last three digits."""
    if not number:
        return ""
    if not number.startswith("+") or len(number) < 8:
        # client:alice, sip:..., anonymous: keep the scheme, hide the rest.
        head = number.split(":", 1)[0] + ":" if ":" in number else ""
        return head + "***" if head else "***"
    keep_head = 3  # "+44"
    middle = _DIGITS.sub("*", number[keep_head:-3])
    return number[:keep_head] + middle + number[-3:]


class _Ids:
    """Unique event ids, 32 hex digits like ``uuid4().hex`` at a tenth of the cost.

    A random prefix per process (drawn again in a forked worker) and a counter.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


new_event_id = _Ids()


@dataclass(frozen=True)
class Event:
    """One step of one call."""

    call_sid: str
    kind: str
    """What the step was: call-start, menu, choice, message, enqueue, queue-wait, queue-result,
    transfer, transfer-result, hangup, status, fallback, error."""
    node: str | None = None
    language: str | None = None
    key: str | None = None
    option: str | None = None
    """The node the caller's choice leads to."""
    confidence: float | None = None
    outcome: str | None = None
    """next, invalid, silence, repeat, back, fallback, option, enqueued, bridged, queue-full,
    hangup, completed, busy, no-answer, failed, ... (Twilio's own words where it has them)."""
    detail: dict[str, Any] = field(default_factory=dict)
    caller: str | None = None
    """The caller's number: masked or hashed by the recorder before it is stored."""
    at: float = field(default_factory=time.time)
    id: str = field(default_factory=new_event_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recorder(Protocol):
    """Somewhere events go. ``record`` must never raise and never block for long."""

    def record(self, event: Event) -> None: ...

    def close(self) -> None: ...


class _Line:
    """An event as one log line, formatted only when (and where) a handler writes it."""

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event

    def __str__(self) -> str:
        event = self.event
        parts = [f"call={event.call_sid}", f"step={event.kind}"]
        for name in ("node", "key", "option", "outcome", "language"):
            value = getattr(event, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if event.caller:
            parts.append(f"from={mask_number(event.caller)}")
        parts.extend(f"{k}={v}" for k, v in event.detail.items())
        return " ".join(parts)


class LogRecorder:
    """Log each event on the ``ivr.calls`` logger, caller number masked.

    With ``background`` (the default outside tests) a webhook only hands the event over: a
    writer thread builds the log record and writes it, so logging adds nothing to the time
    Twilio waits. Lines keep their order; ``close`` writes what is still queued.
    """

    def __init__(self, background: bool = True) -> None:
        self.background = background
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._pid = 0

    def record(self, event: Event) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        if not self.background:
            log.info("%s", _Line(event))
            return
        if self._pid != os.getpid():  # first event, or a worker forked from a preloaded app
            self._pid = os.getpid()
            self._queue = queue.SimpleQueue()
            self._writer = threading.Thread(target=self._write, name="ivr-log", daemon=True)
            self._writer.start()
            atexit.register(self.close)
        self._queue.put(event)

    def _write(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                log.info("%s", _Line(event))
            except Exception:  # a broken handler must not stop the log
                logging.getLogger("ivr").exception("could not log call event %s", event.id)

    def close(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=5)


class Recorders:
    """Several recorders as one: each event goes to each, in order."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders

    def record(self, event: Event) -> None:
        for recorder in self.recorders:
            recorder.record(event)

    def close(self) -> None:
        for recorder in self.recorders:
            recorder.close()
