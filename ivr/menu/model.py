"""The menu file's model (pydantic): every field of ``menus.json``, its type, default and meaning.

What the file may say, and nothing about what it means at run time: routing lives in
:mod:`ivr.menu.routing`, loading with located problems in :mod:`ivr.menu.loading`, checks
across nodes in :mod:`ivr.menu.checks`. The JSON Schema for editors is generated from here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ..numbers import to_e164
from .hours import Schedule, zone

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
    callback_failed: Text = Field(
        "Sorry, we could not arrange a call back just now. You are still in the queue.",
        description="Said when a confirmed callback request could not be stored: the caller "
        "is not promised a call and keeps their place in the queue.",
    )


class Budget(_Model):
    """Listening budgets: the most seconds of speech before a caller reaches a destination."""

    main: float | None = Field(
        30,
        ge=1,
        le=600,
        description=(
            "Seconds for the destinations listed in `defaults.checks.main`, by the quickest "
            "route of "
            "keys; none: no limit."
        ),
    )
    any: float | None = Field(
        60,
        ge=1,
        le=600,
        description="Seconds for every destination a caller reaches by keys; none: no limit.",
    )


class Checks(_Model):
    """What `ivr validate` warns about for callers' sake (public-sector IVR guidance and
    contact-centre practice). A warning never stops the menu being served; `ivr validate
    --strict` and `ivr publish` refuse it.

    Times are what `ivr paths` measures: the speech a caller listens to, pressing as soon as
    they hear their option.
    """

    main: list[str] = Field(
        default_factory=list,
        description=(
            "The destinations (queue, transfer or message nodes) most callers want: "
            "`defaults.budget.main` applies to them, `defaults.budget.any` to the rest."
        ),
    )
    max_options: int = Field(
        5, ge=1, le=12, description="Most options one menu may offer (a language choice counts)."
    )
    max_menus: int = Field(
        3, ge=1, le=20, description="Most menus a caller may go through to reach a destination."
    )
    max_prompt_seconds: float = Field(
        20,
        ge=1,
        le=600,
        description=(
            "Longest time one node may speak: a menu until its last option has been offered, "
            "or a message, queue, transfer or goodbye's words."
        ),
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
    checks: Checks = Field(
        default_factory=Checks,
        description=(
            "Caller-experience limits `ivr validate` warns about: options per menu, menus deep, "
            "time to speak and the main destinations (the listening budget is `budget`)."
        ),
    )
    budget: Budget = Field(
        default_factory=Budget,
        description=(
            'Listening budgets, e.g. {"main": 30, "any": 60}, for every language: '
            "`ivr validate` warns about a destination slower to reach."
        ),
    )
    budgets: dict[str, Budget] = Field(
        default_factory=dict,
        description=(
            "Per language, budgets that replace `budget` for callers in it, e.g. "
            '{"cy-GB": {"main": 35, "any": 55}}: the choice of language itself is '
            "speech those callers hear first."
        ),
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
