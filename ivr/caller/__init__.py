"""A caller that dials any TwiML app and plays the call the way Twilio's voice engine does.

    >>> from ivr.caller import Call, Input, ScriptedCaller, WSGITransport
    >>> record = Call(WSGITransport(app), "http://localhost/voice",
    ...               ScriptedCaller([Input.press("1")]), auth_token="secret").run()
    >>> record.outcome.summary()

No Flask here: the transport decides how requests travel (in-process WSGI or real HTTP).
"""

from __future__ import annotations

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
from .transcript import describe, transcript
from .transport import HTTPTransport, Response, Transport, TransportFailure, WSGITransport

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
