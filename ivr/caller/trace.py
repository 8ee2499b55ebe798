"""The trace of a simulated call: its events (by :class:`CallEventKind`), requests, outcome.

Not to be confused with :mod:`ivr.events`, the app's own vocabulary of webhook steps: these are
the caller's side of the call, what Twilio did and what the caller heard and pressed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import ApplicationError


class CallEventKind(StrEnum):
    """What one :class:`CallEvent` is (the values are what ``--json`` and the softphone show)."""

    REQUEST = "request"
    """A webhook request (``detail["redirected_from"]`` when it follows an HTTP redirect)."""
    SAY = "say"
    """A <Say> heard."""
    PLAY = "play"
    """A <Play> heard."""
    PAUSE = "pause"
    """A <Pause>."""
    GATHER = "gather"
    """A <Gather> listening."""
    INPUT = "input"
    """What the caller did at a Gather or Record (``detail["barge_in"]``: keys cut the prompt)."""
    REDIRECT = "redirect"
    """A <Redirect> followed."""
    RECORD = "record"
    """A <Record> started."""
    RECORDED = "recorded"
    """A recording ended."""
    DIAL = "dial"
    """A <Dial>."""
    DIAL_RESULT = "dial-result"
    """How the <Dial> ended."""
    LEG = "leg"
    """What a dialled party or a dequeued caller hears before the bridge (a whisper)."""
    SEND_DIGITS = "send-digits"
    """Tones sent to a dialled number."""
    ENQUEUE = "enqueue"
    """The caller joined a queue."""
    QUEUE_WAIT = "queue-wait"
    """One waitUrl cycle in a queue."""
    LEAVE = "leave"
    """A <Leave> took the caller out of the queue."""
    QUEUE_RESULT = "queue-result"
    """How the queue ended (QueueResult)."""
    HANGUP = "hangup"
    """The call ended (``detail["by"]``: who hung up)."""
    REJECT = "reject"
    """A <Reject>."""
    UNSUPPORTED = "unsupported"
    """A verb the simulator skips."""
    WARNING = "warning"
    """Twilio logs it and carries on (``detail["code"]``)."""
    CALLBACK = "callback"
    """A request whose answer Twilio ignores: partial speech, a recording's status..."""
    ERROR = "error"
    """An application error: Twilio's words for it in ``detail["twilio_says"]``."""
    STATUS_CALLBACK = "status-callback"
    """The status callback: ``result`` the CallStatus, ``seconds`` the CallDuration."""
    NODE = "node"
    """The softphone's note of the menu node the app put the caller at (``text``)."""


@dataclass(frozen=True)
class CallEvent:
    """One thing that happened on the call, from the caller's side.

    ``kind`` says what it was (:class:`CallEventKind`). Only the fields that make sense for
    the kind are set.
    """

    kind: CallEventKind
    at: float = 0.0
    """Simulated seconds since Twilio took the call (see :mod:`ivr.caller.clock`); a leading
    <Pause> rings before the answer, so CallDuration counts from after it."""
    text: str | None = None
    voice: str | None = None
    language: str | None = None
    loop: int | None = None
    url: str | None = None
    method: str | None = None
    params: dict[str, str] | None = None
    status: int | None = None
    seconds: float | None = None
    digits: str | None = None
    speech: str | None = None
    queue: str | None = None
    position: int | None = None
    result: str | None = None
    targets: list[dict[str, str]] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The set fields only, JSON-ready."""
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


@dataclass(frozen=True)
class SentRequest:
    """One webhook request exactly as sent, and what came back."""

    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Outcome:
    """How the call ended.

    ``kind``: ``enqueued`` (``queue`` and ``queue_result``: bridged, or hangup while waiting),
    ``dialled`` (a <Dial> connected: ``dialled`` and ``dial_status``), ``message`` (the app
    hung up after speaking: ``heard``), ``hangup`` (the app hung up, nothing said since the
    caller's last input), ``caller-hangup``, ``rejected`` (``reason``), ``time-limit`` (the
    call ran into its simulated-time limit, Twilio's four hours by default: ``reason``) or
    ``error``. For ``message`` and ``hangup``, ``reason`` is "end of document" when the
    TwiML simply ran out.
    ``queue`` and ``dialled`` are also set for any other kind when the call went through them.
    """

    kind: str
    heard: tuple[str, ...] = ()
    queue: str | None = None
    queue_result: str | None = None
    dialled: tuple[str, ...] = ()
    dial_status: str | None = None
    reason: str | None = None
    error: ApplicationError | None = None

    def summary(self) -> str:
        """One line for a person."""
        if self.kind == "error" and self.error is not None:
            return self.error.describe()
        if self.kind == "enqueued":
            return f"enqueued in {self.queue!r} (QueueResult={self.queue_result})"
        if self.kind == "dialled":
            return f"dialled {', '.join(self.dialled)} (DialCallStatus={self.dial_status})"
        if self.kind == "rejected":
            return f"rejected ({self.reason})"
        if self.kind == "time-limit":
            return f"Twilio ended the call: {self.reason}"
        why = f" ({self.reason})" if self.reason else ""
        if self.kind == "message":
            last = self.heard[-1] if self.heard else ""
            return f"message heard, then the app hung up{why}: {last!r}"
        if self.kind == "caller-hangup":
            return "the caller hung up" + why
        return f"the app hung up{why}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "summary": self.summary()}
        for name in ("queue", "queue_result", "dial_status", "reason"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.heard:
            data["heard"] = list(self.heard)
        if self.dialled:
            data["dialled"] = list(self.dialled)
        if self.error is not None:
            data["error"] = {
                "type": type(self.error).__name__,
                "code": self.error.code,
                "message": self.error.message,
                "url": self.error.url,
                "status": self.error.status,
                "content_type": self.error.content_type,
                "body": self.error.excerpt,
            }
        return data


@dataclass
class CallRecord:
    """Everything one simulated call produced."""

    call_sid: str
    account_sid: str
    events: list[CallEvent] = field(default_factory=list)
    requests: list[SentRequest] = field(default_factory=list)
    outcome: Outcome | None = None
    warnings: list[str] = field(default_factory=list)
    """What Twilio would only log as a warning and carry on after: a schema or attribute
    problem (``warning 13510: ...``), a failed status callback."""

    def of_kind(self, *kinds: str) -> list[CallEvent]:
        return [e for e in self.events if e.kind in kinds]

    def as_dict(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "account_sid": self.account_sid,
            "events": [e.as_dict() for e in self.events],
            "outcome": self.outcome.as_dict() if self.outcome else None,
            "warnings": list(self.warnings),
        }
