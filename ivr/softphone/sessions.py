"""The softphone's calls in progress: each a simulated call in its own thread, kept in memory.

:class:`Sessions` holds at most a configured number of calls and hangs up idle ones;
:class:`NodeTrail` (a recorder in the app's chain) notes where the app put each of them.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..caller import CallEvent, LiveCall
from ..caller.trace import CallEventKind
from ..events import Event, Kind
from ..webhooks.store import MenuStore


@dataclass
class Session:
    """One call placed from the page."""

    id: str
    live: LiveCall
    trail: list[str] = field(default_factory=list)
    used: float = field(default_factory=time.monotonic)

    @property
    def node(self) -> str | None:
        return self.trail[-1] if self.trail else None

    def arrive(self, node_id: str, kind: str | None) -> None:
        """The app put the caller at a node: note it in the trail and in the event stream."""
        if self.trail and self.trail[-1] == node_id:
            return
        self.trail.append(node_id)
        self.live.annotate(
            CallEvent(CallEventKind.NODE, text=node_id, detail={"node_kind": kind or ""})
        )


class Sessions:
    """The calls in progress, in memory: at most ``cap``, each hung up after ``idle`` seconds."""

    def __init__(self, cap: int, idle: float) -> None:
        self.cap = cap
        self.idle = idle
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self._by_sid: dict[str, Session] = {}

    @classmethod
    def from_config(cls, config: Any) -> Sessions:
        """As the settings say: IVR_PHONE_MAX_CALLS, IVR_PHONE_IDLE_SECONDS."""
        return cls(int(config["IVR_PHONE_MAX_CALLS"]), float(config["IVR_PHONE_IDLE_SECONDS"]))

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    def add(self, live: LiveCall) -> Session | None:
        """Keep a new call, or None when there are already ``cap`` calls."""
        self.expire()
        with self._lock:
            if len(self._by_id) >= self.cap:
                return None
            session = Session(secrets.token_urlsafe(18), live)
            self._by_id[session.id] = session
            self._by_sid[live.call_sid] = session
            return session

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None:
                session.used = time.monotonic()
            return session

    def by_call_sid(self, call_sid: str) -> Session | None:
        with self._lock:
            return self._by_sid.get(call_sid)

    def remove(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.id, None)
            self._by_sid.pop(session.live.call_sid, None)

    def expire(self) -> None:
        """Forget calls nobody touched for ``idle`` seconds, and calls that have ended long ago."""
        now = time.monotonic()
        with self._lock:
            stale = [s for s in self._by_id.values() if now - s.used > self.idle]
        for session in stale:
            self.remove(session)
            threading.Thread(target=session.live.hangup, daemon=True).start()

    def close(self) -> None:
        """Hang up every call and wait for their threads (tests, shutdown)."""
        with self._lock:
            sessions = list(self._by_id.values())
            self._by_id.clear()
            self._by_sid.clear()
        for session in sessions:
            session.live.hangup()
            session.live.join(5)


class NodeTrail:
    """A recorder in the app's chain: notes where the app put each softphone caller.

    Every event the webhooks record says where the caller goes next (``detail["next"]``, from
    the router) or where they are (``node``); the page highlights that node on the menu
    picture, so the route shown is the app's own, never a second guess.
    """

    def __init__(self, sessions: Sessions, store: MenuStore) -> None:
        self.sessions = sessions
        self.store = store

    def record(self, event: Event) -> None:
        session = self.sessions.by_call_sid(event.call_sid)
        if session is None:
            return
        node_id = self.node_after(event)
        menu = self.store.served.menu
        if node_id is not None and node_id in menu.nodes:
            session.arrive(node_id, menu.node(node_id).kind)

    @staticmethod
    def node_after(event: Event) -> str | None:
        """The node the caller is at once the app has answered this request."""
        if event.kind in (Kind.ERROR, Kind.FALLBACK, Kind.STATUS):
            return None  # an apology first; the recovery's own events place the caller
        return event.detail.get("next") or event.node

    def close(self) -> None:
        pass
