"""The menu in service: loaded once, read by every request, swapped whole on a reload."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .menu import Menu, load_menu
from .twiml import Renderer, Routes


@dataclass(frozen=True)
class Served:
    """A menu and its renderer, always swapped together."""

    menu: Menu
    renderer: Renderer


class MenuStore:
    """Holds the menu in service. Requests read ``store.served``; nothing parses per request."""

    def __init__(self, path: str | Path, routes: Routes, menu: Menu | None = None) -> None:
        self.path = Path(path)
        self.routes = routes
        menu = menu if menu is not None else load_menu(self.path)
        self.served = Served(menu, Renderer(menu, routes))

    def replace(self, menu: Menu) -> None:
        """Put ``menu`` in service for the next request."""
        self.served = Served(menu, Renderer(menu, self.routes))
