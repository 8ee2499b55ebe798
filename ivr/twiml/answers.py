"""What each webhook answers: the router's decision and the renderer's document, together.

The Flask views (``ivr.webhooks.voice``) read Twilio's request, call one of these, record the
decision and send the document; the paths walker (``ivr.authoring.paths``) calls the very same
functions to learn what a caller hears at each step. So the composition "decide, then render"
exists once, and a route walked offline is the route a caller takes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..menu import Announcement, HoursNode, Menu, Step, routing
from .render import HANGUP, Renderer


@dataclass(frozen=True)
class Answer:
    """A document to send, and the router's step behind it (None when nothing was decided)."""

    twiml: str
    step: Step | None = None


class Answers:
    """The answer of every caller-side webhook, for one menu and its renderer."""

    def __init__(self, menu: Menu, renderer: Renderer) -> None:
        self.menu = menu
        self.renderer = renderer

    def call_start(self, at: dt.datetime) -> tuple[Answer, list[Announcement]]:
        """``/voice``: the announcements that are on, then the start node."""
        active = routing.active_announcements(self.menu, at)
        return self.start_with(active), active

    def start_with(self, announcements: list[Announcement]) -> Answer:
        """``/voice``'s document while ``announcements`` are on (none: the start node's)."""
        language = self.menu.defaults.language
        if announcements:
            return Answer(self.renderer.announcements(announcements, language))
        return Answer(self.renderer.step(self.menu.start, language))

    def announcement(
        self, digits: str, language: str, at: dt.datetime
    ) -> tuple[Answer, Announcement | None]:
        """``/announcement``: a key pressed while the announcements played."""
        step, found = routing.announcement_key(self.menu, digits, language, at)
        return Answer(self.renderer.render(step, came_from=self.menu.start), step), found

    def arrive(self, node_id: str, language: str, at: dt.datetime) -> Answer:
        """``/node/<node>``: the node's document; an hours node is resolved by the clock first
        (never cached: the route depends on the time of the call)."""
        if not isinstance(self.menu.nodes[node_id], HoursNode):
            return Answer(self.renderer.step(node_id, language))
        step = routing.resolve(self.menu, node_id, language, at)
        return Answer(self.renderer.render(step), step)

    def choose(self, node_id: str, digits: str, speech: str, attempt: int, language: str) -> Answer:
        """``/menu/<node>``: a key, words or silence at a menu."""
        step = routing.choose(self.menu, node_id, digits, speech, attempt, language)
        return Answer(self.renderer.render(step, came_from=node_id), step)

    def after_queue(self, node_id: str, language: str, result: str) -> Answer:
        """``/queue/<node>/result``: hang up when the call is over, else route on."""
        step = routing.after_queue(self.menu, node_id, language, result)
        return Answer(HANGUP if step is None else self.renderer.render(step), step)

    def after_transfer(self, node_id: str, language: str, status: str) -> Answer:
        """``/transfer/<node>/result``: hang up when put through, else route on."""
        step = routing.after_transfer(self.menu, node_id, language, status)
        return Answer(HANGUP if step is None else self.renderer.render(step), step)

    def moved(self, language: str) -> Answer:
        """The caller's node vanished in an edit: a word, then the start."""
        start = self.menu.start
        return Answer(self.renderer.step(start, language, 1, "moved"), Step(start, language))
