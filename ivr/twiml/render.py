"""The renderer: a step of the menu to TwiML, built only with twilio's ``VoiceResponse``.

Pure functions of the menu and the URL builder: no Flask, no routing decisions (the router in
:mod:`ivr.menu.routing` decides; this says it). Everything that does not depend on a caller's
live figures (queue position, wait) is rendered once per menu and cached, so a webhook's cost
is a dictionary look-up. One hold document (:meth:`Renderer.hold`), one last resort
(:func:`last_resort`, and the call-handler line's :data:`HANDLER_LAST_RESORT`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from twilio.twiml.voice_response import Dial, Enqueue, Gather, Hangup, VoiceResponse

from ..menu import (
    Announcement,
    HangupNode,
    Hold,
    HoursNode,
    Menu,
    MenuNode,
    MessageNode,
    QueueNode,
    Step,
    TransferNode,
)
from ..menu.routing import CallbackStep
from .callback import CallbackRenderer
from .routes import UrlRoutes

PLAIN_HOLD = Hold(messages=[], announce_position=False, reminder=None)
"""Hold for a caller whose queue node vanished in an edit: music only, round and round."""

STEP_DOCUMENTS = 4096
APOLOGY_DOCUMENTS = 256
HOLD_DOCUMENTS = 8192
START_DOCUMENTS = 64
"""How many documents of each sort a renderer keeps; a full cache starts again (the key space
of one menu is small, so only a flood of odd positions and waits ever fills one)."""


def _cached(
    cache: dict[Any, str], size: int, key: tuple[Any, ...], build: Callable[[], str]
) -> str:
    """The document under ``key``, built once; a full cache is emptied first (atomic, so
    threads that share the renderer never see it half-pruned)."""
    document = cache.get(key)
    if document is None:
        document = build()
        if len(cache) >= size:
            cache.clear()
        cache[key] = document
    return document


class Renderer:
    """Renders one menu's nodes to TwiML strings, caching all that never changes."""

    def __init__(self, menu: Menu, routes: UrlRoutes) -> None:
        self.menu = menu
        self.routes = routes
        self.callbacks = CallbackRenderer(menu, routes)
        # Plain dictionaries of strings, per instance: a reloaded menu gets fresh caches, and
        # nothing in them refers back to the renderer, so the old one is freed at once.
        self._steps: dict[Any, str] = {}
        self._apologies: dict[Any, str] = {}
        self._holds: dict[Any, str] = {}
        self._starts: dict[Any, str] = {}
        # Announcements by identity: which ones are on keys a start document.
        self._announcement_at = {id(a): i for i, a in enumerate(menu.file.announcements)}
        self.last_resort = last_resort(menu)

    # -- the cached documents: each rendered once per menu -------------------------------

    def step(
        self,
        node_id: str,
        language: str,
        attempt: int = 1,
        notice: str | None = None,
        notice_from: str | None = None,
    ) -> str:
        """TwiML for arriving at ``node_id`` after an optional notice (invalid, moved...).

        ``notice_from`` is the menu the caller was in: its own invalid/silence words win.
        """
        key = (node_id, language, attempt, notice, notice_from)
        return _cached(self._steps, STEP_DOCUMENTS, key, lambda: self._step(*key))

    def apology(self, language: str, then: str) -> str:
        """Apologise for a fault (with the 999 advice) and route on to ``then``."""
        key = (language, then)
        return _cached(self._apologies, APOLOGY_DOCUMENTS, key, lambda: self._apology(*key))

    def hold(
        self,
        node_id: str,
        language: str,
        cycle: int,
        position: int = 0,
        avg_wait: int = 0,
        offer_callback: bool = False,
    ) -> str:
        """The waitUrl document (see :meth:`_hold`). It depends on the cycle and the caller's
        figures, but callers in one queue share them (position 3 in cycle 2 sounds the same to
        everyone): rendered once."""
        key = (node_id, language, cycle, position, avg_wait, offer_callback)
        return _cached(self._holds, HOLD_DOCUMENTS, key, lambda: self._hold(*key))

    # -- building blocks ----------------------------------------------------------

    def _say(self, parent: VoiceResponse | Gather, text: str, language: str, loop: int = 1) -> None:
        kwargs: dict[str, object] = {"voice": self.menu.voice(language), "language": language}
        if loop != 1:
            kwargs["loop"] = loop
        parent.say(text, **kwargs)

    def _body(
        self,
        r: VoiceResponse,
        node_id: str,
        language: str,
        attempt: int,
        prompt: bool = True,
        after_prompt: Sequence[tuple[str, str]] = (),
    ) -> None:
        """A node's verbs. For a menu, ``prompt=False`` leaves its prompt out (already said),
        and ``after_prompt`` are (words, language) said between its prompt and its options."""
        menu = self.menu
        node = menu.node(node_id)
        say = self._say
        if isinstance(node, MenuNode):
            speech = menu.speech_enabled(node, language)
            extra: dict[str, object] = {}
            if speech:
                extra = {"language": language, "speech_timeout": menu.defaults.speech_timeout}
                hints = menu.hints(node, language)
                if hints:
                    extra["hints"] = hints
            gather = Gather(
                input="dtmf speech" if speech else "dtmf",
                action=self.routes.choose(node_id, attempt, language),
                method="POST",
                num_digits=1,
                timeout=menu.timeout(node),
                # '#' is a menu key here, not "end of input".
                finish_on_key="",
                **extra,
            )
            if node.prompt is not None and prompt:
                say(gather, menu.text(node.prompt, language), language)
            for words, spoken in after_prompt:
                say(gather, words, spoken)
            for option in menu.offered(node, language):
                # A language choice is offered in its own language: "Am Gymraeg, pwyswch 9".
                spoken = option.language or language
                say(gather, menu.text(option.say, spoken), spoken)
            # A language choice is short and bilingual: no one-language "press star" after it.
            if menu.repeat_key(node) and not menu.is_language_choice(node):
                say(gather, menu.phrase("repeat", language), language)
            if menu.back_key(node):
                say(gather, menu.phrase("back", language), language)
            r.append(gather)
            # Twilio falls through to the next verb when the caller says nothing.
            r.redirect(self.routes.choose(node_id, attempt, language), method="POST")
        elif isinstance(node, MessageNode):
            if node.say is not None:
                say(r, menu.text(node.say, language), language, node.loop)
            if node.play is not None:
                r.play(node.play, loop=node.loop if node.loop != 1 else None)
            if node.pause:
                r.pause(length=node.pause)
            if node.next is not None:
                r.redirect(self.routes.node(node.next, language), method="POST")
            else:
                r.hangup()
        elif isinstance(node, QueueNode):
            if node.say is not None:
                say(r, menu.text(node.say, language), language)
            r.append(
                Enqueue(
                    node.queue,
                    action=self.routes.queue_result(node_id, language),
                    method="POST",
                    wait_url=self.routes.queue_wait(node_id, language, 0),
                    wait_url_method="POST",
                )
            )
        elif isinstance(node, TransferNode):
            if node.say is not None:
                say(r, menu.text(node.say, language), language)
            dial = Dial(
                action=self.routes.transfer_result(node_id, language),
                method="POST",
                timeout=node.timeout,
                caller_id=node.caller_id,
            )
            dial.number(node.number)
            r.append(dial)
        elif isinstance(node, HangupNode):
            if node.say is not None:
                say(r, menu.text(node.say, language), language)
            r.hangup()
        elif isinstance(node, HoursNode):
            # The route depends on the time of the call, so it is decided by the node's own
            # webhook (see ``hours``), never baked into a cached document.
            r.redirect(self.routes.node(node_id, language), method="POST")
        else:  # pragma: no cover - the model admits no other kinds
            raise TypeError(f"cannot render node kind {type(node).__name__}")

    # -- whole documents ---------------------------------------------------------

    def _step(
        self,
        node_id: str,
        language: str,
        attempt: int = 1,
        notice: str | None = None,
        notice_from: str | None = None,
    ) -> str:
        r = VoiceResponse()
        if notice is not None:
            origin = self.menu.node(notice_from) if notice_from is not None else None
            self._say(r, self.menu.phrase(notice, language, origin), language)
        self._body(r, node_id, language, attempt)
        return str(r)

    def render(self, step: Step, came_from: str | None = None) -> str:
        """TwiML for a :class:`~ivr.menu.Step` of the router: its notice, any closure words on
        the way (hours nodes), then the node it leads to."""
        if not step.messages:
            return self.step(step.node, step.language, step.attempt, step.notice, came_from)
        r = VoiceResponse()
        if step.notice is not None:
            origin = self.menu.nodes.get(came_from) if came_from is not None else None
            self._say(r, self.menu.phrase(step.notice, step.language, origin), step.language)
        for message in step.messages:
            self._say(r, self.menu.text(message, step.language), step.language)
        self._body(r, step.node, step.language, step.attempt)
        return str(r)

    # -- the start of a call ---------------------------------------------------------------

    def announcements(self, active: list[Announcement], language: str) -> str:
        """The start of a call while ``active`` announcements are on (see
        :meth:`_announcements`): rendered once per set of announcements and language, since
        every call during an incident gets it."""
        key = (tuple(self._announcement_at[id(a)] for a in active), language)
        build = lambda: self._announcements(active, language)  # noqa: E731
        return _cached(self._starts, START_DOCUMENTS, key, build)

    def _announcements(self, active: list[Announcement], language: str) -> str:
        """The start of a call while announcements are on: the start menu's prompt (the 999
        warning stays first), each announcement in every language, then the start menu.

        They come before any language choice, so each is said in every language of the menu,
        the default first, as bilingual services do. Without a key, they are said inside the
        start menu, after its prompt, so its keys work throughout. A key offered by one of them
        is listened for while the prompt and they play and for a moment after (a key of the
        start menu pressed then is its answer); then come the start menu's options.
        """
        menu = self.menu
        r = VoiceResponse()
        start = menu.node(menu.start)
        words = [(menu.text(a.say, lang), lang) for a in active for lang in menu.languages]
        keyed = [a for a in active if a.key is not None]
        if isinstance(start, MenuNode) and not keyed:
            self._body(r, menu.start, language, 1, after_prompt=words)
            return str(r)
        parent: VoiceResponse | Gather = r
        if keyed:
            parent = Gather(
                input="dtmf",
                action=self.routes.announcement(language),
                method="POST",
                num_digits=1,
                timeout=2,
                finish_on_key="",
            )
        prompt = start.prompt if isinstance(start, MenuNode) else None
        if prompt is not None:
            self._say(parent, menu.text(prompt, language), language)
        for text, lang in words:
            self._say(parent, text, lang)
        if keyed:
            r.append(parent)
        self._body(r, menu.start, language, 1, prompt=prompt is None)
        return str(r)

    # -- faults ----------------------------------------------------------------------------

    def _apology(self, language: str, then: str) -> str:
        r = VoiceResponse()
        self._say(r, self.menu.phrase("apology", language), language)
        r.redirect(self.routes.recover(then, language), method="POST")
        return str(r)

    # -- queues ----------------------------------------------------------------------------

    def _hold(
        self,
        node_id: str,
        language: str,
        cycle: int,
        position: int = 0,
        avg_wait: int = 0,
        offer_callback: bool = False,
    ) -> str:
        """The waitUrl document: position, expected wait, messages, 999 reminder, music.

        With ``offer_callback`` all of it plays inside a ``<Gather>`` offering a callback. A
        queue node gone in an edit gets plain hold music: the caller stays in Twilio's queue.
        """
        menu = self.menu
        node = menu.nodes.get(node_id)
        hold = node.hold if isinstance(node, QueueNode) else PLAIN_HOLD
        response = VoiceResponse()
        r: VoiceResponse | Gather = response
        if offer_callback:
            r = self.callbacks.offer(node_id, language, cycle, position, avg_wait)
            response.append(r)
        if hold.announce_position and position:
            self._say(r, menu.phrase("position", language).format(position=position), language)
            if avg_wait:
                if avg_wait < 60:
                    self._say(r, menu.phrase("wait_short", language), language)
                else:
                    # Never "about 1 minutes": a minute or more reads as at least two.
                    minutes = max(2, math.ceil(avg_wait / 60))
                    self._say(r, menu.phrase("wait", language).format(minutes=minutes), language)
        if hold.messages:
            message = hold.messages[cycle % len(hold.messages)]
            self._say(r, menu.text(message, language), language)
        if hold.reminder is not None and cycle % hold.reminder_every == hold.reminder_every - 1:
            self._say(r, menu.text(hold.reminder, language), language)
        if hold.music is not None:
            r.play(hold.music)
        else:
            r.pause(length=hold.pause or 10)
        response.redirect(self.routes.queue_wait(node_id, language, cycle + 1), method="POST")
        return str(response)

    def callback(
        self,
        node_id: str,
        language: str,
        decision: CallbackStep,
        cycle: int,
        position: int,
        wait: int,
    ) -> str:
        """TwiML for the router's next move in the callback offer."""
        return self.callbacks.render(node_id, language, decision, cycle, position, wait)


def last_resort(menu: Menu | None = None) -> str:
    """The answer when recovering from a fault faults too: apologise, then queue for a person.

    With the menu: its apology, then the error node's queue (or the start's), else hang up. If
    even that cannot be built, fixed words and a hang-up: this must never fail.
    """
    if menu is not None:
        try:
            language = menu.defaults.language
            r = VoiceResponse()
            r.say(menu.phrase("apology", language), voice=menu.voice(language), language=language)
            target = menu.nodes.get(menu.defaults.error_node or menu.start)
            if isinstance(target, QueueNode):
                r.enqueue(target.queue)
            else:
                r.append(Hangup())
            return str(r)
        except Exception:  # pragma: no cover - a model that validated renders
            pass
    return FIXED_LAST_RESORT


def _fixed(words: str, **voice: str) -> str:
    r = VoiceResponse()
    r.say(words, **voice)
    r.append(Hangup())
    return str(r)


FIXED_LAST_RESORT = _fixed(
    "Sorry, we are having a technical problem. If this is an emergency, hang up and dial "
    "999. Otherwise, please call 101 again in a few minutes.",
    voice="Polly.Amy",
    language="en-GB",
)
"""A caller's last resort when not even the menu can be asked."""
HANDLER_LAST_RESORT = _fixed(
    "Sorry, the call handler line has a technical problem. Please call again."
)
"""The call-handler line's last resort: staff are told and hung up on, never queued as callers
(the caller's last resort would put them in the general queue)."""

# ``VoiceResponse().hangup()`` returns the <Hangup> element, not the response: append instead.
HANGUP = str(VoiceResponse().append(Hangup()))
