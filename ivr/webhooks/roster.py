"""The call-handler line's view of live callers: what each chose, where each waits.

The options chosen and the queue node each waits in, noted from the caller webhooks' events (a
recorder in the app's chain).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..events import Event, Kind


@dataclass
class CallerChoices:
    """What the handler line knows of one caller: the menu options chosen, the queue node."""

    choices: list[tuple[str, str]]
    """``(menu node, key)`` for each option chosen, the last few only."""
    queue_node: str | None = None

    def add(self, event: Event) -> None:
        """Take in one caller event: an option chosen, or the queue node they wait in."""
        if event.kind == Kind.CHOICE and event.outcome == "option" and event.key and event.node:
            self.choices = [*self.choices, (event.node, str(event.key))][-4:]
        elif event.kind in QUEUED and event.node:
            self.queue_node = event.node

    @classmethod
    def from_events(cls, events: list[Event]) -> CallerChoices | None:
        journey = cls([])
        for event in events:
            journey.add(event)
        return journey if journey.choices or journey.queue_node else None


QUEUED = frozenset({Kind.QUEUE, Kind.QUEUE_WAIT})
"""Events that say which queue node a caller waits in."""


class QueueRoster:
    """A recorder in the app's chain: remembers each live call's choices and queue node.

    The caller webhooks record a ``choice`` event per option chosen and a ``queue-wait`` event
    (with the node) per hold cycle; that is the only place the chosen option is known. Kept in
    this process and bounded. It sees only the steps this process served, so the handler
    line asks the journey log, which every worker writes, first; with the journey log off, a
    handler served by another worker process hears the queue's possible options instead.
    """

    def __init__(self, limit: int = 5000) -> None:
        self.limit = limit
        self._calls: OrderedDict[str, CallerChoices] = OrderedDict()
        self._lock = threading.Lock()

    NOTED = frozenset({Kind.CHOICE, *QUEUED, Kind.QUEUE_RESULT, Kind.STATUS})

    def record(self, event: Event) -> None:
        if event.kind in self.NOTED:
            with self._lock:
                self._note(event)

    def _note(self, event: Event) -> None:
        sid = event.call_sid
        if event.kind in (Kind.QUEUE_RESULT, Kind.STATUS):
            self._calls.pop(sid, None)
            return
        chose = event.kind == Kind.CHOICE and event.outcome == "option" and event.key
        queued = event.kind in QUEUED
        if not sid or not event.node or not (chose or queued):
            return
        self._calls.setdefault(sid, CallerChoices([])).add(event)
        self._calls.move_to_end(sid)
        while len(self._calls) > self.limit:
            self._calls.popitem(last=False)

    def journey(self, call_sid: str) -> CallerChoices | None:
        with self._lock:
            return self._calls.get(call_sid)

    def close(self) -> None:
        pass
