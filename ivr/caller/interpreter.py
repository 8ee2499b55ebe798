"""The TwiML interpreter: plays the caller's side of a call the way Twilio's voice engine does.

Twilio fetches a document, runs its verbs top to bottom, and fetches the next document when a
verb hands control to an ``action`` URL or a <Redirect>. This module does the same against any
:class:`~ivr.caller.transport.Transport`, asking a :class:`~ivr.caller.strategy.Caller` whenever
the real caller would act, and records every event on the way.
"""

from __future__ import annotations

import math
import re
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode, urljoin

import phonenumbers
from twilio.request_validator import RequestValidator

from ..errors import (
    ApplicationError,
    ContentTypeError,
    HTTPStatusError,
    RedirectLoopError,
    TransportError,
    TwiMLParseError,
    TwiMLSchemaError,
)
from .events import CallEvent, CallRecord, Outcome, SentRequest
from .strategy import Caller, DialTarget, GatherPrompt, Input, QueueState, ScriptedCaller
from .transport import Response, Transport, TransportFailure

# Verbs this interpreter runs, and verbs Twilio knows that it only notes and skips.
SIMULATED = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject", "Enqueue", "Leave"}
    | {"Dial", "Record"}
)
NOT_SIMULATED = frozenset(
    {"Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Echo", "Sms", "Message", "Siprec"}
)
# Twilio's list for a waitUrl document.
WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})
GATHER_NESTABLE = frozenset({"Say", "Play", "Pause"})
DIAL_NOUNS = {
    "Number": "number",
    "Client": "client",
    "Sip": "sip",
    "Queue": "queue",
    "Conference": "conference",
    "Sim": "sim",
    "Application": "application",
}
LEAF_VERBS = frozenset({"Play", "Pause", "Hangup", "Reject", "Redirect", "Leave", "Record"})
TWIML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})

APPLICATION_ERROR_SPEECH = "We are sorry, an application error has occurred. Goodbye."
HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/"  # Twilio's default waitUrl
WORDS_PER_SECOND = 2.5  # 150 words a minute, a common text-to-speech rate


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def speaking_time(text: str) -> float:
    return len(text.split()) / WORDS_PER_SECOND


def _country(number: str) -> str | None:
    try:
        # By country code, so fictional (Ofcom drama) numbers still get their country.
        region = phonenumbers.region_code_for_country_code(
            phonenumbers.parse(number, None).country_code
        )
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


_PREFIX = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]")


def _parse(body: bytes) -> ET.Element:
    """Parse TwiML; SSML such as ``<amazon:effect>`` uses a prefix nobody declares, which
    Twilio accepts, so declare any such prefix on <Response> and try again."""
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        if "unbound prefix" not in str(exc):
            raise
        prefixes = sorted(set(_PREFIX.findall(body)) - {b"xml", b"xmlns"})
        declared = b"".join(b' xmlns:%s="urn:ivr101:%s"' % (p, p) for p in prefixes)
        patched, count = re.subn(rb"<Response(?=[\s/>])", b"<Response" + declared, body, count=1)
        if not count:
            raise
        try:
            return ET.fromstring(patched)
        except ET.ParseError:
            raise exc from None


WHOLE_NUMBER_ATTRIBUTES = ("loop", "length", "numDigits", "timeout", "maxLength")
METHOD_ATTRIBUTES = ("method", "waitUrlMethod")


def _attribute_problem(element: ET.Element) -> str | None:
    """What is wrong with a verb's attributes, checked before the document runs."""
    for name in WHOLE_NUMBER_ATTRIBUTES:
        raw = element.get(name)
        if raw is not None and raw.strip() and not raw.strip().isdigit():
            return f'<{element.tag} {name}="{raw}">: not a whole number'
    for name in METHOD_ATTRIBUTES:
        raw = element.get(name)
        if raw is not None and raw.strip().upper() not in ("GET", "POST"):
            return f'<{element.tag} {name}="{raw}">: use GET or POST'
    return None


@dataclass
class _Fetch:
    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Document:
    url: str
    verbs: list[ET.Element]


class _CallOver(Exception):
    def __init__(self, how: str, reason: str | None = None) -> None:
        self.how = how  # app, caller, rejected
        self.reason = reason


class _Leave(Exception):
    """<Leave> in a waitUrl document."""


@dataclass
class _Queue:
    name: str
    sid: str
    position: int
    queue_time: int = 0
    cycle: int = 0


class Call:
    """One simulated inbound call to a TwiML webhook.

    ``url`` is the number's voice URL. With ``auth_token`` every request carries a valid
    ``X-Twilio-Signature``. ``max_requests_without_input`` bounds consecutive requests with
    no caller input in between (Twilio-side loops: redirect chains, empty waitUrls).

    ``status_callback``: when the call ends, however it ends, Twilio's call status callback is
    sent there (``CallStatus``, ``CallDuration`` in simulated seconds, ``Timestamp``,
    ``CallbackSource``, ``SequenceNumber``); a failure is a warning in ``record.warnings``,
    never an application error. ``handler_seconds``: how long a bridged queue conversation
    lasts before the handler hangs up.
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
        queue_position: int = 3,
        avg_queue_time: int = 60,
        max_queue_size: int = 1000,
        speech_confidence: float = 0.92,
        play_seconds: float = 10.0,
        handler_seconds: float = 60.0,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
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
        self.queue_position = queue_position
        self.avg_queue_time = avg_queue_time
        self.max_queue_size = max_queue_size
        self.speech_confidence = speech_confidence
        self.play_seconds = play_seconds
        self.handler_seconds = handler_seconds
        self.status_callback = urljoin(url, status_callback) if status_callback else None
        self.status_callback_method = status_callback_method.upper()
        self.on_event = on_event
        self.record = CallRecord(
            call_sid=call_sid or new_sid("CA"), account_sid=account_sid or new_sid("AC")
        )
        self.clock = 0.0
        self._status = "ringing"
        self._answered = False  # Twilio picks up on the first verb other than <Reject>
        self._rejected: str | None = None
        self._since_input: deque[str] = deque()
        self._heard: list[str] = []
        self._queue: tuple[str, str] | None = None
        self._dialled: tuple[tuple[str, ...], str] | None = None
        self._queue_sids: dict[str, str] = {}

    # -- the call ---------------------------------------------------------------------------

    def run(self) -> CallRecord:
        """Place the call and play it to the end; never raises an ApplicationError."""
        fetch: _Fetch | None = _Fetch(self.url, self.method)
        try:
            while fetch is not None:
                document = self._fetch(fetch)
                fetch = self._run_verbs(document, None)
            self._emit("hangup", detail={"by": "app", "why": "end of document"})
            self._finish("app", "end of document")
        except _CallOver as over:
            self._finish(over.how, over.reason)
        except ApplicationError as error:
            self._emit(
                "error",
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
            self._answered = True  # Twilio answers to say the application error
            self.clock += speaking_time(APPLICATION_ERROR_SPEECH)
            self._finish("error", error=error)
        if self.status_callback:
            self._post_status()
        return self.record

    def final_status(self) -> str:
        """Twilio's CallStatus once the call is over: <Reject> before answering leaves the
        call unanswered (busy, or no-answer for reason="rejected"); anything else answered it."""
        if self._rejected and not self._answered:
            return "busy" if self._rejected == "busy" else "no-answer"
        return "completed"

    def duration(self) -> int:
        """CallDuration: whole simulated seconds from answer to hang-up, rounded up."""
        return math.ceil(self.clock) if self._answered else 0

    def _post_status(self) -> None:
        """Twilio's status callback: not TwiML, so its answer is never run; a failure is
        only a debugger warning at Twilio, and the caller hears nothing of it."""
        assert self.status_callback is not None
        status = self.final_status()
        self._status = status
        params = {
            "CallDuration": str(self.duration()),
            "Timestamp": format_datetime(datetime.now(UTC)),
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }
        fetch = _Fetch(self.status_callback, self.status_callback_method, params)
        problem: str | None = None
        try:
            url, response = self._send(fetch, guarded=False)
        except TransportError as exc:
            url, response = fetch.url, None
            problem = f"status callback {fetch.url} failed: {exc.message}"
        else:
            if not 200 <= response.status < 300:
                problem = f"status callback {url} answered HTTP {response.status}"
        if problem:
            self.record.warnings.append(problem)
        self._emit(
            "status-callback",
            url=url,
            method=fetch.method,
            result=status,
            status=None if response is None else response.status,
            seconds=float(params["CallDuration"]),
            detail={"warning": problem} if problem else {},
        )

    def _finish(self, how: str, reason: str | None = None, error: ApplicationError | None = None):
        self._status = "completed"
        queue, queue_result = self._queue or (None, None)
        dialled, dial_status = self._dialled or ((), None)
        if how == "error":
            kind = "error"
        elif how == "rejected":
            kind = "rejected"
        elif queue_result in ("bridged", "hangup"):
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

    def _emit(self, kind: str, **fields: object) -> CallEvent:
        event = CallEvent(kind, round(self.clock, 1), **fields)  # type: ignore[arg-type]
        self.record.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _caller_acted(self) -> None:
        self._since_input.clear()
        self._heard = []

    # -- requests ---------------------------------------------------------------------------

    def base_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every voice webhook request."""
        params = {
            "CallSid": self.record.call_sid,
            "AccountSid": self.record.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "Caller": self.from_number,
            "Called": self.to_number,
            "CallStatus": self._status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        for role, number in (("From", self.from_number), ("To", self.to_number)):
            country = _country(number)
            if country:
                params[f"{role}Country"] = country
                params[f"{'Caller' if role == 'From' else 'Called'}Country"] = country
        return params

    def _send(self, fetch: _Fetch, *, guarded: bool = True) -> tuple[str, Response]:
        if guarded:
            self._since_input.append(fetch.url)
        if len(self._since_input) > self.max_requests_without_input:
            urls = list(self._since_input)
            raise RedirectLoopError(
                f"{len(urls)} requests in a row without any caller input (a redirect loop?)",
                url=fetch.url,
                urls=urls,
            )
        params = self.base_params() | fetch.params
        method = fetch.method
        url = fetch.url
        if method == "GET":
            # Twilio appends the parameters to the query string and signs the whole URL.
            url = url + ("&" if "?" in url else "?") + urlencode(params)
            body: dict[str, str] = {}
        else:
            body = params
        headers = {"User-Agent": "TwilioProxy/1.1 (ivr101 caller simulator)"}
        if self.validator is not None:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(url, body)
        try:
            response = self.transport.request(method, url, body, headers)
        except TransportFailure as exc:
            self.record.requests.append(SentRequest(method, url, params, headers))
            self._emit("request", url=url, method=method, params=params)
            raise TransportError(f"could not reach the webhook: {exc}", url=url) from exc
        self.record.requests.append(
            SentRequest(
                method, url, params, headers, response.status, response.content_type, response.body
            )
        )
        self._emit(
            "request",
            url=url,
            method=method,
            params=params,
            status=response.status,
            detail={"content_type": response.content_type},
        )
        if self._status == "ringing":
            self._status = "in-progress"
        return url, response

    def _check_status(self, url: str, response: Response) -> None:
        if not 200 <= response.status < 300:
            raise HTTPStatusError(
                f"the webhook answered HTTP {response.status}",
                url=url,
                status=response.status,
                content_type=response.content_type,
                body=response.text,
            )

    def _fetch(self, fetch: _Fetch, *, wait: bool = False) -> _Document:
        url, response = self._send(fetch)
        self._check_status(url, response)
        doc_url = fetch.url  # relative URLs resolve against the URL without Twilio's query
        mimetype = response.mimetype
        context = {"url": url, "status": response.status, "content_type": response.content_type}
        if mimetype == "text/plain":
            # Twilio reads a plain-text answer out loud, then hangs up.
            say = ET.Element("Say")
            say.text = response.text
            return _Document(doc_url, [say, ET.Element("Hangup")])
        if mimetype.startswith("audio/"):
            play = ET.Element("Play")
            play.text = fetch.url
            return _Document(doc_url, [play, ET.Element("Hangup")])
        if mimetype not in TWIML_TYPES:
            raise ContentTypeError(
                f"content type {mimetype or '(none)'!r} is not TwiML "
                "(Twilio accepts text/xml, application/xml, text/html)",
                body=response.text,
                **context,  # type: ignore[arg-type]
            )
        try:
            root = _parse(response.body)
        except ET.ParseError as exc:
            raise TwiMLParseError(
                f"the document is not well-formed XML: {exc}",
                body=response.text,
                **context,  # type: ignore[arg-type]
            ) from exc
        self._validate(root, url, response, wait=wait)
        return _Document(doc_url, list(root))

    def _validate(self, root: ET.Element, url: str, response: Response, *, wait: bool) -> None:
        """Refuse the whole document as Twilio does, before running any of it."""

        def fail(message: str, element: str | None) -> TwiMLSchemaError:
            return TwiMLSchemaError(
                message,
                url=url,
                element=element,
                status=response.status,
                content_type=response.content_type,
                body=response.text,
            )

        if root.tag != "Response":
            raise fail(f"the root element is <{root.tag}>, not <Response>", root.tag)
        for verb in root:
            tag = verb.tag
            if not isinstance(tag, str):
                continue
            if tag not in SIMULATED and tag not in NOT_SIMULATED:
                hint = ""
                for known in SIMULATED | NOT_SIMULATED:
                    if known.lower() == tag.lower():
                        hint = f" (verbs are case-sensitive: <{known}>)"
                raise fail(f"unknown verb <{tag}>{hint}", tag)
            if wait and tag not in WAIT_VERBS:
                raise fail(
                    f"<{tag}> is not allowed in a waitUrl document "
                    "(Twilio allows Play, Say, Pause, Hangup, Redirect, Leave, Gather)",
                    tag,
                )
            children = [c for c in verb if isinstance(c.tag, str)]
            if tag == "Gather":
                for child in children:
                    if child.tag not in GATHER_NESTABLE:
                        raise fail(
                            f"<{child.tag}> cannot be nested in <Gather> "
                            "(only Say, Play and Pause can)",
                            child.tag,
                        )
                    if child.tag != "Say" and list(child):
                        raise fail(f"<{child.tag}> cannot contain elements", child.tag)
            elif tag == "Dial":
                for child in children:
                    if child.tag not in DIAL_NOUNS:
                        raise fail(f"<{child.tag}> cannot be nested in <Dial>", child.tag)
            elif tag == "Enqueue":
                for child in children:
                    if child.tag != "Task":
                        raise fail(f"<{child.tag}> cannot be nested in <Enqueue>", child.tag)
            elif tag == "Say":
                for child in verb.iter():
                    if child is not verb and child.tag in SIMULATED | NOT_SIMULATED:
                        raise fail(f"<{child.tag}> cannot be nested in <Say>", child.tag)
            elif tag in LEAF_VERBS and children:
                raise fail(f"<{children[0].tag}> cannot be nested in <{tag}>", children[0].tag)
            if tag in SIMULATED:
                for element in [verb, *(c for c in children if c.tag in SIMULATED)]:
                    problem = _attribute_problem(element)
                    if problem:
                        raise fail(problem, element.tag)

    # -- attributes -------------------------------------------------------------------------

    def _schema(self, message: str, url: str, element: str) -> TwiMLSchemaError:
        return TwiMLSchemaError(message, url=url, element=element)

    def _int(self, el: ET.Element, name: str, default: int | None, url: str) -> int | None:
        raw = el.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._schema(
                f'<{el.tag} {name}="{raw}">: not a whole number', url, el.tag
            ) from None
        if value < 0:
            raise self._schema(f'<{el.tag} {name}="{raw}">: must not be negative', url, el.tag)
        return value

    def _method(self, el: ET.Element, name: str, url: str) -> str:
        raw = (el.get(name) or "POST").strip().upper()
        if raw not in ("GET", "POST"):
            raise self._schema(f'<{el.tag} {name}="{el.get(name)}">: use GET or POST', url, el.tag)
        return raw

    @staticmethod
    def _bool(el: ET.Element, name: str, default: bool) -> bool:
        raw = el.get(name)
        return default if raw is None else raw.strip().lower() == "true"

    @staticmethod
    def _text(el: ET.Element) -> str:
        return " ".join("".join(el.itertext()).split())

    # -- verbs ------------------------------------------------------------------------------

    def _run_verbs(self, document: _Document, queue: _Queue | None) -> _Fetch | None:
        """Run the verbs in order; return the next document to fetch, or None at the end."""
        for verb in document.verbs:
            if not isinstance(verb.tag, str):
                continue
            if verb.tag != "Reject":
                self._answered = True
            handler = getattr(self, f"_verb_{verb.tag.lower()}", None)
            if handler is None:
                self._emit("unsupported", text=verb.tag, detail={"note": "not simulated, skipped"})
                continue
            next_fetch = handler(verb, document.url, queue)
            if next_fetch is not None:
                return next_fetch
        return None

    def _verb_say(self, el: ET.Element, url: str, queue: _Queue | None, **extra: object) -> None:
        text = self._text(el)
        loop = self._int(el, "loop", 1, url)
        self._emit(
            "say",
            text=text,
            voice=el.get("voice"),
            language=el.get("language"),
            loop=loop,
            **extra,  # type: ignore[arg-type]
        )
        self._heard.append(text)
        self.clock += speaking_time(text) * max(loop or 1, 1)

    def _verb_play(self, el: ET.Element, url: str, queue: _Queue | None, **extra: object) -> None:
        source = self._text(el)
        loop = self._int(el, "loop", 1, url)
        digits = el.get("digits")
        if not source and not digits:
            raise self._schema("<Play> needs a URL or digits", url, "Play")
        target = urljoin(url, source) if source else None
        self._emit("play", url=target, loop=loop, digits=digits, **extra)  # type: ignore[arg-type]
        if target:
            self._heard.append(f"[audio {target}]")
            self.clock += self.play_seconds * max(loop or 1, 1)

    def _verb_pause(self, el: ET.Element, url: str, queue: _Queue | None, **extra: object) -> None:
        length = self._int(el, "length", 1, url) or 0
        self._emit("pause", seconds=float(length), **extra)  # type: ignore[arg-type]
        self.clock += length

    def _verb_redirect(self, el: ET.Element, url: str, queue: _Queue | None) -> _Fetch:
        target = self._text(el)
        if not target:
            raise self._schema("<Redirect> needs a URL", url, "Redirect")
        method = self._method(el, "method", url)
        absolute = urljoin(url, target)
        self._emit("redirect", url=absolute, method=method)
        return _Fetch(absolute, method)

    def _verb_hangup(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        self._emit("hangup", detail={"by": "app"})
        raise _CallOver("app")

    def _verb_reject(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        reason = el.get("reason") or "rejected"
        if reason not in ("rejected", "busy"):
            raise self._schema(f'<Reject reason="{reason}">: use rejected or busy', url, "Reject")
        self._emit("reject", result=reason)
        self._rejected = reason
        raise _CallOver("rejected", reason)

    def _verb_leave(self, el: ET.Element, url: str, queue: _Queue | None) -> None:
        if queue is None:
            self._emit("unsupported", text="Leave", detail={"note": "not in a queue, ignored"})
            return
        self._emit("leave", queue=queue.name)
        raise _Leave

    def _listen(self, prompt: GatherPrompt) -> Input:
        choice = self.caller.on_gather(prompt)
        self._caller_acted()
        self._emit(
            "input",
            result=choice.kind,
            digits=choice.value if choice.kind == "dtmf" else None,
            speech=choice.value if choice.kind == "speech" else None,
            detail={"note": choice.value} if choice.kind == "hangup" and choice.value else {},
        )
        return choice

    def _verb_gather(self, el: ET.Element, url: str, queue: _Queue | None) -> _Fetch | None:
        inputs = tuple((el.get("input") or "dtmf").split())
        for kind in inputs:
            if kind not in ("dtmf", "speech"):
                raise self._schema(
                    f'<Gather input="{el.get("input")}">: use dtmf and/or speech', url, "Gather"
                )
        num_digits = self._int(el, "numDigits", None, url)
        timeout = self._int(el, "timeout", 5, url) or 0
        finish = el.get("finishOnKey", "#")
        action = urljoin(url, el.get("action")) if el.get("action") else url
        method = self._method(el, "method", url)
        on_empty = self._bool(el, "actionOnEmptyResult", False)
        for child in el:
            if isinstance(child.tag, str):
                getattr(self, f"_verb_{child.tag.lower()}")(
                    child, url, queue, detail={"in": "Gather"}
                )
        prompt = GatherPrompt(
            input=inputs,
            num_digits=num_digits,
            finish_on_key=finish,
            timeout=float(timeout),
            language=el.get("language"),
            hints=el.get("hints"),
            in_queue=queue is not None,
        )
        self._emit(
            "gather",
            url=action,
            method=method,
            seconds=float(timeout),
            detail={
                "input": " ".join(inputs),
                "numDigits": num_digits,
                "finishOnKey": finish,
                "actionOnEmptyResult": on_empty,
            },
        )
        choice = self._listen(prompt)
        params: dict[str, str] = {}
        if choice.kind == "hangup":
            raise _CallOver("caller")
        if choice.kind == "dtmf" and "dtmf" in inputs:
            keys = choice.value
            if finish and finish in keys:
                keys = keys[: keys.index(finish)]
            if num_digits:
                keys = keys[:num_digits]
            if keys:
                params["Digits"] = keys
            if not (num_digits and len(keys) >= num_digits) and not (
                finish and finish in choice.value
            ):
                self.clock += timeout  # the caller stopped pressing: Twilio waits out the timeout
        elif choice.kind == "speech" and "speech" in inputs:
            params["SpeechResult"] = choice.value
            params["Confidence"] = f"{self.speech_confidence:.2f}"
            self.clock += speaking_time(choice.value) + 1
        else:
            self.clock += timeout
        if not params and not on_empty:
            # Twilio's fall-through: no input, so on to the next verb in this document.
            return None
        return _Fetch(action, method, params)

    def _verb_record(self, el: ET.Element, url: str, queue: _Queue | None) -> _Fetch | None:
        action = urljoin(url, el.get("action")) if el.get("action") else url
        method = self._method(el, "method", url)
        timeout = self._int(el, "timeout", 5, url) or 0
        max_length = self._int(el, "maxLength", 3600, url) or 3600
        finish = el.get("finishOnKey", "1234567890*#")
        self._emit(
            "record",
            url=action,
            method=method,
            seconds=float(max_length),
            detail={"finishOnKey": finish, "playBeep": self._bool(el, "playBeep", True)},
        )
        choice = self._listen(GatherPrompt(("speech",), None, finish, float(timeout), record=True))
        if choice.kind == "hangup":
            raise _CallOver("caller")
        if choice.kind != "speech":
            # Twilio: an empty recording does not request the action; the document goes on.
            self._emit("recorded", seconds=0.0, detail={"empty": True})
            self.clock += timeout
            return None
        duration = max(1, min(max_length, round(speaking_time(choice.value))))
        sid = new_sid("RE")
        recording = (
            f"https://api.twilio.com/2010-04-01/Accounts/{self.record.account_sid}/Recordings/{sid}"
        )
        self._emit("recorded", url=recording, seconds=float(duration), speech=choice.value)
        self.clock += duration + timeout
        return _Fetch(
            action,
            method,
            {"RecordingUrl": recording, "RecordingDuration": str(duration), "RecordingSid": sid},
        )

    def _verb_dial(self, el: ET.Element, url: str, queue: _Queue | None) -> _Fetch | None:
        targets = [
            DialTarget(DIAL_NOUNS[child.tag], self._text(child))
            for child in el
            if isinstance(child.tag, str)
        ]
        bare = (el.text or "").strip()
        if bare and not targets:
            targets = [DialTarget("number", bare)]
        if not targets:
            raise self._schema("<Dial> has nothing to dial", url, "Dial")
        action = urljoin(url, el.get("action")) if el.get("action") else None
        method = self._method(el, "method", url)
        timeout = self._int(el, "timeout", 30, url)
        self._emit(
            "dial",
            targets=[{"kind": t.kind, "value": t.value} for t in targets],
            url=action,
            method=method if action else None,
            seconds=float(timeout or 0),
            detail={k: v for k, v in (("callerId", el.get("callerId")),) if v},
        )
        result = self.caller.on_dial(targets)
        self._caller_acted()
        self._emit("dial-result", result=result.status, seconds=float(result.duration))
        self._dialled = (tuple(t.value for t in targets), result.status)
        if result.status in ("completed", "answered"):
            self.clock += result.duration
        elif result.status == "no-answer":
            self.clock += timeout or 0  # it rang out
        if action is None:
            return None  # Twilio goes on with the next verb after <Dial>
        params = {"DialCallStatus": result.status, "DialCallSid": new_sid("CA")}
        if result.status in ("completed", "answered"):
            params["DialCallDuration"] = str(result.duration)
        return _Fetch(action, method, params)

    # -- queues -----------------------------------------------------------------------------

    def _queue_params(self, q: _Queue) -> dict[str, str]:
        return {
            "QueueSid": q.sid,
            "QueuePosition": str(q.position),
            "QueueTime": str(q.queue_time),
            "AvgQueueTime": str(self.avg_queue_time),
            "CurrentQueueSize": str(max(q.position, 1)),
            "MaxQueueSize": str(self.max_queue_size),
        }

    def _verb_enqueue(self, el: ET.Element, url: str, queue: _Queue | None) -> _Fetch | None:
        name = self._text(el) if not len(el) else (el.text or "").strip()
        if len(name) > 64:
            raise self._schema("a queue name is at most 64 characters", url, "Enqueue")
        action = urljoin(url, el.get("action")) if el.get("action") else None
        method = self._method(el, "method", url)
        wait_url = urljoin(url, el.get("waitUrl")) if el.get("waitUrl") else None
        wait_method = self._method(el, "waitUrlMethod", url)
        sid = self._queue_sids.setdefault(name, new_sid("QU"))
        q = _Queue(name, sid, self.queue_position)
        self._emit(
            "enqueue",
            queue=name,
            url=action,
            method=method if action else None,
            detail={"waitUrl": wait_url or HOLD_MUSIC, "waitUrlMethod": wait_method},
        )
        result: str | None = None
        hung_up_by = "caller"
        # Each waitUrl document (first, re-requested when it ends, or reached by <Redirect> or
        # a <Gather> action) is one wait cycle; before each, a handler may answer.
        next_wait: _Fetch | None = None
        while result is None:
            state = QueueState(name, sid, q.position, q.queue_time, q.position, q.cycle)
            choice = self.caller.on_queue(state)
            self._caller_acted()
            if choice in ("queue-full", "error"):
                result = choice
            elif choice == "answer":
                result = "bridged"
                # The handler talks with the caller, then hangs up; the caller is still on.
                self.clock += self.handler_seconds
            elif choice == "hangup":
                result = "hangup"
            elif choice == "wait":
                q.cycle += 1
                self._emit("queue-wait", queue=name, position=q.position, seconds=q.queue_time)
                started = self.clock
                try:
                    next_wait = self._wait_document(q, next_wait, wait_url, wait_method)
                except _Leave:
                    result = "leave"
                except _CallOver as over:
                    result, hung_up_by = "hangup", over.how
                q.queue_time += max(1, round(self.clock - started))
                q.position = max(1, q.position - 1)
            else:
                raise ValueError(f"unknown queue choice {choice!r}")
        params = {"QueueResult": result}
        if result not in ("queue-full", "error"):
            params |= {"QueueSid": sid, "QueueTime": str(q.queue_time)}
        self._emit("queue-result", queue=name, result=result, seconds=q.queue_time)
        self._queue = (name, result)
        # Bridged: Twilio requests the action once the bridged parties disconnect, with
        # QueueResult=bridged and QueueTime, and runs what it answers (or, without an action,
        # the next verb), like any other QueueResult.
        if result == "hangup":
            if action:
                self._status = "completed"
                # The caller is gone: Twilio still tells the action URL, and ignores its answer.
                sent_url, response = self._send(_Fetch(action, method, params))
                self._check_status(sent_url, response)
            raise _CallOver(hung_up_by)
        if action:
            return _Fetch(action, method, params)
        return None  # no action: on with the next verb after <Enqueue>

    def _wait_document(
        self, q: _Queue, fetch: _Fetch | None, wait_url: str | None, wait_method: str
    ) -> _Fetch | None:
        """Run one wait document; return where the next one comes from (None: the waitUrl)."""
        if wait_url is None:
            self._emit("play", url=HOLD_MUSIC, detail={"hold_music": True})
            self.clock += self.play_seconds
            return None
        if fetch is None:
            fetch = _Fetch(wait_url, wait_method)
        fetch.params = self._queue_params(q) | fetch.params
        document = self._fetch(fetch, wait=True)
        return self._run_verbs(document, q)


def simulate(
    transport: Transport,
    url: str,
    caller: Caller | None = None,
    **options: object,
) -> CallRecord:
    """Place one simulated call and return its record (see :class:`Call` for options)."""
    return Call(transport, url, caller, **options).run()  # type: ignore[arg-type]
