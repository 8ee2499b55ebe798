"""The menu in service: loaded once, read by every request, swapped whole on a reload.

Live edits: when ``reload_every`` is set, reading :attr:`MenuStore.served` checks the file's
modification stamp at most that often (a ``stat``, no parsing). A changed file is validated in
full; a good one goes into service for the next request, a broken one is refused with its
located problems logged, and the last good menu stays in service.

A draft menu (``IVR_DRAFT_MENU_FILE``) has a store of its own, which may start empty (no file
yet, or a broken one) and fill on a later good edit: :class:`Menus` gives a test caller's call
the draft and every other call the published menu, which a draft can never affect.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import MenuError, Problem
from ..menu import Menu, load_menu
from ..numbers import caller_id
from ..twiml import Renderer, UrlRoutes
from ..twiml.answers import Answers

log = logging.getLogger("ivr.store")

Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class Served:
    """A menu, its renderer and the webhooks' answers, always swapped together."""

    menu: Menu
    renderer: Renderer
    answers: Answers

    @classmethod
    def of(cls, menu: Menu, routes: UrlRoutes) -> Served:
        renderer = Renderer(menu, routes)
        return cls(menu, renderer, Answers(menu, renderer))


class MenuStore:
    """Holds the menu in service. Requests read ``store.served``; nothing parses per request."""

    def __init__(
        self,
        path: str | Path,
        routes_for: Callable[[Menu], UrlRoutes] | None = None,
        menu: Menu | None = None,
        reload_every: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        required: bool = True,
        name: str = "menu",
    ) -> None:
        self.path = Path(path)
        self.routes_for = routes_for or (lambda m: UrlRoutes(m.defaults.language))
        """Builds the URLs for a menu (they leave out its default language)."""
        self.reload_every = reload_every
        self.monotonic = monotonic
        self.name = name
        """What the logs call it: ``menu``, or ``draft menu``."""
        self.refused: MenuError | None = None
        """The problems of the last edit that was refused, until a good edit replaces it."""
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._served: Served | None = None
        if menu is None:
            try:
                menu = load_menu(self.path)
            except MenuError as exc:
                if required:
                    raise
                # An optional menu (the draft) may be missing or broken: logged, and the
                # store stays empty until a good edit.
                self.refused = exc
                log.error("%s refused; none in service until it is fixed.\n%s", name, exc)
        if menu is not None:
            self._served = Served.of(menu, self.routes_for(menu))
        self._checked = monotonic()

    @property
    def served(self) -> Served:
        """The menu in service, after a throttled check for an edited file."""
        current = self.current()
        if current is None:  # only an optional store can be empty; its readers use current()
            raise LookupError(f"no {self.name} in service")
        return current

    def current(self) -> Served | None:
        """The menu in service (None while an optional store has none), after a throttled
        check for an edited file."""
        if self.reload_every is not None and (
            self.monotonic() - self._checked >= self.reload_every
        ):
            self.reload_if_changed()
        return self._served

    def replace(self, menu: Menu) -> None:
        """Put ``menu`` in service for the next request."""
        self._served = Served.of(menu, self.routes_for(menu))

    def _file_stamp(self) -> Stamp | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def reload_if_changed(self) -> bool:
        """Load the file if it changed since the last look; True if a new menu went in."""
        # One request checks; the others carry on with the menu in service.
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._checked = self.monotonic()
            stamp = self._file_stamp()
            if stamp is None or stamp == self._stamp:
                # Missing: an editor may be mid-save (write new, rename over): keep serving.
                return False
            self._stamp = stamp
            return self._load()
        finally:
            self._lock.release()

    def _load(self) -> bool:
        try:
            menu = load_menu(self.path)
        except MenuError as exc:
            self.refused = exc
            log.error(
                "%s edit refused; the last good %s stays in service: %s", self.name, self.name, exc
            )
            return False
        except Exception as exc:
            # Whatever goes wrong reading a new file (a bug in a check, memory), the callers
            # in service must not notice: keep the last good menu, say so once.
            problem = Problem("", f"cannot be read ({type(exc).__name__}: {exc})")
            self.refused = MenuError(str(self.path), [problem])
            log.exception(
                "%s edit could not be read (%s); the last good %s stays in service",
                self.name,
                type(exc).__name__,
                self.name,
            )
            return False
        for warning in menu.warnings:
            log.warning("%s: %s", menu.source, warning)
        self.refused = None
        self.replace(menu)
        log.info(
            "%s reloaded from %s: %d nodes, start %r",
            self.name,
            self.path,
            len(menu.nodes),
            menu.start,
        )
        return True


DRAFT = "draft"
"""The ``menu`` URL parameter of a call on the draft menu (:class:`ivr.twiml.UrlRoutes`)."""


class Menus:
    """Which menu a call hears: the draft for test callers, the published menu for everyone.

    A new call is put on the draft when its caller ID is one of ``test_callers`` (compared in
    E.164 with :func:`ivr.numbers.caller_id`, so a SIP URI or a display name never matches)
    and a good draft is in service; the draft's URLs then say ``menu=draft``, so every later
    webhook of the call is answered from the draft, by any worker.
    """

    def __init__(
        self,
        published: MenuStore,
        draft: MenuStore | None = None,
        test_callers: frozenset[str] = frozenset(),
    ) -> None:
        self.published = published
        self.draft = draft
        self.test_callers = test_callers

    def is_test_caller(self, caller: str | None) -> bool:
        # caller_id() gives back exactly what it was given or None, so only a caller already in
        # the list needs parsing: every other call (nearly all of them) skips phonenumbers.
        return caller in self.test_callers and caller_id(caller) is not None

    def for_new_call(self, caller: str | None) -> tuple[Served, bool]:
        """The menu a new call hears, and whether it is a test call."""
        if not self.is_test_caller(caller):
            return self.published.served, False
        draft = self.draft.current() if self.draft is not None else None
        if draft is None:
            why = "IVR_DRAFT_MENU_FILE is not set" if self.draft is None else "it was refused"
            log.warning("a test caller hears the published menu: no draft in service (%s)", why)
            return self.published.served, True
        return draft, True

    def for_call(self, menu: str) -> Served:
        """The menu of a call under way, from the ``menu`` parameter of its URL."""
        if menu == DRAFT and self.draft is not None:
            draft = self.draft.current()
            if draft is not None:
                return draft
        return self.published.served
