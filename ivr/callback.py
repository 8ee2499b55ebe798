"""The callback offer: while a caller holds, "press 1 to be called back instead".

Pure TwiML, no Flask. Everything here runs inside Twilio's waitUrl, where only Play, Say, Pause,
Gather, Redirect, Leave and Hangup are allowed, so every step either gathers, goes back to the
hold loop (Redirect to the waitUrl) or leaves the queue (``<Leave>``: Twilio then requests the
``<Enqueue action>`` with ``QueueResult=leave`` and the menu goes on to the queue's ``on_leave``).

The steps, each a POST to ``/queue/<node>/callback/<step>``:

``offer``   the caller pressed a key during hold: 1 asks for the number, anything else holds on;
``confirm`` 1 takes the caller's own number, 2 asks for another;
``number``  a keyed number: a valid UK number is confirmed, else asked again (3 tries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import phonenumbers
from twilio.twiml.voice_response import Gather, VoiceResponse

from .menu import Menu, QueueNode, to_e164

if TYPE_CHECKING:  # twiml imports this module
    from .twiml import Routes

ATTEMPTS = 3


@dataclass(frozen=True)
class CallbackStep:
    """What to answer, and whether a callback is now requested (``number`` set)."""

    twiml: str
    outcome: str
    """offered, declined, confirm, enter, invalid, requested, gave-up."""
    number: str | None = None


def offered(node: QueueNode, position: int, avg_wait: int) -> bool:
    """Whether to offer a callback to a caller at ``position`` with Twilio's ``avg_wait``."""
    offer = node.callback
    if offer is None:
        return False
    if offer.after_position is None and offer.after_wait is None:
        return True
    return (offer.after_position is not None and position >= offer.after_position) or (
        offer.after_wait is not None and avg_wait >= offer.after_wait
    )


def uk_number(number: str | None) -> str | None:
    """``number`` in E.164 if it is a valid UK number we can ring, else None."""
    if not number:
        return None
    try:
        e164 = to_e164(number, "GB")
    except ValueError:
        return None
    parsed = phonenumbers.parse(e164)
    if parsed.country_code != 44:
        return None
    kind = phonenumbers.number_type(parsed)
    # Premium rate and shared-cost numbers are not for calling people back.
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.UAN):
        return None
    return e164


def spoken(number: str) -> str:
    """A UK number the way a person reads it back: ``0 7 9 1 1, 1 2 3 4 5 6``."""
    national = phonenumbers.format_number(
        phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    return ", ".join(" ".join(group) for group in national.split())


class CallbackFlow:
    """Renders the callback offer's TwiML for one menu."""

    def __init__(self, menu: Menu, routes: Routes) -> None:
        self.menu = menu
        self.routes = routes

    def _say(self, parent: VoiceResponse | Gather, name: str, language: str, **values: str) -> None:
        text = self.menu.phrase(name, language)
        parent.say(
            text.format(**values) if values else text,
            voice=self.menu.voice(language),
            language=language,
        )

    def offer(self, node_id: str, language: str, cycle: int, position: int, wait: int) -> Gather:
        """The Gather that hold content goes inside, so 1 can be pressed at any moment."""
        gather = Gather(
            input="dtmf",
            num_digits=1,
            timeout=1,
            finish_on_key="",
            action=self.routes.queue_callback(node_id, language, "offer", cycle, position, wait),
            method="POST",
        )
        self._say(gather, "callback_offer", language)
        return gather

    def _hold_on(
        self, r: VoiceResponse, node_id: str, language: str, cycle: int, say: bool = True
    ) -> str:
        if say:
            self._say(r, "callback_back_to_queue", language)
        r.redirect(self.routes.queue_wait(node_id, language, cycle + 1), method="POST")
        return str(r)

    def _ask_number(
        self,
        r: VoiceResponse,
        node_id: str,
        language: str,
        state: tuple[int, int, int],
        attempt: int,
    ) -> str:
        cycle, position, wait = state
        url = self.routes.queue_callback(
            node_id, language, "number", cycle, position, wait, attempt
        )
        gather = Gather(
            input="dtmf", num_digits=13, timeout=10, finish_on_key="#", action=url, method="POST"
        )
        self._say(gather, "callback_enter", language)
        r.append(gather)
        # Silence: Twilio falls through to here; the number step treats it as invalid.
        r.redirect(url, method="POST")
        return str(r)

    def _confirmed(self, number: str, language: str) -> CallbackStep:
        r = VoiceResponse()
        self._say(r, "callback_confirmed", language, number=spoken(number))
        r.leave()
        return CallbackStep(str(r), "requested", number)

    def step(
        self,
        node_id: str,
        language: str,
        step: str,
        digits: str,
        caller: str | None,
        cycle: int,
        position: int,
        wait: int,
        attempt: int = 1,
    ) -> CallbackStep:
        """The answer to one step of the offer (see the module docstring)."""
        r = VoiceResponse()
        state = (cycle, position, wait)
        digits = (digits or "").strip()
        if step == "offer":
            if digits != "1":
                return CallbackStep(
                    self._hold_on(r, node_id, language, cycle, say=bool(digits)), "declined"
                )
            own = uk_number(caller)
            if own is None:
                # Withheld, international or not callable: ask for a number straight away.
                return CallbackStep(self._ask_number(r, node_id, language, state, 1), "enter")
            url = self.routes.queue_callback(node_id, language, "confirm", *state)
            gather = Gather(
                input="dtmf", num_digits=1, timeout=8, finish_on_key="", action=url, method="POST"
            )
            self._say(gather, "callback_number", language, last=" ".join(own[-3:]))
            r.append(gather)
            return CallbackStep(self._hold_on(r, node_id, language, cycle), "offered")
        if step == "confirm":
            own = uk_number(caller)
            if digits == "1" and own is not None:
                return self._confirmed(own, language)
            if digits == "2" or own is None:
                return CallbackStep(self._ask_number(r, node_id, language, state, 1), "enter")
            return CallbackStep(self._hold_on(r, node_id, language, cycle), "declined")
        if step == "number":
            number = uk_number(digits)
            if number is not None:
                return self._confirmed(number, language)
            self._say(r, "callback_invalid", language)
            if attempt >= ATTEMPTS:
                return CallbackStep(self._hold_on(r, node_id, language, cycle), "gave-up")
            return CallbackStep(
                self._ask_number(r, node_id, language, state, attempt + 1), "invalid"
            )
        return CallbackStep(self._hold_on(r, node_id, language, cycle, say=False), "declined")
