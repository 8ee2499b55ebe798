"""The caller's webhooks: read Twilio's form, ask the router, record the step, answer TwiML.

Thin on purpose: each view reads its parameters (:mod:`ivr.webhooks.form`), asks
:mod:`ivr.menu.routing` where the caller goes, records that as one event, and returns what
the renderer made of it. Where a caller goes next is never decided here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from ..errors import IVRError
from ..events import Kind
from ..menu import Menu, MenuNode, QueueNode, TransferNode, routing
from ..numbers import mask
from ..twiml import HANGUP, last_resort
from ..twiml.answers import Answer, Answers
from .form import call_sid, caller, int_param, ivr, now, param, record, served, twiml
from .security import require_twilio_signature
from .store import Served

log = logging.getLogger("ivr.voice")

bp = Blueprint("voice", __name__)


def language(menu: Menu, args: Mapping[str, str] | None = None) -> str:
    """The caller's language, from the URL (``lang``); the menu's default when absent.
    ``args``: the request's query when the view already holds it (each ``request`` costs)."""
    return menu.language(param(request.args if args is None else args, "lang") or None)


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
    answer = s.answers.moved(lang)
    next_node = s.menu.start
    record(
        Kind.MOVED, node=node_id[:64], outcome="moved", language=lang, detail={"next": next_node}
    )
    return twiml(answer.twiml)


@bp.post("/voice")
@require_twilio_signature
def voice() -> Response:
    """Answer a new call with the start node (after any announcements that are on)."""
    s, test = ivr().menus.for_new_call(caller())
    lang = s.menu.defaults.language
    detail: dict[str, object] = {"to": param(request.form, "To")[:32]}
    if test:
        detail["test"] = True  # a test caller: left out of `ivr report`
    record(Kind.CALL_START, node=s.menu.start, language=lang, caller=caller(), detail=detail)
    answer, _ = s.answers.call_start(now())
    return twiml(answer.twiml)


@bp.post("/announcement")
@require_twilio_signature
def announcement() -> Response:
    """A key pressed during the start-of-call announcements."""
    s = served()
    lang = language(s.menu)
    answer, found = s.answers.announcement(param(request.form, "Digits")[:32], lang, now())
    step = answer.step
    assert step is not None
    detail: dict[str, object] = {"next": step.node}
    if found is not None:
        detail["announcement"] = found.name
    record(
        Kind.ANNOUNCEMENT,
        node=step.node,
        language=step.language,
        key=step.key,
        outcome=step.outcome,
        detail=detail,
    )
    return twiml(answer.twiml)


@bp.post("/node/<node_id>")
@require_twilio_signature
def node(node_id: str) -> Response:
    """Arrive at a node (after a message, an apology or a redirect)."""
    s = served()
    lang = language(s.menu)
    if node_id not in s.menu.nodes:
        return moved(s, node_id, lang)
    kind = Kind.arrival(s.menu.node(node_id).kind)
    answer = s.answers.arrive(node_id, lang, now())
    step = answer.step
    if step is None:
        record(kind, node=node_id, language=lang)
        return twiml(answer.twiml)
    # An hours node: the clock decided where the caller goes.
    detail = {"next": step.node}
    if step.closure is not None:
        detail["closure"] = step.closure
    record(kind, node=node_id, language=lang, outcome=step.outcome, detail=detail)
    # The node the caller hears is rendered in the same answer: they arrive there too.
    record(Kind.arrival(s.menu.node(step.node).kind), node=step.node, language=lang)
    return twiml(answer.twiml)


@bp.post("/menu/<node_id>")
@require_twilio_signature
def choose(node_id: str) -> Response:
    """A caller answered a menu: a key, words, or silence (Twilio's fall-through)."""
    args, form = request.args, request.form  # once: the hot path of every menu answer
    s = served(args)
    lang = language(s.menu, args)
    if not isinstance(s.menu.nodes.get(node_id), MenuNode):
        return moved(s, node_id, lang)
    attempt = int_param(args, "attempt", 1, 1, 10)
    digits = param(form, "Digits")[:32]
    speech = param(form, "SpeechResult")[:500]
    answer = s.answers.choose(node_id, digits, speech, attempt, lang)
    step = answer.step
    assert step is not None
    detail: dict[str, object] = {"attempt": attempt, "next": step.node}
    confidence = step.confidence
    if speech and not digits.strip():
        # Twilio's own recogniser confidence is the caller's; our phrase match is kept beside it.
        detail["match"] = step.confidence
        detail["speech"] = speech  # kept only with IVR_STORE_SPEECH; never logged
        confidence = speech_confidence(param(form, "Confidence")) or confidence
    record(
        Kind.CHOICE,
        call=call_sid(form),
        node=node_id,
        language=step.language,
        key=step.key,
        option=step.node if step.outcome == "option" else None,
        confidence=confidence,
        outcome=step.outcome,
        detail=detail,
    )
    return twiml(answer.twiml)


@bp.post("/queue/<node_id>/wait")
@require_twilio_signature
def queue_wait(node_id: str) -> Response:
    """Twilio's waitUrl: what a queued caller hears, cycle after cycle."""
    s = served()
    lang = language(s.menu)
    cycle = int_param(request.args, "cycle", 0, 0, 1_000_000)
    position = int_param(request.form, "QueuePosition", 0, 0, 100_000)
    avg_wait = int_param(request.form, "AvgQueueTime", 0, 0, 10_000_000)
    node = s.menu.nodes.get(node_id)
    if not isinstance(node, QueueNode):
        # The node went in an edit while the caller waits: they stay in Twilio's queue.
        log.warning("call %s: queue node %r is gone; plain hold", call_sid(), node_id)
        return twiml(s.renderer.hold(node_id[:64], lang, cycle))
    record(
        Kind.QUEUE_WAIT,
        node=node_id,
        language=lang,
        detail={
            "cycle": cycle,
            "position": position,
            "queue_time": int_param(request.form, "QueueTime", 0, 0, 10_000_000),
            "avg_wait": avg_wait,
        },
    )
    # Callbacks are stored in the journey log: no log, no offer.
    offer = ivr().journey is not None and routing.offers_callback(node, position, avg_wait)
    return twiml(s.renderer.hold(node_id, lang, cycle, position, avg_wait, offer))


@bp.post("/queue/<node_id>/callback/<step>")
@require_twilio_signature
def queue_callback(node_id: str, step: str) -> Response:
    """A step of the callback offer made while holding (``offer``, ``confirm``, ``number``)."""
    s = served()
    lang = language(s.menu)
    journey = ivr().journey
    cycle = int_param(request.args, "cycle", 0, 0, 1_000_000)
    # The caller's place in line now, when Twilio says it (the caller is still queued), else
    # the one the offer was made at: a request keeps where the caller was when they confirmed.
    position = int_param(request.form, "QueuePosition", 0, 0, 100_000) or int_param(
        request.args, "position", 0, 0, 100_000
    )
    wait = int_param(request.args, "wait", 0, 0, 10_000_000)
    attempt = int_param(request.args, "attempt", 1, 1, 10)
    node = s.menu.nodes.get(node_id)
    if not isinstance(node, QueueNode) or journey is None:
        return twiml(s.renderer.hold(node_id[:64], lang, cycle))
    digits = param(request.form, "Digits")[:16]
    decision = routing.callback(step[:16], digits, caller(), attempt)
    if decision.number is not None:
        try:
            # Durable before the caller hears "we will call you back".
            journey.request_callback(
                call_sid(),
                decision.number,
                queue=node.queue,
                node=node_id,
                position=position,
                wait=wait,
            )
        except IVRError:
            # Nothing is promised that is not stored: say so, and the caller holds on.
            log.exception("call %s: callback request could not be stored", call_sid())
            decision = routing.NOT_STORED
    if decision.number is None:
        record(
            Kind.CALLBACK_OFFER,
            node=node_id,
            language=lang,
            # The keyed number is personal data: only whether it was valid is kept.
            key=digits[:1] if step != "number" else None,
            outcome=decision.outcome,
            detail={"step": step[:16], "attempt": attempt},
        )
    return twiml(s.renderer.callback(node_id, lang, decision, cycle, position, wait))


def _left(
    node_id: str,
    kind: Kind,
    node_type: type,
    result: str,
    after: Callable[[Answers, str, str, str], Answer],
    detail: dict[str, int],
) -> Response:
    """A queue or transfer reported how it ended: hang up, or route on from ``node_id``."""
    s = served()
    lang = language(s.menu)
    if not isinstance(s.menu.nodes.get(node_id), node_type):
        # Over (answered, hung up) needs no node; otherwise start again.
        ended = routing.QUEUE_ENDED | routing.DIAL_CONNECTED
        return twiml(HANGUP) if result in ended else moved(s, node_id, lang)
    answer = after(s.answers, node_id, lang, result)
    record(
        kind,
        node=node_id,
        language=lang,
        outcome=result or "unknown",
        detail={**detail, "next": None if answer.step is None else answer.step.node},
    )
    return twiml(answer.twiml)


@bp.post("/queue/<node_id>/result")
@require_twilio_signature
def queue_result(node_id: str) -> Response:
    """``<Enqueue action>``: the caller left the queue, for whatever reason Twilio gives."""
    return _left(
        node_id,
        Kind.QUEUE_RESULT,
        QueueNode,
        param(request.form, "QueueResult")[:32],
        Answers.after_queue,
        {"queue_time": int_param(request.form, "QueueTime", 0, 0, 10_000_000)},
    )


@bp.post("/transfer/<node_id>/result")
@require_twilio_signature
def transfer_result(node_id: str) -> Response:
    """``<Dial action>``: the transfer ended; route on if it never connected."""
    return _left(
        node_id,
        Kind.TRANSFER_RESULT,
        TransferNode,
        param(request.form, "DialCallStatus")[:32],
        Answers.after_transfer,
        {"duration": int_param(request.form, "DialCallDuration", 0, 0, 10_000_000)},
    )


@bp.post("/status")
@require_twilio_signature
def status() -> Response:
    """Twilio's call status callback: the call ended."""
    record(
        Kind.STATUS,
        outcome=param(request.form, "CallStatus")[:32] or None,
        detail={"duration": int_param(request.form, "CallDuration", 0, 0, 10_000_000)},
    )
    return Response(status=204)


@bp.post("/fallback")
@require_twilio_signature
def fallback() -> Response:
    """The number's "primary handler fails" URL: apologise, remind of 999, route on."""
    s = served()
    lang = s.menu.defaults.language
    error = param(request.form, "ErrorCode")[:16]
    log.error(
        "call %s: Twilio used the fallback URL (ErrorCode %s, ErrorUrl %s)",
        call_sid(),
        error or "-",
        param(request.form, "ErrorUrl", "-")[:300],
    )
    then = s.menu.defaults.error_node or s.menu.start
    record(Kind.FALLBACK, language=lang, outcome=error or None, detail={"next": then})
    return twiml(s.renderer.apology(lang, then))


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
        mask(request.form.get("From")),
    )
    try:
        record(
            Kind.ERROR,
            node=request.view_args.get("node_id") if request.view_args else None,
            outcome=type(exc).__name__,
        )
        s = served()
        then = s.menu.defaults.error_node or s.menu.start
        if request.args.get("recover"):
            # Already recovering from a fault: don't loop, use the last resort.
            return twiml(s.renderer.last_resort)
        return twiml(s.renderer.apology(language(s.menu), then))
    except Exception:
        log.exception("call %s: the apology failed too", sid or "-")
        return twiml(last_resort())
