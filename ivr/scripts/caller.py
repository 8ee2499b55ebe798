"""The caller that plays a script: answers prompts in order, and waits to hear what it expects.

``hear`` steps are checked as the words are spoken; while one is still waiting, the caller
stays silent at each prompt (as a person listening for their option would), so a ``press``
always answers the prompt that follows the words it waited for. ``not_hear`` watches everything
spoken from its place in the script until the next input step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..caller import CallEvent, GatherPrompt, Input, QueueState, ScriptedCaller
from ..caller.strategy import DialResult, DialTarget
from ..caller.trace import CallEventKind
from .model import LISTEN_STEPS, Scenario, step_kind
from .simulator import ON_ENTRY, make_input, queue_choice

MAX_WAITING_PROMPTS = 10
"""Prompts the caller sits through in silence waiting for a ``hear`` before giving up."""
MAX_PROMPTS = 200
"""A call that asks this many times has no end in sight (a menu that loops on silence)."""

_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s,.\-]+(?=\d)")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text as ``hear`` compares it: lower case, one space, digits however they are grouped
    ("0 3 0 0, 1 2 3" is "0300123"), typographic apostrophes plain."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return _SPACES.sub(" ", _BETWEEN_DIGITS.sub("", text)).strip()


@dataclass
class Miss:
    """A step that did not hold: which one, what it wanted, and where in the call."""

    step: int
    """Index of the step in the scenario's steps."""
    expected: str
    found: str
    event: int
    """Index of the call event around which it was noticed."""
    since: int = 0
    """Index of the first event the step could have been satisfied by."""


class ScriptCaller(ScriptedCaller):
    """Plays one scenario's steps; :meth:`on_event` must see every event of the call."""

    def __init__(self, scenario: Scenario) -> None:
        waits = scenario.waits if scenario.waits is not None else 1
        super().__init__((), queue_waits=waits)
        self.scenario = scenario
        self.script = list(scenario.steps)
        self.pos = 0
        self.queues = [queue_choice(q) for q in (scenario.queue or ["answer"])]
        self.dials = list(scenario.dial or ["completed"])
        self.entered = 0
        self.dialled = 0
        self._queue_now = self.queues[0]
        self.events = 0
        self.seen: list[CallEvent] = []
        """Every event as it happened (a barge-in later drops what was not heard from the
        record, so indices here are "seen" indices: :meth:`index_in` maps them back)."""
        self.spoken: list[tuple[int, str, str]] = []
        """(event index, text as said, normalised) for everything the caller heard."""
        self.cursor = (0, 0)
        """Where the next ``hear`` starts looking: (index in spoken, offset in its text)."""
        self.since_event = 0
        self.watching: list[tuple[int, str, int]] = []
        """Open ``not_hear`` windows: (step index, phrase, first spoken index)."""
        self.caught: list[Miss] = []
        """``not_hear`` phrases spoken in their window (a barge-in may yet cut some unheard)."""
        self.heard_at: dict[int, int] = {}
        """Step index -> the event where a ``hear`` was satisfied."""
        self.acted_at: dict[int, int] = {}
        """Step index -> the event count when an input step was used."""
        self.prompts = 0
        self.waiting = 0
        self.notes: list[str] = []

    # -- hearing ----------------------------------------------------------------------------

    def on_event(self, event: CallEvent) -> None:
        index = self.events
        self.events += 1
        self.seen.append(event)
        text = None
        if event.kind == CallEventKind.SAY and event.text:
            text = event.text
        elif event.kind == CallEventKind.PLAY and event.url and not event.detail.get("hold_music"):
            text = f"[audio {event.url}]"
        if text is None:
            return
        self.spoken.append((index, text, normalise(text)))
        self._watch(len(self.spoken) - 1)
        self._advance()

    def _watch(self, spoken_index: int) -> None:
        event, text, plain = self.spoken[spoken_index]
        for step, phrase, _first in self.watching:
            if normalise(phrase) in plain:
                self.caught.append(Miss(step, f"not to hear {phrase!r}", text, event, event))

    def _find(self, step: Any) -> tuple[int, int] | None:
        start, offset = self.cursor
        for i in range(start, len(self.spoken)):
            _event, text, plain = self.spoken[i]
            if isinstance(getattr(step, "hear", None), str):
                at = plain.find(normalise(step.hear), offset if i == start else 0)
                if at >= 0:
                    return i, at + len(normalise(step.hear))
            else:
                if re.search(step.hear_re, text, re.IGNORECASE):
                    return i, 0
        return None

    def _advance(self) -> None:
        """Satisfy the listening steps that come next, as far as what was heard allows."""
        while self.pos < len(self.script):
            step = self.script[self.pos]
            kind = step_kind(step)
            if kind not in LISTEN_STEPS:
                return
            if kind == "not_hear":
                first = self.cursor[0]
                self.watching.append((self.pos, step.not_hear, first))  # type: ignore[union-attr]
                for i in range(first, len(self.spoken)):
                    self._watch(i)
                self.pos += 1
                continue
            found = self._find(step)
            if found is None:
                return
            self.cursor = found
            self.heard_at[self.pos] = self.spoken[found[0]][0]
            self.pos += 1

    def index_in(self, events: list[CallEvent], seen: int) -> int:
        """The index in the finished record of the event seen ``seen``-th (or the last one
        before it that is still there)."""
        for i in range(min(seen, len(self.seen) - 1), -1, -1):
            target = self.seen[i]
            for j, event in enumerate(events):
                if event is target:
                    return j if i == seen else j + 1
        return min(seen, len(events))

    def miss(self, events: list[CallEvent]) -> Miss | None:
        """The first ``not_hear`` phrase the caller really heard (still in the record)."""
        kept = {id(e) for e in events}
        return next((m for m in self.caught if id(self.seen[m.event]) in kept), None)

    def pending(self) -> Any | None:
        """The listening step still waiting, if any."""
        if self.pos < len(self.script) and step_kind(self.script[self.pos]) in ("hear", "hear_re"):
            return self.script[self.pos]
        return None

    # -- acting ---------------------------------------------------------------------------------

    def on_gather(self, prompt: GatherPrompt) -> Input:
        self.prompts += 1
        if self.prompts > MAX_PROMPTS:
            self.notes.append(f"the call asked {MAX_PROMPTS} times without ending; hung up")
            return Input("hangup", "too many prompts")
        self._advance()
        waiting = self.pending()
        if waiting is not None:
            self.waiting += 1
            if self.waiting > MAX_WAITING_PROMPTS:
                self.notes.append(
                    f"stayed silent at {MAX_WAITING_PROMPTS} prompts waiting to hear it; hung up"
                )
                return Input("hangup", "gave up waiting")
            return Input.silence()
        self.waiting = 0
        # An input step ends the not_hear windows before it, and later hears look after it.
        self.watching.clear()
        self.cursor = (len(self.spoken), 0)
        if self.pos >= len(self.script):
            return Input.silence() if prompt.in_queue else Input("hangup", "end of script")
        step = self.script[self.pos]
        self.acted_at[self.pos] = self.events
        self.pos += 1
        kind = step_kind(step)
        barge = getattr(step, "barge_in", None)
        barge = self.scenario.barge_in if barge is None else barge
        value = getattr(step, kind, "") if kind in ("press", "say") else ""
        return make_input(kind, str(value), bool(barge))  # type: ignore[arg-type]

    def on_queue(self, state: QueueState) -> Any:
        if state.cycle == 0:
            self._queue_now = self.queues[min(self.entered, len(self.queues) - 1)]
            self.entered += 1
        if self._queue_now in ON_ENTRY:
            return self._queue_now
        if state.cycle < self.queue_waits:
            return "wait"
        return self._queue_now

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        status = self.dials[min(self.dialled, len(self.dials) - 1)]
        self.dialled += 1
        return DialResult(status, 60 if status == "completed" else 0)  # type: ignore[arg-type]
