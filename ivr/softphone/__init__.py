"""The browser softphone: testers dial the menu from a page, played by the simulator in-process.

Off unless ``IVR_PHONE`` is set; then every ``/phone`` route wants ``IVR_PHONE_TOKEN``.
"""

from __future__ import annotations

from .sessions import NodeTrail, Session, Sessions
from .views import bp, init_app

__all__ = ["NodeTrail", "Session", "Sessions", "bp", "init_app"]
