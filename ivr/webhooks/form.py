"""Reading Twilio's webhook request and answering it: the helpers every blueprint shares.

Every value a webhook reads from Twilio's form or from its own URL goes through here, cut to
a sane length and clamped, so hostile or huge parameters never reach the menu.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request

from ..events import Event, Kind

if TYPE_CHECKING:
    from .app import IVR
    from .store import Served

# The full header, so no request works out "text/xml; charset=utf-8" from the mimetype again.
TWIML_TYPE = "text/xml; charset=utf-8"


def ivr() -> IVR:
    """What the webhooks share (``app.extensions["ivr"]``)."""
    return current_app.extensions["ivr"]


def served(args: Mapping[str, str] | None = None) -> Served:
    """The menu this call is on, and its renderer: the draft when the call's URLs say
    ``menu=draft`` (a test caller's call), else the published menu. ``args``: the request's
    query when the view already holds it."""
    query = request.args if args is None else args
    return current_app.extensions["ivr"].menus.for_call(param(query, "menu"))


def now() -> dt.datetime:
    """The time of this request, from the app's clock (IVR_NOW and tests fix it)."""
    return current_app.extensions["ivr"].clock()


def twiml(body: Any) -> Response:
    """A TwiML answer (a document string or a ``VoiceResponse``)."""
    return current_app.response_class(str(body), content_type=TWIML_TYPE)


def param(source: Mapping[str, str], name: str, default: str = "") -> str:
    """``source.get(name, default)``; werkzeug's ``get`` builds an HTTP error for every
    missing name before returning the default, which is most of the cost of a webhook's
    optional parameters (``lang``, ``SpeechResult``)."""
    return source[name] if name in source else default


def int_param(source: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An integer from the query or form, clamped; anything unusable is the default."""
    if name not in source:
        return default
    try:
        return min(max(int(source[name]), low), high)
    except (TypeError, ValueError):
        return default


def call_sid(form: Mapping[str, str] | None = None) -> str:
    """The CallSid of the request (at most 64 characters; empty when missing); ``form``: the
    request's form when the view already holds it."""
    return param(request.form if form is None else form, "CallSid")[:64]


def caller() -> str | None:
    """Twilio's ``From`` as sent (masked or hashed by the recorders before it is stored)."""
    return param(request.form, "From") or None


def record(kind: Kind, call: str | None = None, **fields: Any) -> None:
    """Record one event of this request's call on the app's recorder chain (``call``: its
    CallSid, when the view already read it)."""
    sid = call_sid() if call is None else call
    current_app.extensions["ivr"].recorder.record(Event(sid, kind, **fields))
