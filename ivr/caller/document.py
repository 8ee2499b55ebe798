"""Reading a webhook's answer as Twilio does: TwiML, application errors and warnings.

What is TwiML, what Twilio refuses (an application error: the caller hears "an application error
has occurred"), and what it only logs as a warning before running the document anyway.

Twilio's error dictionary (https://www.twilio.com/docs/api/errors) gives each check a level.
ERROR, the call ends: 12100 (not well-formed XML), 12102 (root not <Response>), 12300 (a content
type that is not TwiML), 14206 (Enqueue waitUrlMethod). WARNING, the call goes on: 12200 (schema:
a misspelt or wrongly-cased verb, an unknown attribute, an unexpected nested element; the element
is ignored) and the attribute checks of each verb (13510 Say loop, 13610 Record method, ...; the
attribute's default is used instead).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..errors import ContentTypeError, TwiMLParseError, TwiMLRootError, TwiMLSchemaError
from .transport import Response

TWIML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})

# Verbs this interpreter runs, and verbs Twilio knows that it only notes and skips.
SIMULATED = frozenset(
    {"Say", "Play", "Pause", "Gather", "Redirect", "Hangup", "Reject", "Enqueue", "Leave"}
    | {"Dial", "Record"}
)
NOT_SIMULATED = frozenset(
    {"Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Echo", "Sms", "Message", "Siprec"}
)
VERBS = SIMULATED | NOT_SIMULATED
# Twilio's list for a waitUrl document (https://www.twilio.com/docs/voice/twiml/enqueue).
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
    "WhatsApp": "whatsapp",
}
_STATUS = {"statusCallback", "statusCallbackEvent", "statusCallbackMethod"}
_RECORDING = {"recordingStatusCallback", "recordingStatusCallbackMethod"}
_RECORDING |= {"recordingStatusCallbackEvent", "trim"}
# The attributes Twilio's schema knows (twilio-python's VoiceResponse, the TwiML reference).
ATTRIBUTES: dict[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "Say": {"voice", "loop", "language"},
        "Play": {"loop", "digits"},
        "Pause": {"length"},
        "Gather": {"input", "action", "method", "timeout", "speechTimeout", "maxSpeechTime"}
        | {"profanityFilter", "finishOnKey", "numDigits", "partialResultCallback"}
        | {"partialResultCallbackMethod", "language", "hints", "bargeIn", "debug"}
        | {"actionOnEmptyResult", "speechModel", "enhanced"},
        "Redirect": {"method"},
        "Hangup": set(),
        "Leave": set(),
        "Reject": {"reason"},
        "Record": {"action", "method", "timeout", "finishOnKey", "maxLength", "playBeep"}
        | {"transcribe", "transcribeCallback", "recordingChannels", "recordingTrack"}
        | _RECORDING,
        "Dial": {"action", "method", "timeout", "hangupOnStar", "timeLimit", "callerId"}
        | {"record", "answerOnBridge", "ringTone", "recordingTrack", "sequential", "events"}
        | {"referUrl", "referMethod", "callReason"}
        | _RECORDING,
        "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid"}
        | {"maxQueueSize"},
        "Number": {"sendDigits", "url", "method", "byoc", "machineDetection", "amdStatusCallback"}
        | {"amdStatusCallbackMethod", "machineDetectionTimeout", "callerId", "events"}
        | {"machineDetectionSpeechThreshold", "machineDetectionSpeechEndThreshold"}
        | {"machineDetectionSilenceTimeout"}
        | _STATUS,
        "Client": {"url", "method"} | _STATUS,
        "Sip": {"username", "password", "url", "method", "machineDetection"} | _STATUS,
        "Queue": {"url", "method", "reservationSid", "postWorkActivitySid"},
        "Conference": {"muted", "beep", "startConferenceOnEnter", "endConferenceOnExit"}
        | {"waitUrl", "waitMethod", "maxParticipants", "record", "region", "coach", "trim"}
        | {"eventCallbackUrl", "jitterBufferSize", "participantLabel", "participantIdentity"}
        | {"callSidToCoach", "beepOnCustomerEntrance", "recordingStatusCallback"}
        | {"recordingStatusCallbackMethod", "recordingStatusCallbackEvent"}
        | _STATUS,
        "Sim": set(),
        "Application": {"url", "method", "customerId", "copyParentTo"} | _STATUS,
        "WhatsApp": set() | _STATUS,
    }.items()
}

_WHOLE = "whole"
_METHOD = "method"
_BOOL = "bool"
_KEYS = "keys"
_KEY = "key"


@dataclass(frozen=True)
class Check:
    """One attribute check of Twilio's: its warning code and the kind of value it takes."""

    code: int
    kind: str
    default: str


# (verb, attribute): the warning Twilio logs for a bad value, and the value it uses instead.
CHECKS: dict[tuple[str, str], Check] = {
    ("Say", "loop"): Check(13510, _WHOLE, "1"),
    ("Play", "loop"): Check(13410, _WHOLE, "1"),
    ("Play", "digits"): Check(12200, "digits", ""),
    ("Pause", "length"): Check(13910, _WHOLE, "1"),
    ("Gather", "finishOnKey"): Check(13310, _KEY, "#"),
    ("Gather", "method"): Check(13312, _METHOD, "POST"),
    ("Gather", "timeout"): Check(13313, "positive", "5"),
    ("Gather", "numDigits"): Check(13314, "positive", ""),
    ("Gather", "speechTimeout"): Check(13327, "speech-timeout", ""),
    ("Gather", "bargeIn"): Check(13332, _BOOL, "true"),
    ("Gather", "input"): Check(12200, "input", "dtmf"),
    ("Gather", "partialResultCallbackMethod"): Check(12200, _METHOD, "POST"),
    ("Gather", "actionOnEmptyResult"): Check(12200, _BOOL, "false"),
    ("Record", "method"): Check(13610, _METHOD, "POST"),
    ("Record", "timeout"): Check(13611, _WHOLE, "5"),
    ("Record", "maxLength"): Check(13612, "positive", ""),
    ("Record", "finishOnKey"): Check(13613, _KEYS, "1234567890*#"),
    ("Record", "transcribe"): Check(13614, _BOOL, "false"),
    ("Record", "playBeep"): Check(13616, _BOOL, "true"),
    ("Record", "recordingStatusCallbackMethod"): Check(12200, _METHOD, "POST"),
    ("Redirect", "method"): Check(13710, _METHOD, "POST"),
    ("Reject", "reason"): Check(12200, "reason", "rejected"),
    ("Dial", "method"): Check(13210, _METHOD, "POST"),
    ("Dial", "timeout"): Check(13212, _WHOLE, "30"),
    ("Dial", "hangupOnStar"): Check(13213, _BOOL, "false"),
    ("Dial", "timeLimit"): Check(13216, "positive", "14400"),
    ("Dial", "record"): Check(13217, "record", "do-not-record"),
    ("Dial", "answerOnBridge"): Check(12200, _BOOL, "false"),
    ("Dial", "recordingStatusCallbackMethod"): Check(12200, _METHOD, "POST"),
    ("Number", "method"): Check(13221, _METHOD, "POST"),
    ("Number", "sendDigits"): Check(13222, "digits", ""),
    ("Client", "method"): Check(12200, _METHOD, "POST"),
    ("Sip", "method"): Check(12200, _METHOD, "POST"),
    ("Queue", "method"): Check(12200, _METHOD, "POST"),
    ("Enqueue", "method"): Check(12200, _METHOD, "POST"),
}
DIAL_RECORD = frozenset(
    {"true", "false", "do-not-record", "record-from-answer", "record-from-ringing"}
    | {"record-from-answer-dual", "record-from-ringing-dual"}
)


def _valid(kind: str, raw: str) -> bool:
    value = raw.strip()
    if kind == _WHOLE:
        return value.isdigit()
    if kind == "positive":
        return value.isdigit() and int(value) > 0
    if kind == _METHOD:
        return value.upper() in ("GET", "POST")
    if kind == _BOOL:
        return value.lower() in ("true", "false")
    if kind == _KEY:
        return value == "" or (len(value) == 1 and value in "0123456789*#")
    if kind == _KEYS:
        return all(k in "0123456789*#" for k in value)
    if kind == "digits":
        return all(k in "0123456789*#wW" for k in value)
    if kind == "speech-timeout":
        return value.isdigit() or value.lower() == "auto"
    if kind == "input":
        words = value.lower().split()
        return bool(words) and set(words) <= {"dtmf", "speech"}
    if kind == "reason":
        return value in ("rejected", "busy")
    if kind == "record":
        return value.lower() in DIAL_RECORD
    return True


def attribute(el: ET.Element, name: str) -> str:
    """An attribute as the verb runs with it: Twilio's default when absent or invalid."""
    check = CHECKS.get((el.tag, name))
    raw = el.get(name)
    if check is None:
        return raw or ""
    empty_ok = check.kind in (_KEY, _KEYS)
    if raw is None or (raw.strip() == "" and not empty_ok) or not _valid(check.kind, raw):
        return check.default
    return raw.strip()


def whole(el: ET.Element, name: str, default: int | None = None) -> int | None:
    value = attribute(el, name)
    return int(value) if value.isdigit() else default


def method(el: ET.Element, name: str = "method") -> str:
    return (attribute(el, name) or "POST").upper()


def flag(el: ET.Element, name: str) -> bool:
    return attribute(el, name).lower() == "true"


def text_of(el: ET.Element) -> str:
    return " ".join("".join(el.itertext()).split())


@dataclass(frozen=True)
class Notice:
    """A problem Twilio logs as a warning and carries on after."""

    code: int
    message: str
    element: str | None = None

    def __str__(self) -> str:
        return f"warning {self.code}: {self.message}"


@dataclass
class Document:
    """The verbs to run, where relative URLs resolve from, and Twilio's warnings about it."""

    url: str
    verbs: list[ET.Element]
    notices: list[Notice] = field(default_factory=list)


_PREFIX = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]")


def parse(body: bytes) -> ET.Element:
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


def _plain(text: str) -> ET.Element | None:
    """A text/plain answer that is valid TwiML (Twilio: "If the response is valid TwiML, we
    will execute the provided instructions"), or None to read it out."""
    if not text.lstrip().startswith("<"):
        return None
    try:
        root = parse(text.strip().encode())
    except ET.ParseError:
        return None
    return root if root.tag == "Response" else None


def read(doc_url: str, url: str, response: Response, *, wait: bool = False) -> Document:
    """The document in a 2xx answer, or the ApplicationError Twilio would report.

    ``doc_url`` is what relative URLs resolve against (the URL without Twilio's query for a
    GET); ``url`` the URL as requested; ``wait``: a waitUrl document (fewer verbs allowed).
    """
    mimetype = response.mimetype
    context = {
        "url": url,
        "status": response.status,
        "content_type": response.content_type,
        "body": response.text,
    }
    if mimetype == "text/plain":
        root = _plain(response.text)
        if root is None:
            # Twilio reads a plain-text answer out loud, then hangs up.
            say = ET.Element("Say")
            say.text = response.text
            return Document(doc_url, [say, ET.Element("Hangup")])
    elif mimetype.startswith("audio/"):
        play = ET.Element("Play")
        play.text = doc_url
        return Document(doc_url, [play, ET.Element("Hangup")])
    elif mimetype not in TWIML_TYPES:
        raise ContentTypeError(
            f"content type {mimetype or '(none)'!r} is not TwiML "
            "(Twilio accepts text/xml, application/xml, text/html; reads text/plain)",
            **context,  # type: ignore[arg-type]
        )
    else:
        try:
            root = parse(response.body)
        except ET.ParseError as exc:
            raise TwiMLParseError(
                f"the document is not well-formed XML: {exc}",
                **context,  # type: ignore[arg-type]
            ) from exc
    if root.tag != "Response":
        raise TwiMLRootError(
            f"the root element is <{root.tag}>, not <Response>",
            element=root.tag,
            **context,  # type: ignore[arg-type]
        )
    notices: list[Notice] = []
    verbs: list[ET.Element] = []
    for verb in root:
        if not isinstance(verb.tag, str):
            continue
        if verb.tag not in VERBS:
            same = [v for v in VERBS if v.lower() == verb.tag.lower()]
            hint = f" (verbs are case-sensitive: <{same[0]}>)" if same else ""
            notices.append(Notice(12200, f"unknown verb <{verb.tag}>{hint}: ignored", verb.tag))
            continue
        if wait and verb.tag not in WAIT_VERBS:
            raise TwiMLSchemaError(
                f"<{verb.tag}> is not allowed in a waitUrl document "
                "(Twilio allows Play, Say, Pause, Hangup, Redirect, Leave, Gather)",
                element=verb.tag,
                **context,  # type: ignore[arg-type]
            )
        notices.extend(_check(verb))
        verbs.append(verb)
    return Document(doc_url, verbs, notices)


def _check(verb: ET.Element) -> list[Notice]:
    """Twilio's schema and attribute warnings for one verb and what is nested in it."""
    notices = list(_attributes(verb, inside=None))
    children = [c for c in verb if isinstance(c.tag, str)]
    if verb.tag == "Gather":
        for child in children:
            if child.tag not in GATHER_NESTABLE:
                notices.append(
                    Notice(13320, f"<{child.tag}> cannot be nested in <Gather>: ignored", child.tag)
                )
            else:
                notices.extend(_attributes(child, inside="Gather"))
    elif verb.tag == "Dial":
        for child in children:
            if child.tag not in DIAL_NOUNS:
                notices.append(
                    Notice(13215, f"<{child.tag}> cannot be nested in <Dial>: ignored", child.tag)
                )
            else:
                notices.extend(_attributes(child, inside="Dial"))
    elif verb.tag == "Enqueue":
        for child in children:
            if child.tag != "Task":
                message = f"<{child.tag}> cannot be nested in <Enqueue>: ignored"
                notices.append(Notice(12200, message, child.tag))
    elif verb.tag == "Say":
        for child in verb.iter():
            if child is not verb and child.tag in VERBS:
                message = f"<{child.tag}> cannot be nested in <Say>: read as text"
                notices.append(Notice(12200, message, child.tag))
        if not text_of(verb):
            notices.append(Notice(13520, "<Say> has no text: nothing is said", "Say"))
    elif verb.tag not in ("Connect", "Start", "Stop", "Pay", "Prompt", "Refer"):
        # <Hangup> and <Reject> may carry <Parameter>s (custom parameters for the SDKs).
        allowed = {"Parameter"} if verb.tag in ("Hangup", "Reject") else set()
        stray = [c for c in children if c.tag not in allowed]
        if stray:
            message = f"<{stray[0].tag}> cannot be nested in <{verb.tag}>: ignored"
            notices.append(Notice(12200, message, stray[0].tag))
    return notices


def _attributes(el: ET.Element, inside: str | None) -> list[Notice]:
    notices: list[Notice] = []
    known = ATTRIBUTES.get(el.tag)
    where = f"<{inside}><{el.tag}>" if inside else f"<{el.tag}>"
    for name, raw in el.attrib.items():
        if known is not None and name not in known and not name.startswith("{"):
            notices.append(Notice(12200, f"{where}: unknown attribute {name!r}: ignored", el.tag))
            continue
        check = CHECKS.get((el.tag, name))
        if check is None or _valid(check.kind, raw):
            continue
        code = check.code
        if inside == "Gather" and (el.tag, name) == ("Say", "loop"):
            code = 13322  # Twilio's own code for a Say nested in a Gather
        default = f'Twilio uses "{check.default}"' if check.default else "Twilio ignores it"
        notices.append(Notice(code, f'{where} {name}="{raw}" is not valid: {default}', el.tag))
    return notices
