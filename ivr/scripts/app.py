"""This project's app in-process for call scripts: one app per menu file, each call's clock.

The app is built in one place (:func:`build_app`), so a change to ``create_app``'s signature is
a one-line change here. A script's ``at`` is the app's clock for that call only: the clock reads
a context variable that the runner sets around each call, so one app serves every scenario of
a menu, whatever time each one is set at.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..events import Event

_NOW: ContextVar[datetime | None] = ContextVar("ivr_script_now", default=None)


def _clock() -> datetime:
    return _NOW.get() or datetime.now(UTC)


@contextlib.contextmanager
def clock_at(moment: datetime | None) -> Iterator[None]:
    """Run the calls made inside at ``moment`` (the real time when None)."""
    token = _NOW.set(moment)
    try:
        yield
    finally:
        _NOW.reset(token)


class EventLog:
    """The app's recorder: keeps each call's events, by CallSid, until the runner takes them."""

    def __init__(self) -> None:
        self._calls: dict[str, list[Event]] = {}
        self._lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self._lock:
            self._calls.setdefault(event.call_sid, []).append(event)

    def take(self, call_sid: str) -> list[Event]:
        with self._lock:
            return self._calls.pop(call_sid, [])

    def close(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class InProcess:
    """One in-process app, its auth token and the events it records."""

    app: Any
    token: str
    events: EventLog

    def close(self) -> None:
        journey = self.app.extensions["ivr"].journey
        if journey is not None:
            journey.close()


def build_app(menu: str, events: EventLog, token: str, database: str) -> Any:
    """This project's app for ``menu``, signing with ``token``, recording into ``events``.

    The journey log is on, as in production (the callback offer needs it), in a SQLite file of
    the run's own (``database``): nothing reaches the developer's own journey database, and an
    in-memory database would share one connection between the webhooks and the log's writer.
    The environment's deployment settings (a public URL, proxies, the softphone) are
    overridden.
    """
    # The Flask app, only when a script runs in-process: loading scripts, coverage and the
    # picture never need Flask (the domain packages import none, tests/test_architecture.py).
    from ..webhooks.app import create_app

    # create_app sets the "ivr" logger's level from IVR_LOG_LEVEL for the whole process; a
    # script run must not change how the rest of the process logs.
    logger = logging.getLogger("ivr")
    level = logger.level
    try:
        return create_app(
            {
                "TESTING": True,  # no .env: a script run is the same on every machine
                "TWILIO_AUTH_TOKEN": token,
                "PUBLIC_BASE_URL": None,
                "IVR_ALLOW_UNSIGNED": False,
                "IVR_TRUSTED_PROXIES": 0,
                "IVR_PHONE": False,
                "IVR_MENU_FILE": menu,
                "IVR_MENU_RELOAD_SECONDS": 0,
                "IVR_LOG_LEVEL": logging.getLevelName(logger.getEffectiveLevel()),
                "IVR_JOURNEY_LOG": True,
                "DATABASE_URL": f"sqlite:///{database}",
                "IVR_CALLER_STORAGE": "mask",
            },
            recorder=events,
            clock=_clock,
        )
    finally:
        logger.setLevel(level)


class Apps:
    """In-process apps by menu file, built on first use and shared by every thread."""

    def __init__(self) -> None:
        self._apps: dict[str, InProcess] = {}
        self._lock = threading.Lock()
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def get(self, menu: str) -> InProcess:
        with self._lock:
            found = self._apps.get(menu)
            if found is None:
                if self._folder is None:
                    self._folder = tempfile.TemporaryDirectory(prefix="ivr-test-")
                events = EventLog()
                token = secrets.token_hex(16)
                database = Path(self._folder.name) / f"journeys-{len(self._apps)}.db"
                found = InProcess(build_app(menu, events, token, str(database)), token, events)
                self._apps[menu] = found
            return found

    def close(self) -> None:
        with self._lock:
            for app in self._apps.values():
                app.close()
            self._apps.clear()
            if self._folder is not None:
                self._folder.cleanup()
                self._folder = None
