"""The event vocabulary: what happened at each webhook step of a call, and where it goes.

The webhooks describe every step as an :class:`Event` whose ``kind`` is a :class:`Kind`; the
journey log, its report, the call-handler line and the softphone read events back by those
same names, never by bare strings, so renaming a kind cannot quietly break a reader. Where the
caller goes next is decided by the menu's router (``ivr.menu.routing``) and recorded on the
event as ``detail["next"]``; readers take it from there rather than working it out again.

Recorders: :class:`LogRecorder` writes one masked log line per event; the journey log
(``ivr.journey``) stores them; :class:`Recorders` chains several, in the order the app factory
lists them.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .numbers import mask

log = logging.getLogger("ivr.calls")


class Kind(StrEnum):
    """Every kind of event the webhooks record (the values are what the journey log stores)."""

    CALL_START = "call-start"
    """A call came in (``/voice``)."""
    ANNOUNCEMENT = "announcement"
    """A key pressed during the start-of-call announcements."""
    # Arrival at a node, named after the node's kind (``/node/<node>``).
    MENU = "menu"
    MESSAGE = "message"
    QUEUE = "queue"
    TRANSFER = "transfer"
    HANGUP = "hangup"
    HOURS = "hours"
    ARRIVAL = "arrival"
    """Arrival at a node of a kind with no event kind of its own (a kind added to the menu
    model records this until it needs its own: see CONTRIBUTING.md)."""
    CHOICE = "choice"
    """A caller answered a menu: an option, repeat, back, invalid, silence or fallback."""
    QUEUE_WAIT = "queue-wait"
    """One hold cycle in a queue (Twilio's waitUrl)."""
    QUEUE_RESULT = "queue-result"
    """The caller left a queue (``QueueResult``)."""
    TRANSFER_RESULT = "transfer-result"
    """A transfer ended (``DialCallStatus``)."""
    CALLBACK_OFFER = "callback-offer"
    """A step of the "press 1 to be called back" offer."""
    CALLBACK = "callback"
    """A callback request was stored."""
    STATUS = "status"
    """Twilio's call status callback: the call ended."""
    FALLBACK = "fallback"
    """Twilio called the number's fallback URL: our primary handler failed."""
    ERROR = "error"
    """A fault inside a webhook; the caller heard an apology."""
    MOVED = "moved"
    """The caller's node vanished in a menu edit; back to the start."""
    HANDLER_IN = "handler-in"
    HANDLER_REFUSED = "handler-refused"
    HANDLER_TAKE = "handler-take"
    HANDLER_BRIDGED = "handler-bridged"
    """The call-handler line: a handler got in, was refused, took a caller, was bridged."""

    @classmethod
    def arrival(cls, node_kind: str) -> Kind:
        """The kind recorded when a caller arrives at a node of ``node_kind`` (any kind the
        menu model has: one without its own event kind is :attr:`ARRIVAL`)."""
        return _ARRIVAL_OF.get(node_kind, cls.ARRIVAL)


ARRIVALS = frozenset(
    {Kind.MENU, Kind.MESSAGE, Kind.QUEUE, Kind.TRANSFER, Kind.HANGUP, Kind.HOURS, Kind.ARRIVAL}
)
"""Kinds that say "the caller arrived at this node"."""
_ARRIVAL_OF = {kind.value: kind for kind in ARRIVALS}
HANDLER_LINE = frozenset({Kind.HANDLER_IN, Kind.HANDLER_REFUSED, Kind.HANDLER_TAKE})
"""Kinds of a call handler's own call to the staff line (not a caller's)."""


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
    kind: Kind | str
    """What the step was (a :class:`Kind`; a plain string when read back from storage)."""
    node: str | None = None
    language: str | None = None
    key: str | None = None
    option: str | None = None
    """The node the caller's choice leads to."""
    confidence: float | None = None
    outcome: str | None = None
    """The router's branch (option, repeat, back, invalid, silence, fallback, open, closed,
    ...) or Twilio's own word for a result (bridged, queue-full, busy, no-answer, ...)."""
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
        parts = [f"call={event.call_sid}", f"step={event.kind!s}"]
        for name in ("node", "key", "option", "outcome", "language"):
            value = getattr(event, name)
            if value is not None:
                parts.append(f"{name}={value}")
        if event.caller:
            parts.append(f"from={mask(event.caller)}")
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
