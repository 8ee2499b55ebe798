"""The caller's webhooks: read Twilio's form, ask the menu model, answer TwiML. Thin."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from .callback import CallbackFlow, offered
from .errors import IVRError
from .events import Event, mask_number
from .menu import Menu, MenuNode, QueueNode, Step, TransferNode
from .security import require_twilio_signature
from .store import Served
from .twiml import DIAL_CONNECTED, HANGUP, QUEUE_ENDED, queue_step, transfer_step

log = logging.getLogger("ivr.voice")

bp = Blueprint("voice", __name__)


def _last_resort() -> str:
    """The answer when even the menu's own apology cannot be rendered."""
    r = VoiceResponse()
    r.say(
        "Sorry, we are having a technical problem. If this is an emergency, hang up and dial "
        "999. Otherwise, please call 101 again in a few minutes.",
        voice="Polly.Amy",
        language="en-GB",
    )
    r.hangup()
    return str(r)


LAST_RESORT = _last_resort()


class UrlRoutes:
    """The webhook URLs that carry a call's state: node, attempt, language, hold cycle."""

    def __init__(self, default_language: str, prefix: str = "") -> None:
        self.default_language = default_language
        # Where the app lives under the public host (PUBLIC_BASE_URL's path), e.g. "/ivr".
        self.prefix = prefix

    def _q(self, language: str, **params: int) -> str:
        pairs = [f"{k}={v}" for k, v in params.items()]
        if language != self.default_language:
            pairs.append(f"lang={quote(language)}")
        return ("?" + "&".join(pairs)) if pairs else ""

    def node(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/node/{node_id}{self._q(language)}"

    def choose(self, node_id: str, attempt: int, language: str) -> str:
        return f"{self.prefix}/menu/{node_id}{self._q(language, attempt=attempt)}"

    def queue_wait(self, node_id: str, language: str, cycle: int) -> str:
        # Quoted: a caller held for a queue node gone in an edit keeps the id the URL had.
        node = quote(node_id, safe="")
        return f"{self.prefix}/queue/{node}/wait{self._q(language, cycle=cycle)}"

    def queue_result(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/queue/{node_id}/result{self._q(language)}"

    def transfer_result(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/transfer/{node_id}/result{self._q(language)}"

    def recover(self, node_id: str, language: str) -> str:
        return f"{self.prefix}/node/{node_id}{self._q(language, recover=1)}"

    def announcement(self, language: str) -> str:
        return f"{self.prefix}/announcement{self._q(language)}"

    def queue_callback(
        self,
        node_id: str,
        language: str,
        step: str,
        cycle: int,
        position: int,
        wait: int,
        attempt: int = 1,
    ) -> str:
        q = self._q(language, cycle=cycle, position=position, wait=wait, attempt=attempt)
        return f"{self.prefix}/queue/{node_id}/callback/{step}{q}"


def served() -> Served:
    return current_app.extensions["ivr"].store.served


def now() -> dt.datetime:
    """The time of this request, from the app's clock (tests fix it)."""
    return current_app.config["IVR_CLOCK"]()


def record(event: Event) -> None:
    current_app.extensions["ivr"].recorder.record(event)


# The full header, so no request works out "text/xml; charset=utf-8" from the mimetype again.
TWIML_TYPE = "text/xml; charset=utf-8"


def twiml(body: str) -> Response:
    return current_app.response_class(body, content_type=TWIML_TYPE)


def param(source: Mapping[str, str], name: str, default: str = "") -> str:
    """``source.get(name, default)``; werkzeug's ``get`` builds an HTTP error for every
    missing name before returning the default, which is most of the cost of a webhook's
    optional parameters (``lang``, ``SpeechResult``)."""
    return source[name] if name in source else default


def call_sid() -> str:
    return param(request.form, "CallSid")[:64]


def language(menu: Menu) -> str:
    return menu.language(param(request.args, "lang") or None)


def int_param(source: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer from the query or form, clamped; anything unusable is the default."""
    if name not in source:
        return default
    try:
        return min(max(int(source[name]), low), high)
    except (TypeError, ValueError):
        return default


def speech_confidence(raw: str) -> float | None:
    """Twilio's ``Confidence`` (0 to 1) for a spoken answer; None when absent or nonsense."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return round(value, 3) if 0.0 <= value <= 1.0 else None


def moved(s: Served, node_id: str, lang: str) -> Response:
    """The caller's node is gone (the menu was edited mid-call): start again, with a word."""
    log.warning("call %s: node %r is not in the menu; back to the start", call_sid(), node_id)
    record(Event(call_sid(), "moved", node=node_id[:64], outcome="moved", language=lang))
    return twiml(s.renderer.step(s.menu.start, lang, 1, "moved"))


@bp.post("/voice")
@require_twilio_signature
def voice() -> Response:
    """Answer a new call with the start node."""
    s = served()
    lang = s.menu.defaults.language
    record(
        Event(
            call_sid(),
            "call-start",
            node=s.menu.start,
            language=lang,
            caller=request.form.get("From") or None,
            detail={"to": request.form.get("To", "")[:32]},
        )
    )
    active = s.menu.active_announcements(now())
    if active:
        return twiml(s.renderer.announcements(active, lang))
    return twiml(s.renderer.step(s.menu.start, lang))


@bp.post("/announcement")
@require_twilio_signature
def announcement() -> Response:
    """A key pressed during the start-of-call announcements: its node, or the start."""
    s = served()
    menu = s.menu
    lang = language(menu)
    digits = request.form.get("Digits", "")[:32]
    found = menu.announcement_for_key(digits, now())
    step = None
    if found is not None and found.goto is not None:
        step = Step(found.goto, lang, outcome="announcement", key=digits[:1])
    elif isinstance(menu.nodes.get(menu.start), MenuNode):
        # A caller who knows the menu pressed ahead, e.g. 1 for English: take it as the
        # answer to the start menu when it is one of its options.
        if menu.match(menu.node(menu.start), digits, "", lang).option is not None:
            step = menu.choose(menu.start, digits, "", 1, lang)
    if step is None:
        step = Step(menu.start, lang, outcome="start", key=digits[:1] or None)
    record(
        Event(
            call_sid(),
            "announcement",
            node=step.node,
            language=step.language,
            key=step.key,
            outcome=step.outcome,
            detail={"announcement": found.name} if found is not None else {},
        )
    )
    return twiml(s.renderer.render(step, came_from=menu.start))


@bp.post("/node/<node_id>")
@require_twilio_signature
def node(node_id: str) -> Response:
    """Arrive at a node (after a message, an apology or a redirect)."""
    s = served()
    lang = language(s.menu)
    if node_id not in s.menu.nodes:
        return moved(s, node_id, lang)
    kind = s.menu.node(node_id).kind
    if kind == "hours":
        at = now()
        step = s.menu.route_hours(node_id, lang, at)
        detail = {"next": step.node}
        record(
            Event(
                call_sid(), kind, node=node_id, language=lang, outcome=step.outcome, detail=detail
            )
        )
        # The node the caller hears is rendered in the same answer: it arrives there too.
        target, messages = s.menu.resolve(node_id, lang, at)
        record(Event(call_sid(), s.menu.node(target).kind, node=target, language=lang))
        return twiml(s.renderer.arrive(target, lang, messages))
    record(Event(call_sid(), kind, node=node_id, language=lang))
    return twiml(s.renderer.step(node_id, lang))


@bp.post("/menu/<node_id>")
@require_twilio_signature
def choose(node_id: str) -> Response:
    """A caller answered a menu: a key, words, or silence (Twilio's fall-through)."""
    s = served()
    lang = language(s.menu)
    if not isinstance(s.menu.nodes.get(node_id), MenuNode):
        return moved(s, node_id, lang)
    attempt = int_param(request.args, "attempt", 1, 1, 10)
    digits = param(request.form, "Digits")[:32]
    speech = param(request.form, "SpeechResult")[:500]
    step = s.menu.choose(node_id, digits, speech, attempt, lang)
    detail: dict[str, object] = {"attempt": attempt, "next": step.node}
    confidence = step.confidence
    if speech and not digits.strip():
        # Twilio's own recogniser confidence is the caller's; our phrase match is kept beside it.
        detail["match"] = step.confidence
        confidence = speech_confidence(param(request.form, "Confidence")) or confidence
    record(
        Event(
            call_sid(),
            "choice",
            node=node_id,
            language=step.language,
            key=step.key,
            option=step.node if step.outcome == "option" else None,
            confidence=confidence,
            outcome=step.outcome,
            detail=detail,
        )
    )
    return twiml(s.renderer.render(step, came_from=node_id))


@bp.post("/queue/<node_id>/wait")
@require_twilio_signature
def queue_wait(node_id: str) -> Response:
    """Twilio's waitUrl: what a queued caller hears, cycle after cycle."""
    s = served()
    lang = language(s.menu)
    cycle = int_param(request.args, "cycle", 0, 0, 1_000_000)
    position = int_param(request.form, "QueuePosition", 0, 0, 100_000)
    avg_wait = int_param(request.form, "AvgQueueTime", 0, 0, 10_000_000)
    if not isinstance(s.menu.nodes.get(node_id), QueueNode):
        # The node went in an edit while the caller waits: they stay in Twilio's queue.
        log.warning("call %s: queue node %r is gone; plain hold", call_sid(), node_id)
        return twiml(s.renderer.plain_hold(node_id[:64], lang, cycle))
    record(
        Event(
            call_sid(),
            "queue-wait",
            node=node_id,
            language=lang,
            detail={
                "cycle": cycle,
                "position": position,
                "queue_time": int_param(request.form, "QueueTime", 0, 0, 10_000_000),
                "avg_wait": avg_wait,
            },
        )
    )
    node = s.menu.node(node_id)
    offer = current_app.extensions["ivr"].journey is not None and offered(node, position, avg_wait)
    return twiml(s.renderer.queue_wait(node_id, lang, cycle, position, avg_wait, offer))


@bp.post("/queue/<node_id>/callback/<step>")
@require_twilio_signature
def queue_callback(node_id: str, step: str) -> Response:
    """A step of the callback offer made while holding (ivr/callback.py)."""
    s = served()
    lang = language(s.menu)
    ivr = current_app.extensions["ivr"]
    cycle = int_param(request.args, "cycle", 0, 0, 1_000_000)
    position = int_param(request.args, "position", 0, 0, 100_000)
    wait = int_param(request.args, "wait", 0, 0, 10_000_000)
    attempt = int_param(request.args, "attempt", 1, 1, 10)
    node = s.menu.nodes.get(node_id)
    if not isinstance(node, QueueNode) or ivr.journey is None:
        return twiml(s.renderer.plain_hold(node_id[:64], lang, cycle))
    digits = request.form.get("Digits", "")[:16]
    flow = CallbackFlow(s.menu, s.renderer.routes)
    result = flow.step(
        node_id, lang, step, digits, request.form.get("From"), cycle, position, wait, attempt
    )
    if result.number is not None:
        try:
            ivr.journey.request_callback(
                call_sid(),
                result.number,
                queue=node.queue,
                node=node_id,
                position=position,
                wait=wait,
            )
        except IVRError:
            log.exception("call %s: callback request could not be stored", call_sid())
            return twiml(s.renderer.queue_wait(node_id, lang, cycle, position, wait))
    else:
        record(
            Event(
                call_sid(),
                "callback-offer",
                node=node_id,
                language=lang,
                # The keyed number is personal data: only whether it was valid is kept.
                key=digits[:1] if step != "number" else None,
                outcome=result.outcome,
                detail={"step": step[:16], "attempt": attempt},
            )
        )
    return twiml(result.twiml)


def _left(
    node_id: str,
    kind: str,
    node_type: type,
    result: str,
    ended: frozenset[str],
    next_step: Callable[[Menu, str, str, str], Step | None],
    detail: dict[str, int],
) -> Response:
    """A queue or transfer reported how it ended: hang up, or route on from ``node_id``."""
    s = served()
    lang = language(s.menu)
    if not isinstance(s.menu.nodes.get(node_id), node_type):
        return twiml(HANGUP) if result in ended else moved(s, node_id, lang)
    step = next_step(s.menu, node_id, lang, result)
    record(
        Event(
            call_sid(),
            kind,
            node=node_id,
            language=lang,
            outcome=result or "unknown",
            detail={**detail, "next": None if step is None else step.node},
        )
    )
    return twiml(HANGUP if step is None else s.renderer.render(step))


@bp.post("/queue/<node_id>/result")
@require_twilio_signature
def queue_result(node_id: str) -> Response:
    """``<Enqueue action>``: the caller left the queue, for whatever reason Twilio gives."""
    return _left(
        node_id,
        "queue-result",
        QueueNode,
        param(request.form, "QueueResult")[:32],
        QUEUE_ENDED,
        queue_step,
        {"queue_time": int_param(request.form, "QueueTime", 0, 0, 10_000_000)},
    )


@bp.post("/transfer/<node_id>/result")
@require_twilio_signature
def transfer_result(node_id: str) -> Response:
    """``<Dial action>``: the transfer ended; route on if it never connected."""
    return _left(
        node_id,
        "transfer-result",
        TransferNode,
        param(request.form, "DialCallStatus")[:32],
        DIAL_CONNECTED,
        transfer_step,
        {"duration": int_param(request.form, "DialCallDuration", 0, 0, 10_000_000)},
    )


@bp.post("/status")
@require_twilio_signature
def status() -> Response:
    """Twilio's call status callback: the call ended."""
    record(
        Event(
            call_sid(),
            "status",
            outcome=request.form.get("CallStatus", "")[:32] or None,
            detail={"duration": int_param(request.form, "CallDuration", 0, 0, 10_000_000)},
        )
    )
    return current_app.response_class(status=204)


@bp.post("/fallback")
@require_twilio_signature
def fallback() -> Response:
    """The number's "primary handler fails" URL: apologise, remind of 999, route on."""
    s = served()
    lang = s.menu.defaults.language
    error = request.form.get("ErrorCode", "")[:16]
    log.error(
        "call %s: Twilio used the fallback URL (ErrorCode %s, ErrorUrl %s)",
        call_sid(),
        error or "-",
        request.form.get("ErrorUrl", "-")[:300],
    )
    record(Event(call_sid(), "fallback", language=lang, outcome=error or None))
    return twiml(s.renderer.apology(lang, s.menu.defaults.error_node or s.menu.start))


@bp.errorhandler(Exception)
def on_error(exc: Exception) -> Response | HTTPException:
    """No caller ever hears Twilio's "application error": apologise and route on."""
    if isinstance(exc, HTTPException):
        return exc
    sid = call_sid()
    log.exception(
        "call %s: %s %s failed (from %s)",
        sid or "-",
        request.method,
        request.full_path,
        mask_number(request.form.get("From")),
    )
    try:
        record(
            Event(
                sid,
                "error",
                node=request.view_args.get("node_id") if request.view_args else None,
                outcome=type(exc).__name__,
            )
        )
        s = served()
        lang = language(s.menu)
        if request.args.get("recover"):
            # Already recovering from a fault: don't loop, use the fixed last resort.
            return twiml(s.renderer.last_resort)
        return twiml(s.renderer.apology(lang, s.menu.defaults.error_node or s.menu.start))
    except Exception:
        log.exception("call %s: the apology failed too", sid or "-")
        return twiml(LAST_RESORT)
