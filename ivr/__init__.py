"""ivr101: the UK police 101 telephone menu as Twilio voice webhooks, and the tools around it.

``create_app`` (the WSGI app factory, :mod:`ivr.webhooks.app`) is imported on first use, so
the ``ivr`` command starts without loading Flask, SQLAlchemy or the menu model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .webhooks.app import IVR, create_app

__all__ = ["IVR", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .webhooks import app

        return getattr(app, name)
    raise AttributeError(f"module 'ivr' has no attribute {name!r}")
