"""A caller that dials any TwiML app and plays the call the way Twilio's voice engine does.

    >>> from ivr.caller import Call, Input, ScriptedCaller, WSGITransport
    >>> record = Call(WSGITransport(app), "http://localhost/voice",
    ...               ScriptedCaller([Input.press("1")]), auth_token="secret").run()
    >>> record.outcome.summary()

No Flask here: the transport decides how requests travel (in-process WSGI or real HTTP).

The public API is the names below, each from the module that owns it. They are imported on
first use, so that ``ivr paths`` and ``ivr validate``, which need only the clock
(:mod:`ivr.caller.clock`), do not load the interpreter, its request signing or a WSGI client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager, and light: the function ``transcript`` shares its module's name, and importing the
# module later would otherwise rebind ``ivr.caller.transcript`` to the module.
from .transcript import describe, transcript

if TYPE_CHECKING:
    from .clock import Clock, offered_keys
    from .interpreter import Call, new_sid, simulate
    from .live import LiveCall, LiveCallError, LiveStep, Waiting
    from .strategy import (
        Caller,
        DialResult,
        DialTarget,
        GatherPrompt,
        Input,
        InteractiveCaller,
        QueueState,
        ScriptedCaller,
        parse_input,
    )
    from .trace import CallEvent, CallRecord, Outcome, SentRequest
    from .transport import HTTPTransport, Response, Transport, TransportFailure, WSGITransport

_OWNERS: dict[str, tuple[str, ...]] = {
    "clock": ("Clock", "offered_keys"),
    "trace": ("CallEvent", "CallRecord", "Outcome", "SentRequest"),
    "interpreter": ("Call", "new_sid", "simulate"),
    "live": ("LiveCall", "LiveCallError", "LiveStep", "Waiting"),
    "strategy": (
        "Caller",
        "DialResult",
        "DialTarget",
        "GatherPrompt",
        "Input",
        "InteractiveCaller",
        "QueueState",
        "ScriptedCaller",
        "parse_input",
    ),
    "transport": ("HTTPTransport", "Response", "Transport", "TransportFailure", "WSGITransport"),
}
_MODULE_OF = {name: module for module, names in _OWNERS.items() for name in names}

__all__ = [
    "Call",
    "CallEvent",
    "CallRecord",
    "Caller",
    "Clock",
    "DialResult",
    "DialTarget",
    "GatherPrompt",
    "HTTPTransport",
    "Input",
    "InteractiveCaller",
    "LiveCall",
    "LiveCallError",
    "LiveStep",
    "Outcome",
    "QueueState",
    "Response",
    "ScriptedCaller",
    "SentRequest",
    "Transport",
    "TransportFailure",
    "WSGITransport",
    "Waiting",
    "describe",
    "new_sid",
    "offered_keys",
    "parse_input",
    "simulate",
    "transcript",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
