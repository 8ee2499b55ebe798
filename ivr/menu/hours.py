"""Opening hours: a weekly timetable in a named time zone, and dated closures.

Pure: nothing here reads the clock. Callers pass the moment to test (an aware datetime), so
routing is the same in tests, in the simulator and on a live call.

Times are wall-clock times in the schedule's zone, so "08:00-18:00" means 8 am to 6 pm in London
in winter (GMT) and in summer (BST) alike. On the March change day local 01:00-02:00 never
happens; on the October change day it happens twice, and both count.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_RANGE = re.compile(
    r"^(?P<start>[01]\d|2[0-3]):(?P<sm>[0-5]\d)-(?P<end>[01]\d|2[0-4]):(?P<em>[0-5]\d)$"
)
RANGE_PATTERN = _RANGE.pattern

Range = Annotated[
    str,
    Field(
        pattern=RANGE_PATTERN,
        description=(
            "Opening time and closing time, 24-hour local clock, e.g. '08:00-18:00'; "
            "'00:00-24:00' is the whole day; an end before the start runs past midnight "
            "into the next day, e.g. '22:00-06:00'."
        ),
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Closure(_Model):
    """A day (or run of days) when the service is closed whatever the weekly hours say."""

    date: dt.date = Field(description="The first (or only) closed day, e.g. 2026-12-25.")
    until: dt.date | None = Field(
        None, description="The last closed day, inclusive, when the closure spans several days."
    )
    name: str | None = Field(None, description="What the closure is, e.g. 'Christmas Day'.")
    say: str | dict[str, str] = Field(
        description="Said to callers on the closed day(s), before the hours node's `closed` node."
    )

    @model_validator(mode="after")
    def _in_order(self) -> Closure:
        if self.until is not None and self.until < self.date:
            raise ValueError("`until` is before `date`")
        return self

    def covers(self, day: dt.date) -> bool:
        """Whether local calendar ``day`` falls in this closure."""
        return self.date <= day <= (self.until or self.date)


class Schedule(_Model):
    """Weekly opening hours in a named IANA time zone, with dated closures."""

    timezone: str = Field(
        "Europe/London",
        description="IANA time zone the hours are read in, e.g. Europe/London (follows BST/GMT).",
    )
    weekly: dict[Day, list[Range]] = Field(
        description=(
            "Opening hours per day: mon, tue, wed, thu, fri, sat, sun, each a list of "
            "'HH:MM-HH:MM' ranges; a day not listed (or an empty list) is closed."
        ),
    )
    closures: list[Closure] = Field(
        default_factory=list,
        description="Dated closures such as bank holidays, each with its own message.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("weekly")
    @classmethod
    def _ranges_not_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            for r in ranges:
                start, end = parse_range(r)
                if start == end:
                    raise ValueError(f"{day}: {r!r} opens and closes at the same time")
        return value


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ZoneInfo("Europe") is a directory, not a zone: an OSError, not ZoneInfoNotFoundError.
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/London)"
        ) from None


def parse_range(value: str) -> tuple[int, int]:
    """``'08:00-18:30'`` as minutes after midnight: ``(480, 1110)``."""
    m = _RANGE.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a range like '08:00-18:00'")
    start = int(m["start"]) * 60 + int(m["sm"])
    end = int(m["end"]) * 60 + int(m["em"])
    if end > 24 * 60:
        raise ValueError(f"{value!r} closes after 24:00")
    return start, end


def local(schedule: Schedule, at: dt.datetime) -> dt.datetime:
    """``at`` as wall-clock time in the schedule's zone; ``at`` must be timezone-aware."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("opening hours need an aware datetime (with a time zone)")
    return at.astimezone(zone(schedule.timezone))


def closure_on(schedule: Schedule, day: dt.date) -> Closure | None:
    """The first closure covering local calendar ``day``, if any."""
    return next((c for c in schedule.closures if c.covers(day)), None)


def _open_by_timetable(schedule: Schedule, when: dt.datetime) -> bool:
    minute = when.hour * 60 + when.minute
    today = DAYS[when.weekday()]
    yesterday = DAYS[(when.weekday() - 1) % 7]
    for r in schedule.weekly.get(today, []):
        start, end = parse_range(r)
        if start < end and start <= minute < end:
            return True
        if start > end and minute >= start:  # opens tonight, closes after midnight
            return True
    for r in schedule.weekly.get(yesterday, []):
        start, end = parse_range(r)
        if start > end and minute < end:  # yesterday's overnight range, still running
            return True
    return False


def is_open(schedule: Schedule, at: dt.datetime) -> tuple[bool, Closure | None]:
    """Whether the service is open at ``at``; when a closure shuts it, that closure too.

    A closure covers whole local calendar days (midnight to midnight in the schedule's zone),
    including the morning part of an overnight range that began the evening before.
    """
    when = local(schedule, at)
    closure = closure_on(schedule, when.date())
    if closure is not None:
        return False, closure
    return _open_by_timetable(schedule, when), None


def sample_moments(schedule: Schedule, start: dt.datetime) -> dict[str, dt.datetime]:
    """A moment when the schedule is open and one when it is closed by its weekly hours (not a
    closure), searched in half hours over the week from ``start``: for walking both routes of
    an hours node offline. Either is missing if the week never has it."""
    found: dict[str, dt.datetime] = {}
    for step in range(7 * 48):
        at = start + dt.timedelta(minutes=30 * step)
        open_now, closure = is_open(schedule, at)
        if closure is None:
            found.setdefault("open" if open_now else "closed", at)
        if len(found) == 2:
            break
    return found
