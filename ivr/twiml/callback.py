"""The callback offer's TwiML: "press 1 to be called back instead", while a caller holds.

Rendering only: what happens at each step is decided by :func:`ivr.menu.routing.callback`.
Everything here runs inside Twilio's waitUrl, where only Play, Say, Pause, Gather, Redirect,
Leave and Hangup are allowed, so every answer either gathers, goes back to the hold loop
(Redirect to the waitUrl) or leaves the queue (``<Leave>``: Twilio then requests the
``<Enqueue action>`` with ``QueueResult=leave`` and the menu goes on to the queue's
``on_leave``).

The steps, each a POST to ``/queue/<node>/callback/<step>``: ``offer`` (a key pressed while
holding), ``confirm`` (1: the caller's own number, 2: another), ``number`` (a keyed number).
"""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from ..menu import Menu
from ..menu.routing import CallbackStep
from ..numbers import last_digits, spoken
from .routes import UrlRoutes


class CallbackRenderer:
    """Renders the callback offer's TwiML for one menu."""

    def __init__(self, menu: Menu, routes: UrlRoutes) -> None:
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

    def render(
        self,
        node_id: str,
        language: str,
        decision: CallbackStep,
        cycle: int,
        position: int,
        wait: int,
    ) -> str:
        """The answer to one step of the offer, as the router decided it."""
        r = VoiceResponse()
        for notice in decision.notices:
            self._say(r, notice, language)
        if decision.then == "confirmed":
            assert decision.number is not None
            self._say(r, "callback_confirmed", language, number=spoken(decision.number))
            r.leave()
            return str(r)
        if decision.then == "enter":
            url = self.routes.queue_callback(
                node_id, language, "number", cycle, position, wait, decision.attempt
            )
            gather = Gather(
                input="dtmf",
                num_digits=13,
                timeout=10,
                finish_on_key="#",
                action=url,
                method="POST",
            )
            self._say(gather, "callback_enter", language)
            r.append(gather)
            # Silence: Twilio falls through to here; the number step treats it as invalid.
            r.redirect(url, method="POST")
            return str(r)
        if decision.then == "confirm":
            assert decision.own is not None
            url = self.routes.queue_callback(node_id, language, "confirm", cycle, position, wait)
            gather = Gather(
                input="dtmf", num_digits=1, timeout=8, finish_on_key="", action=url, method="POST"
            )
            self._say(gather, "callback_number", language, last=last_digits(decision.own))
            r.append(gather)
            # No answer to the question: back to holding, with a word.
            self._say(r, "callback_back_to_queue", language)
        r.redirect(self.routes.queue_wait(node_id, language, cycle + 1), method="POST")
        return str(r)
