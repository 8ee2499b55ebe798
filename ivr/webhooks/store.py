"""The menu in service: loaded once, read by every request, swapped whole on a reload.

Live edits: when ``reload_every`` is set, reading :attr:`MenuStore.served` checks the file's
modification stamp at most that often (a ``stat``, no parsing). A changed file is validated in
full; a good one goes into service for the next request, a broken one is refused with its
located problems logged, and the last good menu stays in service.
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
    ) -> None:
        self.path = Path(path)
        self.routes_for = routes_for or (lambda m: UrlRoutes(m.defaults.language))
        """Builds the URLs for a menu (they leave out its default language)."""
        self.reload_every = reload_every
        self.monotonic = monotonic
        self.refused: MenuError | None = None
        """The problems of the last edit that was refused, until a good edit replaces it."""
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        menu = menu if menu is not None else load_menu(self.path)
        self._served = Served.of(menu, self.routes_for(menu))
        self._checked = monotonic()

    @property
    def served(self) -> Served:
        """The menu in service, after a throttled check for an edited file."""
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
            log.error("menu edit refused; the last good menu stays in service.\n%s", exc)
            return False
        except Exception as exc:
            # Whatever goes wrong reading a new file (a bug in a check, memory), the callers
            # in service must not notice: keep the last good menu, say so once.
            problem = Problem("", f"cannot be read ({type(exc).__name__}: {exc})")
            self.refused = MenuError(str(self.path), [problem])
            log.exception(
                "menu edit could not be read (%s); the last good menu stays in service",
                type(exc).__name__,
            )
            return False
        for warning in menu.warnings:
            log.warning("%s: %s", menu.source, warning)
        self.refused = None
        self.replace(menu)
        log.info(
            "menu reloaded from %s: %d nodes, start %r", self.path, len(menu.nodes), menu.start
        )
        return True
