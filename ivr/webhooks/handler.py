"""The call-handler line: staff ring in, hear who is waiting, and take the caller at the front.

Configure a second Twilio number's voice URL as ``PUBLIC_BASE_URL/handler``. Only caller IDs in
``IVR_HANDLER_NUMBERS`` (a plain E.164 ``From``, SHAKEN/STIR-attested if
``IVR_HANDLER_REQUIRE_ATTESTATION`` says so) or a caller who keys ``IVR_HANDLER_PIN`` get past
the door; wrong PINs lock out the caller ID that keyed them (:mod:`.lockout`). Every later URL
carries a pass bound to the handler's CallSid, so no request can skip the door.

Twilio plays a ``<Dial><Queue url>`` document to the *queued caller*, not to the handler, so the
whisper to the handler (which option the caller chose, how long they have waited) is said just
before the ``<Dial>``, from Twilio's queue members and the waiting callers' queue nodes; the Queue
url tells the caller they are being put through and records the QueueTime Twilio sends.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from ..account.provision import QueueMember, QueueStatus, TwilioAccount, client_from_settings
from ..errors import IVRError
from ..events import Kind
from ..menu import Menu, MenuNode, QueueNode
from ..numbers import caller_id, mask
from ..twiml import HANDLER_LAST_RESORT, HandlerRoutes
from .form import call_sid, int_param, ivr, param, record, twiml
from .lockout import PinLockout, pin_attempts
from .roster import CallerChoices, QueueRoster
from .security import require_twilio_signature

log = logging.getLogger("ivr.handler")

bp = Blueprint("handler", __name__, url_prefix="/handler")

PIN_TRIES = 3
"""Tries per call; the lockout (:mod:`.lockout`) counts wrong PINs across calls."""
CHECK_EVERY = 20
"""Seconds between checks while all queues are empty."""
CHECK_ROUNDS = 30
"""Empty checks before the line says goodbye (about ten minutes)."""
CACHE_SECONDS = 5.0
"""How long one read of Twilio's queues is reused (many handlers, one REST call)."""


# -- state shared by the routes ------------------------------------------------------------


@dataclass
class HandlerLine:
    """What the handler routes share, kept in ``app.extensions["ivr_handler"]``."""

    account_factory: Callable[[], TwilioAccount]
    numbers: frozenset[str]
    pin: str
    secret: bytes
    lockout: PinLockout
    """Wrong PINs per caller ID (:mod:`.lockout`)."""
    roster: QueueRoster | None = None
    attested: frozenset[str] = frozenset()
    """``StirVerstat`` values that let an allow-listed number in without the PIN; empty:
    the caller ID alone does."""
    clock: Callable[[], float] = time.monotonic
    routes: HandlerRoutes = field(default_factory=HandlerRoutes)
    """The line's URLs (:mod:`ivr.twiml.routes`)."""
    _account: TwilioAccount | None = None
    _cached: tuple[float, list[QueueStatus]] | None = None

    @property
    def account(self) -> TwilioAccount:
        if self._account is None:
            self._account = self.account_factory()
        return self._account

    def queues(self, names: list[str]) -> list[QueueStatus]:
        """Live queue sizes, reused for :data:`CACHE_SECONDS`."""
        now = self.clock()
        if self._cached and now - self._cached[0] < CACHE_SECONDS:
            cached = {q.name: q for q in self._cached[1]}
            if all(n in cached for n in names):
                return [cached[n] for n in names]
        rows = self.account.queues(names)
        self._cached = (now, rows)
        return rows

    def forget(self) -> None:
        self._cached = None

    def pass_for(self, call_sid: str) -> str:
        """The token that proves this call got past the door."""
        return hmac.new(self.secret, call_sid.encode(), hashlib.sha256).hexdigest()[:24]

    def allowed(self, caller: str | None, stir_verstat: str) -> bool:
        """An allow-listed caller ID (and attested by SHAKEN/STIR, when that is required).

        ``caller`` is :func:`~ivr.numbers.caller_id`'s: only a plain E.164 ``From`` is compared,
        so ``tel:+44…``, ``client:+44…`` or ``Alice <+44…>`` never match a listed number.
        """
        if caller is None or caller not in self.numbers:
            return False
        return not self.attested or stir_verstat in self.attested


def is_open(config: Mapping[str, Any]) -> bool:
    """Whether the line can let anyone in: an allow-list of numbers or a PIN is set."""
    return bool(config["IVR_HANDLER_NUMBERS"] or config["IVR_HANDLER_PIN"])


def init_app(app: Flask, roster: QueueRoster, account: TwilioAccount | None = None) -> None:
    """Register the handler line on ``app``, with the roster in the app's recorder chain and,
    for tests, a Twilio account to use instead of one built from the settings.

    Wrong PINs are counted in the journey log's database when it is on, so that every worker
    and instance shares one count; in this process otherwise.
    """
    # Parsed and checked by ivr.settings (IVR_HANDLER_NUMBERS in E.164; the PIN's length).
    numbers = frozenset(app.config["IVR_HANDLER_NUMBERS"])
    pin = app.config["IVR_HANDLER_PIN"]
    levels = app.config["IVR_HANDLER_REQUIRE_ATTESTATION"]
    config = app.config
    journey = app.extensions["ivr"].journey

    def factory() -> TwilioAccount:
        if account is not None:
            return account
        return TwilioAccount(client_from_settings(config))

    secret = (str(config.get("TWILIO_AUTH_TOKEN") or "") + "/handler").encode()
    app.extensions["ivr_handler"] = HandlerLine(
        factory,
        numbers,
        pin,
        secret,
        PinLockout(
            pin_attempts(journey.engine, journey.ensure_schema)
            if journey is not None
            else pin_attempts(None),
            secret,
        ),
        roster,
        # Twilio's values for a verified caller ID at each level: "TN-Validation-Passed-A"
        # (https://www.twilio.com/docs/voice/trusted-calling-with-shakenstir). The -Diverted
        # and -Passthrough variants vouch for a forwarding carrier, not the caller: not enough.
        attested=frozenset(f"TN-Validation-Passed-{level}" for level in levels),
        routes=HandlerRoutes(config["IVR_URL_PREFIX"]),
    )
    app.register_blueprint(bp)
    if not is_open(config):
        log.info("handler line: no IVR_HANDLER_NUMBERS or IVR_HANDLER_PIN, so nobody gets in")
    elif numbers and levels and not pin:
        log.warning(
            "handler line: IVR_HANDLER_REQUIRE_ATTESTATION is set but IVR_HANDLER_PIN is not, "
            "so allow-listed numbers without SHAKEN/STIR attestation %s are refused",
            " or ".join(levels),
        )


def line() -> HandlerLine:
    return current_app.extensions["ivr_handler"]


def menu() -> Menu:
    return ivr().store.served.menu


# -- the routes ---------------------------------------------------------------------------------


@bp.post("")
@require_twilio_signature
def door() -> Response:
    """A call to the handler line: let in an allowed caller ID, ask others for the PIN."""
    h = line()
    raw = param(request.form, "From")
    caller = caller_id(raw)
    verstat = param(request.form, "StirVerstat")
    if h.allowed(caller, verstat):
        record(Kind.HANDLER_IN, outcome="caller-id", caller=caller)
        return board_twiml(h, 0)
    if caller in h.numbers:
        log.info(
            "handler line: %s is allowed but not attested (StirVerstat %r): PIN needed",
            mask(caller),
            verstat[:40],
        )
    if not h.pin:
        record(Kind.HANDLER_REFUSED, outcome="caller-id", caller=raw or None)
        return refuse()
    if h.lockout.locked(caller):
        record(Kind.HANDLER_REFUSED, outcome="locked", caller=raw or None)
        return refuse()
    return pin_twiml(1)


@bp.post("/pin")
@require_twilio_signature
def pin() -> Response:
    """The PIN the caller keyed."""
    h = line()
    attempt = int_param(request.args, "attempt", 1, 1, PIN_TRIES)
    digits = param(request.form, "Digits")[:32]
    raw = param(request.form, "From")
    caller = caller_id(raw)
    if not h.pin:
        record(Kind.HANDLER_REFUSED, outcome="pin", caller=raw or None)
        return refuse()
    # A PIN keyed is counted before it is compared, so that many calls keying at once cannot
    # all slip in under the limit; the right one clears the count. Silence counts for nothing.
    tries = h.lockout.attempt(caller) if digits else None
    if tries == 0 or (tries is None and h.lockout.locked(caller)):
        # Locked out (perhaps by this caller's other calls): the PIN is not even compared.
        record(Kind.HANDLER_REFUSED, outcome="locked", caller=raw or None)
        return refuse()
    if hmac.compare_digest(digits.encode(), h.pin.encode()):
        h.lockout.passed(caller)
        record(Kind.HANDLER_IN, outcome="pin", caller=raw or None)
        return board_twiml(h, 0)
    locked = tries is not None and h.lockout.wrong(caller, tries)
    if attempt < PIN_TRIES and not locked:
        return pin_twiml(attempt + 1, wrong=True)
    record(Kind.HANDLER_REFUSED, outcome="locked" if locked else "pin", caller=raw or None)
    return refuse()


@bp.post("/board")
@require_twilio_signature
def board() -> Response:
    """Read out the queues (again); also where a handler lands after a call ends."""
    h = line()
    if not _passed(h):
        return refuse()
    if request.form.get("Digits") and request.args.get("again"):
        h.forget()  # pressed to check now: no cached answer
    return board_twiml(h, int_param(request.args, "round", 0, 0, CHECK_ROUNDS))


@bp.post("/take")
@require_twilio_signature
def take() -> Response:
    """The handler pressed a queue's key: whisper who it is, then take the front caller."""
    h = line()
    if not _passed(h):
        return refuse()
    names = list(menu().queues())
    digits = param(request.form, "Digits")[:1]
    index = int(digits) - 1 if digits.isdigit() else -1
    if digits == "0" or not 0 <= index < min(len(names), 9):
        h.forget()
        return board_twiml(h, 0)
    name = names[index]
    r = VoiceResponse()
    try:
        status = h.queues([name])[0]
        front = h.account.front(status)
    except IVRError as exc:
        log.warning("handler line: cannot read queue %s from Twilio: %s", name, exc)
        front = None
        status = None
    if status is not None and front is None:
        h.forget()
        _say(r, f"Nobody is waiting in {spoken(name)} now.")
        r.redirect(h.routes.board(_pass(h)))
        return twiml(r)
    _say(r, whisper(menu(), name, front, recall(h.roster, front)))
    dial = r.dial(action=h.routes.board(_pass(h)), method="POST")
    dial.queue(name, url=h.routes.connected(_pass(h), name), method="POST")
    record(Kind.HANDLER_TAKE, detail={"queue": name, "front": front.call_sid if front else ""})
    return twiml(r)


@bp.post("/connected")
@require_twilio_signature
def connected() -> Response:
    """The ``<Queue url>``: Twilio plays this to the *queued caller* just before the bridge."""
    queue_time = int_param(request.form, "QueueTime", 0, 0, 10_000_000)
    record(
        Kind.HANDLER_BRIDGED,
        outcome="bridged",
        detail={
            "queue": request.args.get("queue", "")[:64],
            "queue_time": queue_time,
            "handler": request.form.get("DequeingCallSid", "")[:64],
        },
    )
    r = VoiceResponse()
    _say(r, "Thank you for waiting. Putting you through to a call handler now.")
    return twiml(r)


@bp.errorhandler(Exception)
def on_error(exc: Exception) -> Response | HTTPException:
    """A fault on the handler line: say so, rather than Twilio's "application error"."""
    if isinstance(exc, HTTPException):
        return exc
    log.exception("handler line: %s %s failed (call %s)", request.method, request.path, call_sid())
    return twiml(HANDLER_LAST_RESORT)


# -- TwiML -------------------------------------------------------------------------------------


def refuse() -> Response:
    r = VoiceResponse()
    _say(r, "Sorry, this line is for police call handlers only. Goodbye.")
    r.hangup()
    return twiml(r)


def pin_twiml(attempt: int, wrong: bool = False) -> Response:
    r = VoiceResponse()
    gather = r.gather(
        input="dtmf",
        finish_on_key="#",
        timeout=10,
        action=line().routes.pin(attempt),
        method="POST",
        action_on_empty_result=True,
    )
    _say(gather, ("That PIN is not right. " if wrong else "") + "Enter your PIN, then hash.")
    return twiml(r)


def board_twiml(h: HandlerLine, round_: int) -> Response:
    """The queues read out, a key per queue; or, when all are empty, wait and check again."""
    names = list(menu().queues())[:9]
    r = VoiceResponse()
    if round_ >= CHECK_ROUNDS:
        # Nobody pressed anything for a long while: a phone left off the hook.
        _say(r, "Goodbye.")
        r.hangup()
        return twiml(r)
    try:
        rows: list[QueueStatus] | None = h.queues(names)
    except IVRError as exc:
        log.warning("handler line: cannot read queues from Twilio: %s", exc)
        rows = None
    waiting = [q for q in rows or [] if q.current_size > 0]
    if rows is not None and not waiting:
        gather = r.gather(
            input="dtmf",
            num_digits=1,
            timeout=CHECK_EVERY,
            action=h.routes.board(_pass(h), again=1),
            method="POST",
        )
        _say(
            gather,
            "No callers are waiting in any queue. Stay on the line and we will check again, "
            "or press any key to check now.",
        )
        r.redirect(h.routes.board(_pass(h), round=round_ + 1))
        return twiml(r)
    gather = r.gather(
        input="dtmf", num_digits=1, timeout=8, action=h.routes.take(_pass(h)), method="POST"
    )
    if rows is None:
        _say(gather, "Sorry, the queue sizes are not available right now.")
        for i, name in enumerate(names, 1):
            _say(gather, f"For {spoken(name)}, press {i}.")
    else:
        for i, q in enumerate(rows, 1):
            if q.current_size:
                _say(
                    gather,
                    f"{spoken(q.name)}: {_callers(q.current_size)} waiting, "
                    f"{_wait(q.average_wait)} on average. To take the first, press {i}.",
                )
            else:
                _say(gather, f"{spoken(q.name)}: nobody waiting.")
    _say(gather, "To hear this again, press 0.")
    r.redirect(h.routes.board(_pass(h), round=round_ + 1))
    return twiml(r)


def recall(roster: QueueRoster | None, front: QueueMember | None) -> CallerChoices | None:
    """What the front caller chose: from the journey log, else from this process.

    One call's webhooks may be served by several workers (or instances): this process may
    have seen only some of its steps (the hold, not the choice), so the journey log, which
    every worker writes, comes first. This process's notes win only when they know more
    choices (a step the log's writer has not written yet), or the log cannot be read.
    """
    if front is None:
        return None
    local = roster.journey(front.call_sid) if roster else None
    shared = None
    log_ = ivr().journey
    if log_ is not None:
        try:
            shared = CallerChoices.from_events(log_.journey(front.call_sid))
        except IVRError as exc:
            log.warning(
                "handler line: cannot read call %s from the journey log: %s", front.call_sid, exc
            )
    known = [j for j in (shared, local) if j is not None]
    return max(known, key=lambda j: len(j.choices)) if known else None


def whisper(m: Menu, queue: str, front: QueueMember | None, journey: CallerChoices | None) -> str:
    """What the handler hears before the bridge: the caller's options and their wait."""
    words = [w for node, key in (journey.choices if journey else []) if (w := option(m, node, key))]
    if words:
        chose = "chose " + ", then ".join(words)
    elif journey and journey.queue_node in m.nodes:
        chose = "came through " + in_words(journey.queue_node)
    else:
        nodes = [
            n for n, node in m.nodes.items() if isinstance(node, QueueNode) and node.queue == queue
        ]
        chose = "came through " + " or ".join(map(in_words, nodes)) if nodes else "is waiting"
    waited = f", and has waited {_wait(front.wait)}" if front else ""
    return f"Taking the next caller from {spoken(queue)}. The caller {chose}{waited}."


def option(m: Menu, node_id: str, key: str) -> str | None:
    """An option chosen, in the caller's own words: its first speech phrase, else its target."""
    node = m.nodes.get(node_id)
    if not isinstance(node, MenuNode):
        return None
    for o in node.options:
        if o.key == key:
            if o.language is not None:
                return None  # a language choice says nothing about why they called
            phrases = m.phrases(o, m.defaults.language)
            return phrases[0] if phrases else in_words(o.goto)
    return None


def in_words(node_id: str) -> str:
    """A node in words, from its id (``notes`` are for authors and never spoken)."""
    return spoken(node_id.removesuffix("_queue"))


def spoken(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def _callers(n: int) -> str:
    return "1 caller" if n == 1 else f"{n} callers"


def _wait(seconds: int) -> str:
    if seconds < 60:
        return "less than a minute"
    minutes = (seconds + 30) // 60  # to the nearest minute, halves up
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _say(parent: Any, text: str) -> None:
    m = menu()
    parent.say(text, voice=m.defaults.voice, language=m.defaults.language)


def _pass(h: HandlerLine) -> str:
    """The pass this request's call carries on to the line's next URL."""
    return h.pass_for(call_sid())


def _passed(h: HandlerLine) -> bool:
    ok = hmac.compare_digest(request.args.get("k", ""), h.pass_for(call_sid()))
    if not ok:
        log.warning("handler line: %s without a pass (call %s); refused", request.path, call_sid())
    return ok
