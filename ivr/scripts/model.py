"""The call script model (pydantic): what a scenario does, what it expects, and its JSON Schema.

A script holds one scenario, or several under ``calls:`` with shared settings beside them. The
vocabulary of issue 13 is fixed (scripts written today keep working); the rest extends it.
Values arrive from YAML as strings (see ``loader``), so numbers and booleans are converted here
and YAML 1.1 surprises (``press: 012``, ``say: no``, ``from: +44...``) cannot happen.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
)

SCHEMA_FILE = "callscript.schema.json"
SCHEMA_ID = "https://ivr101.example/callscript.schema.json"
LONDON = ZoneInfo("Europe/London")

QUEUE_BEHAVIOURS = ("answer", "full", "hangup", "error")
"""What a queue does, in the fixed vocabulary."""
QUEUE_RESULTS_LATER = (
    "system-error",
    "redirected",
    "redirected-from-bridged",
    "bridging-in-process",
)
"""Twilio's other QueueResults; usable once the simulator can produce them (issue 15)."""
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed")
OUTCOMES = ("enqueued", "dialled", "message", "hangup", "caller-hangup", "rejected", "error")
INPUT_STEPS = ("press", "say", "silence", "hangup")
LISTEN_STEPS = ("hear", "hear_re", "not_hear")
STEP_KINDS = INPUT_STEPS + LISTEN_STEPS

QueueBehaviour = Literal[
    "answer",
    "full",
    "hangup",
    "error",
    "system-error",
    "redirected",
    "redirected-from-bridged",
    "bridging-in-process",
]
DialStatus = Literal["completed", "busy", "no-answer", "failed"]


def _as_list(value: Any) -> Any:
    """One value, or a list of them in the order the call meets them."""
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> Any:
    """Numbers written without quotes (``press: 1`` from JSON or Python) are their text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _one_or_many(item: dict[str, Any], description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"description": description, "anyOf": [item, {"type": "array", "items": item}]}
    )


Keys = Annotated[
    str,
    BeforeValidator(_text),
    Field(pattern=r"^[0-9*#]+$"),
    WithJsonSchema(
        {
            "description": 'Keys to press: 0-9, * and #, e.g. "1" or "12#".',
            "anyOf": [{"type": "string", "pattern": "^[0-9*#]+$"}, {"type": "integer"}],
        }
    ),
]
Phrase = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
Number = Annotated[
    str,
    BeforeValidator(_text),
    Field(min_length=1),
    WithJsonSchema(
        {
            "description": "A phone number (any UK or E.164 form) or a client/sip address.",
            "anyOf": [{"type": "string"}, {"type": "integer"}],
        }
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- steps ---------------------------------------------------------------------------------


class _Input(_Model):
    barge_in: bool | None = Field(
        None,
        description="Act as soon as the prompt offering this choice has been heard, without "
        "waiting for the whole menu (Twilio's barge-in). Default: the script's barge_in.",
    )


class Press(_Input):
    """Press keys at the next prompt that listens."""

    press: Keys = Field(description="Keys to press at the next prompt that listens.")


class Say(_Input):
    """Say words at the next prompt that listens (Twilio's speech recognition)."""

    say: Phrase = Field(description="Words to say at the next prompt that listens.")


class Silence(_Model):
    """Stay silent at the next prompt that listens, until its timeout."""

    silence: Literal[True] = Field(description="true: stay silent at the next prompt.")

    @field_validator("silence", mode="before")
    @classmethod
    def _true(cls, value: Any) -> Any:
        return True if str(value).lower() in ("true", "yes", "on") else value


class Hangup(_Model):
    """Hang up at the next prompt that listens."""

    hangup: Literal[True] = Field(description="true: hang up at the next prompt.")

    @field_validator("hangup", mode="before")
    @classmethod
    def _true(cls, value: Any) -> Any:
        return True if str(value).lower() in ("true", "yes", "on") else value


class Hear(_Model):
    """Wait until spoken words contain this (case-insensitive; digits match however grouped)."""

    hear: Phrase = Field(
        description="Wait until something spoken after the previous step contains this "
        "(case-insensitive; '0300 123 2040' matches '0 3 0 0, 1 2 3, 2 0 4 0'). The caller "
        "stays silent at prompts while waiting."
    )


class HearRe(_Model):
    """Wait until spoken words match this regular expression (case-insensitive)."""

    hear_re: Phrase = Field(
        description="Like hear, with a regular expression (Python syntax, case-insensitive)."
    )

    @field_validator("hear_re")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class NotHear(_Model):
    """Nothing spoken from here until the next press/say/silence/hangup contains this."""

    not_hear: Phrase = Field(
        description="Nothing spoken from this point until the next input step (or the end of "
        "the call) contains this."
    )


def step_kind(value: Any) -> str | None:
    """Which step a mapping is: the one step word it holds (the loader explains the rest)."""
    if isinstance(value, dict):
        found = [k for k in STEP_KINDS if k in value]
        return found[0] if len(found) == 1 else None
    for kind in STEP_KINDS:
        if hasattr(value, kind):
            return kind
    return None


Step = Annotated[
    Annotated[Press, Tag("press")]
    | Annotated[Say, Tag("say")]
    | Annotated[Silence, Tag("silence")]
    | Annotated[Hangup, Tag("hangup")]
    | Annotated[Hear, Tag("hear")]
    | Annotated[HearRe, Tag("hear_re")]
    | Annotated[NotHear, Tag("not_hear")],
    Discriminator(
        step_kind,
        custom_error_type="step",
        custom_error_message="a step is one of: " + ", ".join(STEP_KINDS),
    ),
]


# -- expectations ----------------------------------------------------------------------------


class Expect(_Model):
    """What must hold at the end of the call; every one given is checked."""

    queue: str | None = Field(None, description="The call ended up enqueued in this queue.")
    transfer: Number | None = Field(
        None, description="The call dialled this number (any UK or E.164 form)."
    )
    message: Phrase | None = Field(
        None,
        description="The last words heard (after the caller's last key, words or silence) "
        "contain this.",
    )
    hangup: bool | None = Field(
        None, description="true: the app ended the call; false: the caller did."
    )
    language: str | None = Field(
        None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="The last prompt's language."
    )
    max_seconds: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Simulated seconds until the call reached its destination (the queue or "
        "the transfer it ended in), or to its end.",
    )
    outcome: Literal[OUTCOMES] | None = Field(  # type: ignore[valid-type]
        None,
        description="How the call ended, in the simulator's words: enqueued, dialled, message, "
        "hangup (the app hung up), caller-hangup, rejected or error.",
    )
    queue_result: str | None = Field(
        None, description="Twilio's QueueResult for the last queue (bridged, queue-full, ...)."
    )
    not_heard: (
        Annotated[
            list[Phrase],
            BeforeValidator(_as_list),
            _one_or_many({"type": "string", "minLength": 1}, "Words never spoken in the call."),
        ]
        | None
    ) = Field(None, description="Words never spoken anywhere in the call (one phrase or a list).")
    node: str | None = Field(
        None,
        description="The menu node where the call ended (this project's app in-process only).",
    )


# -- a scenario --------------------------------------------------------------------------------


class Settings(_Model):
    """How a call is placed; in a file with ``calls:``, these at the top apply to every call."""

    from_: Number | None = Field(None, alias="from", description="Caller ID (From).")
    to: Number | None = Field(None, description="The number called (To).")
    at: (
        Annotated[
            datetime,
            WithJsonSchema(
                {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$"}
            ),
        ]
        | None
    ) = Field(
        None,
        description="The app's clock for this call, e.g. 2026-11-30T09:00 (Europe/London unless "
        "an offset is given). In-process only.",
    )
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Any TwiML app's voice URL; default: this project's app in-process.",
    )
    method: Literal["POST", "GET"] | None = Field(
        None, description="HTTP method of the first request (default POST)."
    )
    menu: str | None = Field(
        None, description="Menu file for the in-process app, relative to this script."
    )
    queue: (
        Annotated[
            list[QueueBehaviour],
            BeforeValidator(_as_list),
            _one_or_many(
                {"enum": list(QUEUE_BEHAVIOURS + QUEUE_RESULTS_LATER)}, "What a queue does."
            ),
        ]
        | None
    ) = Field(
        None,
        description="What a queue does: answer, full, hangup or error (default answer); a list "
        "gives each queue the call meets its own, the last repeating.",
    )
    dial: (
        Annotated[
            list[DialStatus],
            BeforeValidator(_as_list),
            _one_or_many({"enum": list(DIAL_STATUSES)}, "What a <Dial> gets."),
        ]
        | None
    ) = Field(
        None,
        description="What a <Dial> gets: completed, busy, no-answer or failed (default "
        "completed); a list for several dials in turn.",
    )
    waits: Annotated[int, Field(ge=0, le=100)] | None = Field(
        None, description="Hold documents heard in a queue before it answers or hangs up."
    )
    queue_position: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        None, description="The caller's position in a queue (Twilio's QueuePosition; default 3)."
    )
    average_wait: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Twilio's AvgQueueTime in seconds (default 60)."
    )
    barge_in: bool | None = Field(
        None, description="Press each key as soon as the prompt offering it has been heard."
    )
    status_callback: str | None = Field(
        None,
        description="Where the call status callback goes when the call ends (relative to the "
        "URL allowed); default: /status in-process, none with a url.",
    )

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a date and time like 2026-11-30T09:00"
                ) from None
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=LONDON)  # UK local time, as in the menu file
        return value

    @field_validator("queue", "dial", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return _as_list(value)


class Scenario(Settings):
    """One call: how it is placed, what the caller does, and what must happen."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"title": "Call script"},
    )

    name: str | None = Field(None, description="What the call shows; names the test.")
    skip: str | None = Field(None, description="Do not run this call; the reason why.")
    steps: list[Step] = Field(
        default_factory=list,
        description="What the caller does and hears, in order.",
    )
    expect: Expect | None = Field(None, description="What must hold at the end of the call.")

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        return [] if value is None else value


class CallFile(Settings):
    """Several calls, with settings shared by all of them."""

    calls: list[Scenario] = Field(description="The calls, each a scenario.")


SCENARIO_FIELDS = frozenset((f.alias or n) for n, f in Scenario.model_fields.items()) | {"from"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a call script: one scenario, or ``calls:``."""
    scenario = Scenario.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    calls = CallFile.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = {**scenario.pop("$defs", {}), **calls.pop("$defs", {})}
    defs["Scenario"] = scenario
    defs["CallFile"] = calls
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ivr101 call script",
        "description": "A call script for `ivr test`: one scenario, or several under calls:.",
        "anyOf": [{"$ref": "#/$defs/CallFile"}, {"$ref": "#/$defs/Scenario"}],
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as ``callscript.schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
