"""The menu model: loading and validating ``menus.json``, and the transitions
``(node, caller input) -> step`` that the webhooks serve.

Nothing here knows about Flask or TwiML; the model is loaded once and then only read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .errors import MenuError, Problem
from .hours import Schedule, is_open, zone

Key = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
KEYS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")
NODE_ID = r"^[A-Za-z0-9_-]{1,64}$"

Text = str | dict[str, str]
"""Words to speak: one string, or one string per language (``{"en-GB": ..., "cy-GB": ...}``)."""

Phrases = list[str] | dict[str, list[str]]
"""Speech phrases: one list, or one list per language."""

# Twilio's speech recognition languages that a 101 menu may plausibly use; Welsh is not
# among them, so a Welsh caller is offered keys only.
SPEECH_LANGUAGES = frozenset(
    {
        "en-GB",
        "en-US",
        "en-AU",
        "en-IN",
        "en-IE",
        "en-NZ",
        "en-ZA",
        "pl-PL",
        "ro-RO",
        "pa-IN",
        "ur-PK",
        "ar-SA",
        "fr-FR",
        "es-ES",
        "de-DE",
        "it-IT",
        "pt-PT",
        "hi-IN",
        "bn-IN",
        "gu-IN",
        "ta-IN",
    }
)

TWILIO_HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Language(_Model):
    """A language callers may choose, and the voice that speaks it."""

    voice: str = Field(description="Twilio <Say> voice, e.g. Polly.Amy or Polly.Gwyneth.")
    speech: bool = Field(
        True,
        description="Offer speech recognition in this language (only where Twilio recognises it).",
    )
    name: str | None = Field(None, description="The language's name, for people reading the file.")


class Phrasebook(_Model):
    """What the system says between the menu's own prompts, per language where needed."""

    invalid: Text = Field(
        "Sorry, that is not one of the options.", description="Said after an invalid key."
    )
    silence: Text = Field(
        "Sorry, we did not hear a choice.", description="Said after the caller stayed silent."
    )
    repeat: Text = Field(
        "To hear these options again, press star.", description="Offers the repeat key."
    )
    back: Text = Field("To go back, press hash.", description="Offers the back key.")
    apology: Text = Field(
        "Sorry, we are having a technical problem. If this is an emergency, hang up and dial 999.",
        description="Said when something went wrong inside the system.",
    )
    moved: Text = Field(
        "Sorry, the menu has changed. Here is the start of the menu again.",
        description="Said when a caller's place in the menu no longer exists after an edit.",
    )
    position: Text = Field(
        "You are number {position} in the queue.",
        description="Hold announcement; {position} is the caller's place in the queue.",
    )
    wait: Text = Field(
        "The expected wait is about {minutes} minutes.",
        description="Hold announcement; {minutes} is Twilio's average wait, rounded up.",
    )
    wait_short: Text = Field(
        "You should be answered in less than a minute.",
        description="Hold announcement when the average wait is under a minute.",
    )
    queue_full: Text = Field(
        "Sorry, all our call handlers are busy and the queue is full.",
        description="Said when Twilio reports the queue is full.",
    )
    transfer_failed: Text = Field(
        "Sorry, we could not put you through.", description="Said when a transfer fails."
    )
    # The callback offer (ivr/callback.py).
    callback_offer: Text = Field(
        "If you would rather be called back than hold, press 1 at any time.",
        description="Said while holding in a queue that offers callbacks.",
    )
    callback_number: Text = Field(
        "We will call you back on the number you are calling from, ending {last}. "
        "To confirm, press 1. To give a different number, press 2.",
        description="Asks to confirm the caller's own number; {last} is its last three digits.",
    )
    callback_enter: Text = Field(
        "Please key in the U K phone number we should call you back on, starting with 0, "
        "then press hash.",
        description="Asks the caller to key a number for the callback.",
    )
    callback_invalid: Text = Field(
        "Sorry, that is not a U K phone number we can call.",
        description="Said when the keyed callback number is not a valid UK number.",
    )
    callback_confirmed: Text = Field(
        "Thank you. We will call you back on {number} as soon as a call handler is free. "
        "If your situation becomes an emergency, hang up and dial 999.",
        description="Said before the caller leaves the queue; {number} is read digit by digit.",
    )
    callback_back_to_queue: Text = Field(
        "You are still in the queue.",
        description="Said when a caller goes back to holding without a callback.",
    )


class Defaults(_Model):
    """Settings every node inherits unless it says otherwise."""

    language: str = Field("en-GB", description="The caller's language until they choose another.")
    voice: str = Field("Polly.Amy", description="Twilio voice for the default language.")
    timeout: int = Field(5, ge=1, le=60, description="Seconds of silence before a menu times out.")
    attempts: int = Field(
        3, ge=1, le=10, description="Invalid or silent tries before the menu's fallback."
    )
    speech: bool = Field(True, description="Offer speech input as well as keys in menus.")
    speech_timeout: str = Field(
        "auto", description="Twilio speechTimeout: seconds, or 'auto' to end on a pause."
    )
    repeat_key: Key | None = Field("*", description="Key that repeats a menu.")
    back_key: Key | None = Field("#", description="Key that goes back to a menu's `back` node.")
    error_node: str | None = Field(
        None,
        description="Where a caller goes after a technical problem (default: the start node).",
    )
    phrases: Phrasebook = Field(
        default_factory=Phrasebook,
        description="What the system says between prompts (invalid key, silence, hold...).",
    )


class Option(_Model):
    """One choice in a menu."""

    key: Key = Field(description="The key that chooses it: 0-9, * or #.")
    say: Text = Field(description="The words that offer it, e.g. 'To report a crime, press 1.'")
    speech: Phrases = Field(
        default_factory=list, description="Spoken phrases that choose it, e.g. 'report a crime'."
    )
    goto: str = Field(description="The node a caller goes to.")
    language: str | None = Field(
        None, description="Switch the caller to this language for the rest of the call."
    )


class _Node(_Model):
    notes: str | None = Field(None, description="Free text for menu authors; never spoken.")


class MenuNode(_Node):
    """A spoken menu: a prompt and options chosen by key or by speech."""

    kind: Literal["menu"] = Field(description="A spoken menu of options.")
    prompt: Text | None = Field(None, description="Said before the options.")
    options: list[Option] = Field(
        min_length=1, description="The choices, each with its key, words and target node."
    )
    back: str | None = Field(None, description="Node the back key returns to (none: no back key).")
    repeat_key: Key | None = Field(None, description="Overrides defaults.repeat_key.")
    back_key: Key | None = Field(None, description="Overrides defaults.back_key.")
    invalid: Text | None = Field(None, description="Overrides the phrase after an invalid key.")
    silence: Text | None = Field(None, description="Overrides the phrase after silence.")
    attempts: int | None = Field(None, ge=1, le=10, description="Overrides defaults.attempts.")
    timeout: int | None = Field(None, ge=1, le=60, description="Overrides defaults.timeout.")
    speech: bool | None = Field(None, description="Overrides defaults.speech.")
    fallback: str = Field(description="Where a caller goes after too many invalid or silent tries.")


class MessageNode(_Node):
    """A spoken or recorded message, then another node or the end of the call."""

    kind: Literal["message"] = Field(description="A message, then another node or hang up.")
    say: Text | None = Field(None, description="Words spoken by text-to-speech.")
    play: str | None = Field(None, description="URL of a recording to play (after `say`).")
    loop: int = Field(1, ge=1, le=10, description="How many times to play the message.")
    pause: int = Field(0, ge=0, le=30, description="Seconds of silence after the message.")
    next: str | None = Field(None, description="Node to go to afterwards; none hangs up.")

    @model_validator(mode="after")
    def _something_to_say(self) -> MessageNode:
        if self.say is None and self.play is None:
            raise ValueError("a message needs `say`, `play` or both")
        return self


class Hold(_Model):
    """What a caller hears while waiting in a queue."""

    music: str | None = Field(
        TWILIO_HOLD_MUSIC, description="URL of hold music played between announcements."
    )
    messages: list[Text] = Field(
        default_factory=list, description="Messages played in turn, one per hold cycle."
    )
    announce_position: bool = Field(
        True, description="Read out the caller's position and expected wait."
    )
    reminder: Text | None = Field(
        "If your situation becomes an emergency, hang up and dial 999.",
        description="Reminder to call 999, repeated every `reminder_every` cycles.",
    )
    reminder_every: int = Field(2, ge=1, le=20, description="Hold cycles between reminders.")
    pause: int = Field(
        0, ge=0, le=60, description="Seconds of silence per cycle when there is no music."
    )


class CallbackOffer(_Model):
    """Offer holding callers a callback, once the queue is long (both thresholds optional)."""

    after_position: int | None = Field(
        None, ge=1, le=5000, description="Offer once the caller's place in line is this or later."
    )
    after_wait: int | None = Field(
        None,
        ge=0,
        le=86400,
        description="Offer once Twilio's average wait for the queue is this many seconds or more.",
    )


class QueueNode(_Node):
    """Put the caller in a Twilio queue until a call handler answers."""

    kind: Literal["queue"] = Field(description="Wait in a Twilio queue for a call handler.")
    queue: str = Field(min_length=1, max_length=64, description="Twilio queue friendly name.")
    say: Text | None = Field(None, description="Said before the caller joins the queue.")
    hold: Hold = Field(default_factory=Hold, description="What the caller hears while waiting.")
    max_size: int = Field(
        100, ge=1, le=5000, description="Most callers the queue holds (set on Twilio)."
    )
    on_full: str = Field(description="Where a caller goes when the queue is full.")
    on_error: str = Field(description="Where a caller goes when Twilio cannot queue the call.")
    on_leave: str | None = Field(
        None, description="Where a caller goes after leaving the queue (default: on_error)."
    )
    callback: CallbackOffer | None = Field(
        None,
        description="Offer a callback instead of holding (needs on_leave: usually a goodbye).",
    )


class TransferNode(_Node):
    """Put the caller through to another number."""

    kind: Literal["transfer"] = Field(description="Put the caller through to another number.")
    number: str = Field(description="The number to dial, e.g. +443001232040 or 0300 123 2040.")
    say: Text | None = Field(None, description="Said before dialling.")
    timeout: int = Field(30, ge=5, le=600, description="Seconds to ring before giving up.")
    caller_id: str | None = Field(None, description="Caller ID to present (a Twilio number).")
    on_fail: str = Field(description="Where a caller goes when the transfer fails.")

    @field_validator("number", "caller_id")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return None if value is None else to_e164(value)


class HangupNode(_Node):
    """Say goodbye (optionally) and end the call."""

    kind: Literal["hangup"] = Field(description="Say goodbye (optionally) and end the call.")
    say: Text | None = Field(None, description="Said before hanging up.")


class HoursNode(_Node, Schedule):
    """Route by the clock: to `open` in opening hours, else to `closed`.

    On a closure day the closure's own message is said first, then the caller goes to `closed`.
    """

    kind: Literal["hours"] = Field(description="Route by opening hours and closures.")
    open: str = Field(description="Where a caller goes while the service is open.")
    closed: str = Field(
        description="Where a caller goes while it is closed (after any closure's message)."
    )


Node = Annotated[
    MenuNode | MessageNode | QueueNode | TransferNode | HangupNode | HoursNode,
    Field(discriminator="kind"),
]
NODE_KINDS = ("menu", "message", "queue", "transfer", "hangup", "hours")


LocalDateTime = Annotated[
    dt.datetime,
    # RFC 3339 "date-time" demands an offset; authors may leave it out to mean local time.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$",
        }
    ),
]


class Announcement(_Model):
    """A message played at the start of every call while it is on and within its window."""

    name: str | None = Field(
        None, description="A short name for people and logs, e.g. 'A34 closure'."
    )
    say: Text = Field(description="The words, per language when the menu has several.")
    enabled: bool = Field(True, description="Switch it on (true) or off (false).")
    starts: LocalDateTime | None = Field(
        None,
        description=(
            "When it starts playing, e.g. 2026-11-29T08:00 (local time in `timezone` unless "
            "an offset is given); none: already started."
        ),
    )
    ends: LocalDateTime | None = Field(
        None, description="When it stops playing (exclusive); none: until switched off."
    )
    timezone: str = Field(
        "Europe/London", description="IANA time zone for `starts` and `ends` without an offset."
    )
    key: Key | None = Field(
        None, description="A key the caller may press during it, e.g. '5'; needs `goto`."
    )
    goto: str | None = Field(None, description="The node that `key` leads to.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Announcement:
        if (self.key is None) != (self.goto is None):
            raise ValueError("`key` and `goto` go together: give both or neither")
        starts, ends = self.window()
        if starts is not None and ends is not None and ends <= starts:
            raise ValueError("`ends` is not after `starts`")
        return self

    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """``starts`` and ``ends`` as aware datetimes."""
        tz = zone(self.timezone)

        def aware(value: dt.datetime | None) -> dt.datetime | None:
            if value is None or value.tzinfo is not None:
                return value
            return value.replace(tzinfo=tz)

        return aware(self.starts), aware(self.ends)

    def active(self, now: dt.datetime) -> bool:
        """Whether it plays for a call starting at ``now`` (an aware datetime)."""
        if not self.enabled:
            return False
        starts, ends = self.window()
        return (starts is None or starts <= now) and (ends is None or now < ends)


class MenuFile(_Model):
    """The whole menu file."""

    schema_: str | None = Field(None, alias="$schema", description="The JSON Schema for editors.")
    name: str | None = Field(None, description="The service's name, for people and reports.")
    start: str = Field(description="The node a call starts at.")
    defaults: Defaults = Field(
        default_factory=Defaults, description="Settings every node inherits unless it overrides."
    )
    languages: dict[str, Language] = Field(
        default_factory=dict,
        description="Languages besides the default, each with its voice, e.g. cy-GB.",
    )
    nodes: dict[Annotated[str, Field(pattern=NODE_ID)], Node] = Field(
        min_length=1,
        description="Every node of the menu by id (letters, digits, - and _); `kind` says what.",
    )
    announcements: list[Announcement] = Field(
        default_factory=list,
        description="Messages played at the start of every call while on and in their window.",
    )


def to_e164(number: str, region: str = "GB") -> str:
    """Return ``number`` in E.164, or raise ValueError if it is not a valid phone number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"{(\w*)}")
_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
    "hash": "#",
    "pound": "#",
}
_WORD = re.compile(r"[a-z0-9*#']+")


@dataclass(frozen=True)
class Step:
    """Where a caller goes next, and why."""

    node: str
    language: str
    attempt: int = 1
    notice: str | None = None
    """A phrase to say first: ``invalid``, ``silence``, ``moved`` or ``apology``."""
    outcome: str = "next"
    """What happened: option, repeat, back, invalid, silence, fallback, next, moved."""
    key: str | None = None
    confidence: float | None = None
    message: Text | None = None
    """Words to say before going on: a closure's own message."""


@dataclass(frozen=True)
class Match:
    """A caller's input matched to an option."""

    option: Option | None
    key: str | None
    confidence: float | None = None


@dataclass
class Menu:
    """A validated menu, ready to serve; built by :func:`load_menu`."""

    file: MenuFile
    source: str = "menus.json"
    warnings: list[Problem] = field(default_factory=list)

    @property
    def start(self) -> str:
        return self.file.start

    @property
    def defaults(self) -> Defaults:
        return self.file.defaults

    @property
    def nodes(self) -> dict[str, Any]:
        return self.file.nodes

    @cached_property
    def languages(self) -> dict[str, Language]:
        """Every language, the default first (built once: every request asks)."""
        d = self.file.defaults
        return {d.language: Language(voice=d.voice, speech=True), **self.file.languages}

    def node(self, node_id: str) -> Any:
        return self.file.nodes[node_id]

    def language(self, requested: str | None) -> str:
        """The caller's language: ``requested`` when the menu has it, else the default."""
        if requested and requested in self.languages:
            return requested
        return self.file.defaults.language

    def voice(self, language: str) -> str:
        return self.languages[language].voice

    def text(self, value: Text, language: str) -> str:
        """``value`` in ``language`` (validation guarantees every language is present)."""
        if isinstance(value, str):
            return value
        # A language choice may hold only the language it offers (see _check).
        return (
            value.get(language)
            or value.get(self.file.defaults.language)
            or next(iter(value.values()))
        )

    def phrase(self, name: str, language: str, node: Any = None) -> str:
        """A phrasebook entry, with a menu node's own override where it has one."""
        override = getattr(node, name, None) if name in ("invalid", "silence") else None
        return self.text(override or getattr(self.file.defaults.phrases, name), language)

    # -- menus ------------------------------------------------------------------

    def attempts(self, node: MenuNode) -> int:
        return node.attempts or self.file.defaults.attempts

    def timeout(self, node: MenuNode) -> int:
        return node.timeout or self.file.defaults.timeout

    def repeat_key(self, node: MenuNode) -> str | None:
        return node.repeat_key or self.file.defaults.repeat_key

    def back_key(self, node: MenuNode) -> str | None:
        if node.back is None:
            return None
        return node.back_key or self.file.defaults.back_key

    def speech_enabled(self, node: MenuNode, language: str) -> bool:
        wanted = node.speech if node.speech is not None else self.file.defaults.speech
        # Twilio would refuse (or mishear) a language it cannot recognise: keys only.
        return wanted and self.languages[language].speech and language in SPEECH_LANGUAGES

    def phrases(self, option: Option, language: str) -> list[str]:
        if isinstance(option.speech, list):
            return option.speech
        return option.speech.get(language, [])

    def hints(self, node: MenuNode, language: str) -> str:
        """Twilio ``hints``: every phrase of every option, comma separated."""
        return ", ".join(p for o in node.options for p in self.phrases(o, language))

    def match(self, node: MenuNode, digits: str, speech: str, language: str) -> Match:
        """Match a key press or a spoken answer to one of ``node``'s options."""
        digits = digits.strip()
        if digits:
            key = digits[:1]
            return Match(next((o for o in node.options if o.key == key), None), key)
        words = _WORD.findall(speech.lower())
        if not words:
            return Match(None, None)
        # "press one", "two", "option 3": a spoken key.
        spoken_keys = [_DIGIT_WORDS.get(w, w) for w in words if _DIGIT_WORDS.get(w, w) in KEYS]
        if len(words) <= 3 and len(spoken_keys) == 1:
            key = spoken_keys[0]
            option = next((o for o in node.options if o.key == key), None)
            if option is not None:
                return Match(option, key, 1.0)
        said = " ".join(words)
        best: tuple[float, Option | None] = (0.0, None)
        for option in node.options:
            for phrase in self.phrases(option, language):
                target = " ".join(_WORD.findall(phrase.lower()))
                if not target:
                    continue
                if re.search(rf"\b{re.escape(target)}\b", said):
                    # The longest phrase heard wins: "business crime" beats "crime".
                    score = 1.0 + len(target) / 1000
                else:
                    score = difflib.SequenceMatcher(None, target, said).ratio()
                if score > best[0]:
                    best = (score, option)
        if best[1] is not None and best[0] >= 0.75:
            return Match(best[1], best[1].key, round(min(best[0], 1.0), 2))
        return Match(None, None, round(best[0], 2) if best[0] else None)

    def choose(self, node_id: str, digits: str, speech: str, attempt: int, language: str) -> Step:
        """The step after a caller answered (or did not answer) menu ``node_id``."""
        node = self.nodes[node_id]
        if not isinstance(node, MenuNode):
            return Step(node_id, language, outcome="next")
        m = self.match(node, digits, speech, language)
        if m.option is not None:
            return Step(
                m.option.goto,
                m.option.language or language,
                outcome="option",
                key=m.key,
                confidence=m.confidence,
            )
        if m.key is not None and m.key == self.repeat_key(node):
            return Step(node_id, language, attempt=attempt, outcome="repeat", key=m.key)
        if m.key is not None and m.key == self.back_key(node):
            return Step(node.back or self.start, language, outcome="back", key=m.key)
        silent = m.key is None and not speech.strip()
        if attempt >= self.attempts(node):
            return Step(
                node.fallback,
                language,
                notice="silence" if silent else "invalid",
                outcome="fallback",
                key=m.key,
            )
        return Step(
            node_id,
            language,
            attempt=attempt + 1,
            notice="silence" if silent else "invalid",
            outcome="silence" if silent else "invalid",
            key=m.key,
            confidence=m.confidence,
        )

    # -- the clock ---------------------------------------------------------------

    def route_hours(self, node_id: str, language: str, now: dt.datetime) -> Step:
        """The step out of hours node ``node_id`` at ``now`` (an aware datetime)."""
        node = self.nodes[node_id]
        if not isinstance(node, HoursNode):
            return Step(node_id, language, outcome="next")
        open_now, closure = is_open(node, now)
        if open_now:
            return Step(node.open, language, outcome="open")
        return Step(
            node.closed,
            language,
            outcome="closure" if closure is not None else "closed",
            message=closure.say if closure is not None else None,
        )

    def resolve(self, node_id: str, language: str, now: dt.datetime) -> tuple[str, list[Text]]:
        """Follow hours nodes from ``node_id`` to the node a caller hears, and what to say first.

        Validation forbids a loop made only of hours nodes, so this ends.
        """
        messages: list[Text] = []
        while isinstance(self.nodes.get(node_id), HoursNode):
            step = self.route_hours(node_id, language, now)
            if step.message is not None:
                messages.append(step.message)
            node_id = step.node
        return node_id, messages

    def active_announcements(self, now: dt.datetime) -> list[Announcement]:
        """The announcements that play for a call starting at ``now``, in file order."""
        return [a for a in self.file.announcements if a.active(now)]

    def announcement_for_key(self, key: str, now: dt.datetime) -> Announcement | None:
        """The active announcement offering ``key``, if any."""
        key = key.strip()[:1]
        return next((a for a in self.active_announcements(now) if key and a.key == key), None)

    # -- structure ---------------------------------------------------------------

    def edges(self, node_id: str) -> Iterator[tuple[str, str, str]]:
        """``(label, target, style)`` for every way out of a node; style is solid or dashed."""
        node = self.nodes[node_id]
        if isinstance(node, MenuNode):
            for o in node.options:
                label = o.key if o.language is None else f"{o.key} {o.language}"
                yield (label, o.goto, "solid")
            if node.back is not None and self.back_key(node):
                yield (f"{self.back_key(node)} back", node.back, "solid")
            yield ("fallback", node.fallback, "dashed")
        elif isinstance(node, MessageNode):
            if node.next:
                yield ("next", node.next, "solid")
        elif isinstance(node, QueueNode):
            yield ("full", node.on_full, "dashed")
            yield ("error", node.on_error, "dashed")
            if node.on_leave:
                yield ("leave", node.on_leave, "dashed")
        elif isinstance(node, TransferNode):
            yield ("failed", node.on_fail, "dashed")
        elif isinstance(node, HoursNode):
            yield ("open", node.open, "solid")
            yield ("closed", node.closed, "solid")

    def reachable(self) -> set[str]:
        seen = {self.start}
        todo = deque([self.start])
        roots = [self.defaults.error_node] + [a.goto for a in self.file.announcements]
        for root in roots:
            if root and root in self.nodes and root not in seen:
                seen.add(root)
                todo.append(root)
        while todo:
            for _, target, _ in self.edges(todo.popleft()):
                if target in self.nodes and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    def queues(self) -> dict[str, int]:
        """Every Twilio queue the menu uses, with the largest max size asked for it."""
        sizes: dict[str, int] = {}
        for node in self.nodes.values():
            if isinstance(node, QueueNode):
                sizes[node.queue] = max(sizes.get(node.queue, 0), node.max_size)
        return sizes


# -- loading and validation ------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _DuplicateKey(k)
        seen[k] = v
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in NODE_KINDS and i >= 2 and loc[i - 2] == "nodes":
            continue  # pydantic's discriminator tag, not a field of the file
        elif part in ("str", "dict[str,str]", "list[str]", "dict[str,list[str]]"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _locate(text: str, path: str) -> tuple[int | None, int | None]:
    """Best-effort line and column of the JSON value at ``path``."""
    locator = _Locator(text)
    return locator.find(path)


class _Locator:
    """A tiny JSON scanner that records where each value starts, by path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: dict[str, int] = {}
        self.i = 0
        try:
            self._value("")
        except (IndexError, ValueError):
            pass

    def find(self, path: str) -> tuple[int | None, int | None]:
        while path:
            if path in self.positions:
                pos = self.positions[path]
                line = self.text.count("\n", 0, pos) + 1
                return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            path = "" if parent == path else parent
        return None, None

    def _ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1

    def _value(self, path: str) -> None:
        self._ws()
        self.positions.setdefault(path, self.i)
        c = self.text[self.i]
        if c == "{":
            self.i += 1
            self._ws()
            if self.text[self.i] == "}":
                self.i += 1
                return
            while True:
                self._ws()
                key = self._string()
                self._ws()
                self.i += 1  # ':'
                self._value(f"{path}.{key}" if path else key)
                self._ws()
                c = self.text[self.i]
                self.i += 1
                if c == "}":
                    return
        elif c == "[":
            self.i += 1
            self._ws()
            if self.text[self.i] == "]":
                self.i += 1
                return
            n = 0
            while True:
                self._value(f"{path}[{n}]")
                n += 1
                self._ws()
                c = self.text[self.i]
                self.i += 1
                if c == "]":
                    return
        elif c == '"':
            self._string()
        else:
            m = re.compile(r"[^,}\]\s]+").match(self.text, self.i)
            if not m:
                raise ValueError("bad token")
            self.i = m.end()

    def _string(self) -> str:
        m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(self.text, self.i)
        if not m:
            raise ValueError("bad string")
        self.i = m.end()
        return json.loads(m.group(0))


TEXT_FIELDS = frozenset({"say", "prompt", "invalid", "silence", "reminder", "messages"})
"""Fields holding words to speak (Text), checked for translations and placeholders."""


def _texts(model: BaseModel, path: str) -> Iterator[tuple[str, Any]]:
    """Every Text value in a model tree, with its path."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        sub = f"{path}.{info.alias or name}" if path else (info.alias or name)
        if isinstance(value, BaseModel):
            yield from _texts(value, sub)
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            for k, v in value.items():
                yield from _texts(v, f"{sub}.{k}")
        elif isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
            for i, v in enumerate(value):
                yield from _texts(v, f"{sub}[{i}]")
        elif value is None or not (name in TEXT_FIELDS or isinstance(model, Phrasebook)):
            continue
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield f"{sub}[{i}]", v
        else:
            yield sub, value


_ALLOWED_PLACEHOLDERS = {
    "position": {"position"},
    "wait": {"minutes"},
    "callback_number": {"last"},
    "callback_confirmed": {"number"},
}


def _check(f: MenuFile) -> tuple[list[Problem], list[Problem]]:
    """Cross-reference checks the schema cannot express: errors and warnings."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    nodes = f.nodes
    langs = [f.defaults.language, *f.languages]

    def ref(path: str, target: str | None) -> None:
        if target is not None and target not in nodes:
            hint = difflib.get_close_matches(target, nodes, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            errors.append(Problem(path, f"refers to node {target!r}, which does not exist{extra}"))

    ref("start", f.start)
    ref("defaults.error_node", f.defaults.error_node)
    for lang in f.languages:
        if lang == f.defaults.language:
            errors.append(Problem(f"languages.{lang}", "repeats the default language"))
        elif f.languages[lang].speech and lang not in SPEECH_LANGUAGES:
            warnings.append(
                Problem(
                    f"languages.{lang}.speech",
                    f"Twilio does not recognise speech in {lang}: callers get keys only "
                    "(set speech to false to say so)",
                )
            )
    if f.defaults.speech and f.defaults.language not in SPEECH_LANGUAGES:
        warnings.append(
            Problem(
                "defaults.speech",
                f"Twilio does not recognise speech in {f.defaults.language}: keys only",
            )
        )

    for node_id, node in nodes.items():
        base = f"nodes.{node_id}"
        if isinstance(node, MenuNode):
            seen: dict[str, int] = {}
            for i, o in enumerate(node.options):
                ref(f"{base}.options[{i}].goto", o.goto)
                if o.key in seen:
                    errors.append(
                        Problem(
                            f"{base}.options[{i}].key",
                            f"key {o.key!r} is already used by options[{seen[o.key]}]",
                        )
                    )
                seen.setdefault(o.key, i)
                if o.language is not None and o.language not in langs:
                    errors.append(
                        Problem(f"{base}.options[{i}].language", f"unknown language {o.language!r}")
                    )
                if isinstance(o.speech, dict):
                    for lang in o.speech:
                        if lang not in langs:
                            errors.append(
                                Problem(f"{base}.options[{i}].speech.{lang}", "unknown language")
                            )
            for what in ("repeat_key", "back_key"):
                special = (
                    (node.repeat_key or f.defaults.repeat_key)
                    if what == "repeat_key"
                    else (node.back_key or f.defaults.back_key)
                    if node.back
                    else None
                )
                if special is not None and special in seen:
                    errors.append(
                        Problem(
                            f"{base}.options[{seen[special]}].key",
                            f"key {special!r} is this menu's {what.replace('_', ' ')}",
                        )
                    )
            ref(f"{base}.back", node.back)
            ref(f"{base}.fallback", node.fallback)
            if node.fallback == node_id:
                errors.append(
                    Problem(f"{base}.fallback", "a menu cannot fall back to itself (endless loop)")
                )
        elif isinstance(node, MessageNode):
            ref(f"{base}.next", node.next)
            if node.play is not None and not _URL.match(node.play):
                errors.append(Problem(f"{base}.play", f"{node.play!r} is not an http(s) URL"))
            if node.next == node_id:
                errors.append(Problem(f"{base}.next", "a message cannot lead to itself"))
        elif isinstance(node, QueueNode):
            ref(f"{base}.on_full", node.on_full)
            ref(f"{base}.on_error", node.on_error)
            ref(f"{base}.on_leave", node.on_leave)
            if node.callback is not None and node.on_leave is None:
                errors.append(
                    Problem(
                        f"{base}.on_leave",
                        "a queue that offers callbacks needs on_leave: where a caller goes "
                        "after leaving the queue to be called back (e.g. a goodbye)",
                    )
                )
            if node.hold.music is not None and not _URL.match(node.hold.music):
                errors.append(
                    Problem(f"{base}.hold.music", f"{node.hold.music!r} is not an http(s) URL")
                )
        elif isinstance(node, TransferNode):
            ref(f"{base}.on_fail", node.on_fail)
        elif isinstance(node, HoursNode):
            ref(f"{base}.open", node.open)
            ref(f"{base}.closed", node.closed)
            if node.open == node.closed:
                warnings.append(Problem(f"{base}.closed", "is the same node as `open`"))

    errors.extend(_hours_loops(nodes))
    keys: dict[str, int] = {}
    for i, a in enumerate(f.announcements):
        ref(f"announcements[{i}].goto", a.goto)
        if a.key is not None and a.enabled:
            if a.key in keys:
                errors.append(
                    Problem(
                        f"announcements[{i}].key",
                        f"key {a.key!r} is already used by announcements[{keys[a.key]}]",
                    )
                )
            keys.setdefault(a.key, i)

    # A language choice is said in the language it chooses, so needs only that text.
    own_language = {
        f"nodes.{node_id}.options[{i}].say": o.language
        for node_id, node in nodes.items()
        if isinstance(node, MenuNode)
        for i, o in enumerate(node.options)
        if o.language is not None
    }
    for path, value in _texts(f, ""):
        if path in own_language:
            lang = own_language[path]
            if isinstance(value, dict) and not value.get(lang, "").strip():
                errors.append(Problem(path, f"has no {lang} text (the language it offers)"))
            elif isinstance(value, str) and not value.strip():
                errors.append(Problem(path, "is empty"))
            continue
        if isinstance(value, dict):
            for lang in langs:
                if not value.get(lang, "").strip():
                    errors.append(Problem(path, f"has no {lang} translation"))
            for lang in value:
                if lang not in langs:
                    errors.append(Problem(f"{path}.{lang}", f"unknown language {lang!r}"))
        elif not value.strip():
            errors.append(Problem(path, "is empty"))
        elif len(langs) > 1 and path.startswith("defaults.phrases"):
            # A built-in phrase may stay in one language, but a caller who chose another
            # would hear it in the wrong words: worth telling the author.
            warnings.append(Problem(path, f"has one text for every language ({', '.join(langs)})"))
        elif len(langs) > 1:
            errors.append(
                Problem(path, f"needs a translation for each language ({', '.join(langs)})")
            )
        name = path.rsplit(".", 1)[-1]
        allowed = _ALLOWED_PLACEHOLDERS.get(name, set()) if path.startswith("defaults.") else set()
        for text in value.values() if isinstance(value, dict) else [value]:
            for ph in _PLACEHOLDER.findall(text):
                if ph not in allowed:
                    errors.append(Problem(path, f"unknown placeholder {{{ph}}}"))

    if not errors:
        menu = Menu(f)
        for node_id in sorted(set(nodes) - menu.reachable()):
            warnings.append(Problem(f"nodes.{node_id}", "is not reachable from the start node"))
    return errors, warnings


def _hours_loops(nodes: dict[str, Any]) -> list[Problem]:
    """Hours nodes that lead back to themselves through hours nodes only (an endless loop)."""
    problems = []
    for node_id, node in nodes.items():
        if not isinstance(node, HoursNode):
            continue
        todo, seen = [node.open, node.closed], set()
        while todo:
            target = todo.pop()
            if target == node_id:
                problems.append(
                    Problem(f"nodes.{node_id}", "leads back to itself through hours nodes only")
                )
                break
            nxt = nodes.get(target)
            if isinstance(nxt, HoursNode) and target not in seen:
                seen.add(target)
                todo.extend([nxt.open, nxt.closed])
    return problems


def parse_menu(text: str, source: str = "menus.json") -> Menu:
    """Validate menu JSON ``text``; raise :class:`MenuError` with every located problem."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise MenuError(
            source, [Problem("", f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]
        ) from None
    except _DuplicateKey as exc:
        line, col = _duplicate_position(text, exc.key)
        raise MenuError(
            source, [Problem("", f"duplicate key {exc.key!r} in one object", line, col)]
        ) from None
    try:
        model = MenuFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            line, col = _locate(text, path)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = "is not a known field (check the spelling)"
            elif err["type"] == "union_tag_invalid":
                msg = f"unknown node kind; use one of: {', '.join(NODE_KINDS)}"
            problems.append(Problem(path, msg, line, col))
        raise MenuError(source, problems) from None
    errors, warnings = _check(model)
    if errors:
        located = [Problem(p.path, p.message, *_locate(text, p.path)) for p in errors]
        raise MenuError(source, located)
    located = [Problem(p.path, p.message, *_locate(text, p.path)) for p in warnings]
    return Menu(model, source, located)


def _duplicate_position(text: str, key: str) -> tuple[int | None, int | None]:
    """Where ``key`` appears a second time (close enough to point an author at it)."""
    hits = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    if len(hits) < 2:
        return None, None
    pos = hits[1]
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def load_menu(path: str | Path) -> Menu:
    """Read and validate a menu file; raise :class:`MenuError` if it cannot be used."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuError(str(p), [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise MenuError(str(p), [Problem("", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_menu(text, str(p))
