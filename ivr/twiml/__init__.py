"""TwiML: the URLs that carry a call's state, and the renderer of the router's steps.

Documents are built with twilio's ``VoiceResponse``. No Flask here.
"""

from __future__ import annotations

from .render import FIXED_LAST_RESORT, HANDLER_LAST_RESORT, HANGUP, Renderer, last_resort
from .routes import HandlerRoutes, UrlRoutes

__all__ = [
    "FIXED_LAST_RESORT",
    "HANDLER_LAST_RESORT",
    "HANGUP",
    "HandlerRoutes",
    "Renderer",
    "UrlRoutes",
    "last_resort",
]
