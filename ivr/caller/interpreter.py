"""The TwiML interpreter: plays the caller's side of a call the way Twilio's voice engine does.

Twilio fetches a document, runs its verbs top to bottom, and fetches the next document when a
verb hands control to an ``action`` URL or a <Redirect>. This module does the same against any
:class:`~ivr.caller.transport.Transport`, asking a :class:`~ivr.caller.strategy.Caller` whenever
the real caller would act, and records every event on the way. Time is simulated with
:mod:`ivr.caller.clock`; the verbs that wait for people live in :mod:`~ivr.caller.gather`,
:mod:`~ivr.caller.dial` and :mod:`~ivr.caller.enqueue`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable
from urllib.parse import urljoin

from twilio.request_validator import RequestValidator

from ..errors import ApplicationError, TwiMLSchemaError
from .clock import CALL_LIMIT_SECONDS, Clock, endless, repetitions
from .control import CallOver, Endless, Fetch, LeaveQueue, QueueStay, new_sid
from .dial import DialVerb
from .document import WAIT_VERBS, Document, attribute, flag, method, text_of
from .enqueue import EnqueueVerb
from .gather import GatherVerbs
from .strategy import Caller, ScriptedCaller
from .trace import CallEvent, CallEventKind, CallRecord, Outcome
from .transport import Transport
from .webhook import Webhooks, timestamp

__all__ = ["APPLICATION_ERROR_SPEECH", "WAIT_VERBS", "Call", "new_sid", "simulate"]

APPLICATION_ERROR_SPEECH = "We are sorry, an application error has occurred. Goodbye."
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
_EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}


class Call(Webhooks, GatherVerbs, DialVerb, EnqueueVerb):
    """One simulated inbound call to a TwiML webhook.

    ``url`` is the number's voice URL. With ``auth_token`` every request carries a valid
    ``X-Twilio-Signature``. ``max_seconds`` is the call's simulated-time limit (Twilio's four
    hours): a polling loop (Pause and Redirect) runs until it. ``max_requests_without_input``
    bounds requests in a row with no caller input and no time passing (a tight redirect loop,
    which would never reach the time limit).

    ``status_callback``: when the call ends, however it ends, Twilio's call status callback is
    sent there (``CallStatus``, ``CallDuration`` in simulated seconds, ``Timestamp``,
    ``CallbackSource``, ``SequenceNumber``), and for each of ``status_events`` (initiated,
    ringing, answered) as it happens; a failure is a warning in ``record.warnings``, never an
    application error. ``handler_seconds``: how long a bridged queue conversation lasts.
    ``clock`` is the timing model (``play_seconds`` sets its audio length).
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        caller: Caller | None = None,
        *,
        method: str = "POST",
        auth_token: str | None = None,
        from_number: str = "+447700900123",
        to_number: str = "+441632960101",
        account_sid: str | None = None,
        call_sid: str | None = None,
        max_requests_without_input: int = 20,
        max_seconds: float = CALL_LIMIT_SECONDS,
        queue_position: int = 3,
        avg_queue_time: int = 60,
        max_queue_size: int = 1000,
        speech_confidence: float = 0.92,
        play_seconds: float = 10.0,
        clock: Clock | None = None,
        handler_seconds: float = 60.0,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_events: Iterable[str] = (),
        on_event: Callable[[CallEvent], None] | None = None,
    ) -> None:
        self.transport = transport
        self.url = url
        self.method = method.upper()
        self.caller: Caller = caller if caller is not None else ScriptedCaller()
        self.validator = RequestValidator(auth_token) if auth_token else None
        self.from_number = from_number
        self.to_number = to_number
        self.max_requests_without_input = max_requests_without_input
        self.max_seconds = max_seconds
        self.queue_position = queue_position
        self.avg_queue_time = avg_queue_time
        self.max_queue_size = max_queue_size
        self.speech_confidence = speech_confidence
        self.timing = clock or Clock(play_seconds=play_seconds)
        self.handler_seconds = handler_seconds
        self.status_callback = urljoin(url, status_callback) if status_callback else None
        self.status_callback_method = status_callback_method.upper()
        unknown = set(status_events) - set(STATUS_EVENTS)
        if unknown:
            raise ValueError(f"unknown status callback events {sorted(unknown)}")
        self.status_events = frozenset(status_events) | {"completed"}
        self.on_event = on_event
        self.record = CallRecord(
            call_sid=call_sid or new_sid("CA"), account_sid=account_sid or new_sid("AC")
        )
        self.clock = 0.0
        self.answered_at: float | None = None  # Twilio picks up at the first verb that answers
        self._status = "ringing"
        self._rejected: str | None = None
        self._since_input: deque[str] = deque()
        self._guard_clock = 0.0
        self._heard: list[str] = []
        self._queue: tuple[str, str] | None = None
        self._dialled: tuple[tuple[str, ...], str] | None = None
        self._queue_sids: dict[str, str] = {}
        self._sequence = 0
        self._unanswered_status: str | None = None  # answerOnBridge: how the ringing ended

    # -- the call ---------------------------------------------------------------------------

    def run(self) -> CallRecord:
        """Place the call and play it to the end; never raises an ApplicationError."""
        for event in ("initiated", "ringing"):
            if event in self.status_events:
                self._post_status(event)
        fetch: Fetch | None = Fetch(self.url, self.method)
        try:
            while fetch is not None:
                document = self._fetch(fetch)
                fetch = self._run_verbs(document, None)
            self._emit(CallEventKind.HANGUP, detail={"by": "app", "why": "end of document"})
            self._finish("app", "end of document")
        except CallOver as over:
            self._finish(over.how, over.reason)
        except ApplicationError as error:
            self._emit(
                CallEventKind.ERROR,
                text=error.message,
                url=error.url,
                status=error.status,
                detail={
                    "type": type(error).__name__,
                    "code": error.code,
                    "body": error.excerpt,
                    "twilio_says": APPLICATION_ERROR_SPEECH,
                },
            )
            self._answer()  # Twilio answers to say the application error
            self.clock += self.timing.speaking(APPLICATION_ERROR_SPEECH)
            self._finish("error", error=error)
        if self.status_callback:
            self._post_status("completed")
        return self.record

    def final_status(self) -> str:
        """Twilio's CallStatus once the call is over: <Reject> before answering leaves the
        call unanswered (busy, or no-answer for reason="rejected"), as does a <Dial
        answerOnBridge> that never connected; anything else answered it."""
        if self.answered_at is None:
            if self._rejected:
                return "busy" if self._rejected == "busy" else "no-answer"
            if self._unanswered_status:
                return self._unanswered_status
        return "completed"

    def duration(self) -> int:
        """CallDuration: whole simulated seconds from answer to hang-up, rounded up."""
        if self.answered_at is None:
            return 0
        return math.ceil(round(self.clock - self.answered_at, 6))

    def _answer(self) -> None:
        if self.answered_at is None:
            self.answered_at = self.clock
            if "answered" in self.status_events and self.status_callback:
                self._post_status("answered")

    def _advance(self, seconds: float) -> None:
        """Move the clock on; Twilio ends any call at its time limit."""
        self.clock += seconds
        if self.clock >= self.max_seconds:
            self.clock = float(self.max_seconds)
            raise CallOver("limit", f"the call reached its time limit of {self.max_seconds:g} s")

    def _post_status(self, event: str) -> None:
        """Twilio's status callback: not TwiML, so its answer is never run; a failure is
        only a debugger warning at Twilio, and the caller hears nothing of it."""
        if not self.status_callback:
            return
        status = self.final_status() if event == "completed" else _EVENT_STATUS[event]
        saved, self._status = self._status, status
        params = {
            "Timestamp": timestamp(),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._sequence),
        }
        if event == "completed":
            params = {"CallDuration": str(self.duration())} | params
        self._sequence += 1
        fetch = Fetch(self.status_callback, self.status_callback_method, params)
        problem: str | None = None
        url, response = fetch.url, None
        try:
            url, _, response = self._send(fetch, guarded=False)
        except ApplicationError as exc:
            problem = f"status callback {fetch.url} failed: {exc.message}"
        else:
            if not 200 <= response.status < 300:
                problem = f"status callback {url} answered HTTP {response.status}"
        if event != "completed":
            self._status = saved
        if problem:
            self.record.warnings.append(problem)
        self._emit(
            CallEventKind.STATUS_CALLBACK,
            url=url,
            method=fetch.method,
            result=status,
            status=None if response is None else response.status,
            seconds=float(params["CallDuration"]) if "CallDuration" in params else None,
            detail=({"event": event} if event != "completed" else {})
            | ({"warning": problem} if problem else {}),
        )

    def _finish(self, how: str, reason: str | None = None, error: ApplicationError | None = None):
        self._status = "completed"
        queue, queue_result = self._queue or (None, None)
        dialled, dial_status = self._dialled or ((), None)
        if how == "error":
            kind = "error"
        elif how == "rejected":
            kind = "rejected"
        elif how == "limit":
            kind = "time-limit"
        elif queue_result in ("bridged", "hangup", "redirected-from-bridged"):
            kind = "enqueued"
        elif dial_status in ("completed", "answered"):
            kind = "dialled"
        elif how == "caller":
            kind = "caller-hangup"
        else:
            kind = "message" if self._heard else "hangup"
        self.record.outcome = Outcome(
            kind=kind,
            heard=tuple(self._heard),
            queue=queue,
            queue_result=queue_result,
            dialled=dialled,
            dial_status=dial_status,
            reason=reason,
            error=error,
        )

    def _emit(self, kind: CallEventKind, **fields: object) -> CallEvent:
        event = CallEvent(kind, round(self.clock, 1), **fields)  # type: ignore[arg-type]
        self.record.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _caller_acted(self) -> None:
        self._since_input.clear()
        self._heard = []

    def _schema(self, message: str, url: str, element: str) -> TwiMLSchemaError:
        return TwiMLSchemaError(message, url=url, element=element)

    # -- verbs ------------------------------------------------------------------------------

    def _run_verbs(self, document: Document, queue: QueueStay | None) -> Fetch | None:
        """Run the verbs in order; return the next document to fetch, or None at the end."""
        for verb in document.verbs:
            # Twilio picks up at the first verb, except <Reject> (it never answers), a
            # leading <Pause> (it rings on for that long first) and <Dial answerOnBridge>
            # (it picks up when the dialled party does).
            if verb.tag not in ("Reject", "Pause") and not (
                verb.tag == "Dial" and flag(verb, "answerOnBridge")
            ):
                self._answer()
            handler = getattr(self, f"_verb_{verb.tag.lower()}", None)
            if handler is None:
                self._emit(
                    CallEventKind.UNSUPPORTED,
                    text=verb.tag,
                    detail={"note": "not simulated, skipped"},
                )
                continue
            next_fetch = handler(verb, document.url, queue)
            if next_fetch is not None:
                return next_fetch
        return None

    def _speak(self, el: ET.Element, queue: QueueStay | None, nested: bool = False) -> None:
        """A Say or Play: heard once per repetition; ``loop="0"`` never ends by itself."""
        once = self.timing.once(el)
        if endless(el) and not nested:
            self._advance(once)
            if queue is not None:
                raise Endless(el)  # hold music that plays on until the caller leaves the queue
            note = f'<{el.tag} loop="0"> repeats until the call ends: the caller hangs up'
            self._emit(CallEventKind.INPUT, result="hangup", detail={"note": note})
            raise CallOver("caller", note)
        self._advance(once if endless(el) else once * repetitions(el))

    def _verb_say(self, el: ET.Element, url: str, queue: QueueStay | None, **extra: object):
        text = text_of(el)
        if not text:
            return None
        self._emit(
            CallEventKind.SAY,
            text=text,
            voice=el.get("voice"),
            language=el.get("language"),
            loop=int(attribute(el, "loop")),
            **extra,  # type: ignore[arg-type]
        )
        self._heard.append(text)
        self._speak(el, queue, nested=bool(extra))
        return None

    def _verb_play(self, el: ET.Element, url: str, queue: QueueStay | None, **extra: object):
        source = text_of(el)
        digits = attribute(el, "digits") or None
        if not source and not digits:
            self._warn("warning 12200: <Play> has neither a URL nor digits: skipped", code=12200)
            return None
        target = urljoin(url, source) if source else None
        loop = int(attribute(el, "loop"))
        self._emit(CallEventKind.PLAY, url=target, loop=loop, digits=digits, **extra)  # type: ignore[arg-type]
        if target:
            self._heard.append(f"[audio {target}]")
        self._speak(el, queue, nested=bool(extra))
        return None

    def _verb_pause(self, el: ET.Element, url: str, queue: QueueStay | None, **extra: object):
        seconds = self.timing.once(el)
        if self.answered_at is None and not extra:
            # Twilio: a <Pause> as the first verb delays picking up the call.
            extra = {"detail": {"ringing": True}}
        self._emit(CallEventKind.PAUSE, seconds=seconds, **extra)  # type: ignore[arg-type]
        self._advance(seconds)
        return None

    def _verb_redirect(self, el: ET.Element, url: str, queue: QueueStay | None) -> Fetch:
        target = text_of(el)
        if not target:
            raise self._schema("<Redirect> needs a URL", url, "Redirect")
        absolute = urljoin(url, target)
        self._emit(CallEventKind.REDIRECT, url=absolute, method=method(el))
        return Fetch(absolute, method(el))

    def _verb_hangup(self, el: ET.Element, url: str, queue: QueueStay | None) -> None:
        self._emit(CallEventKind.HANGUP, detail={"by": "app"})
        raise CallOver("app")

    def _verb_reject(self, el: ET.Element, url: str, queue: QueueStay | None) -> None:
        reason = attribute(el, "reason")
        self._emit(CallEventKind.REJECT, result=reason)
        self._rejected = reason
        raise CallOver("rejected", reason)

    def _verb_leave(self, el: ET.Element, url: str, queue: QueueStay | None) -> None:
        if queue is None:
            self._emit(
                CallEventKind.UNSUPPORTED, text="Leave", detail={"note": "not in a queue, ignored"}
            )
            return
        self._emit(CallEventKind.LEAVE, queue=queue.name)
        raise LeaveQueue


def simulate(
    transport: Transport, url: str, caller: Caller | None = None, **options: object
) -> CallRecord:
    """Place one simulated call and return its record (see :class:`Call` for options)."""
    return Call(transport, url, caller, **options).run()  # type: ignore[arg-type]
