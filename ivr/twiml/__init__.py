"""TwiML: the webhook URLs that carry a call's state, and the renderer that turns the router's
steps into documents (always with twilio's ``VoiceResponse``). No Flask here."""

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
