"""Opening hours: wall-clock ranges in Europe/London across clock changes, and closures."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ivr.menu.hours import DAYS, Closure, Schedule, is_open, parse_range

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")

OFFICE = Schedule.model_validate(
    {
        "timezone": "Europe/London",
        "weekly": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": ["09:00-12:30", "13:30-16:00"]},
        "closures": [
            {"date": "2026-12-25", "name": "Christmas Day", "say": "Closed for Christmas."},
            {"date": "2026-12-28", "until": "2026-12-29", "say": "Closed until Wednesday."},
        ],
    }
)

# Open through the night of the clock changes, to see the skipped and repeated hours.
NIGHTS = Schedule.model_validate(
    {"weekly": {"sat": ["22:00-03:00"], "sun": ["01:00-02:00"]}, "closures": []}
)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Winter (GMT = UTC): Monday 30 November 2026.
        (utc(2026, 11, 30, 7, 59, 59), False),
        (utc(2026, 11, 30, 8, 0), True),
        (utc(2026, 11, 30, 17, 59), True),
        (utc(2026, 11, 30, 18, 0), False),
        # Summer (BST = UTC+1): 08:00 local is 07:00 UTC.
        (utc(2026, 7, 6, 6, 59), False),
        (utc(2026, 7, 6, 7, 0), True),
        (utc(2026, 7, 6, 16, 59), True),
        (utc(2026, 7, 6, 17, 0), False),
        # Saturday lunch break, and Sunday closed all day.
        (utc(2026, 12, 5, 12, 29), True),
        (utc(2026, 12, 5, 12, 30), False),
        (utc(2026, 12, 5, 13, 30), True),
        (utc(2026, 12, 6, 12, 0), False),
        # Monday after the March change (29 March 2026): BST already.
        (utc(2026, 3, 30, 7, 0), True),
        (utc(2026, 3, 27, 7, 0), False),  # Friday before: still GMT, 07:00 local
        # Monday after the October change (25 October 2026): GMT again.
        (utc(2026, 10, 26, 7, 0), False),
        (utc(2026, 10, 23, 7, 0), True),  # Friday before: still BST, 08:00 local
    ],
)
def test_weekly_hours_follow_the_london_clock(at: dt.datetime, expected: bool) -> None:
    assert is_open(OFFICE, at) == (expected, None)


def test_other_zones_give_the_same_answer_for_the_same_instant() -> None:
    at = dt.datetime(2026, 7, 6, 3, 0, tzinfo=ZoneInfo("America/New_York"))  # 08:00 BST
    assert is_open(OFFICE, at) == (True, None)


def test_march_change_day_skips_one_to_two_local() -> None:
    # Sunday 29 March 2026: at 01:00 GMT clocks go to 02:00 BST.
    assert is_open(NIGHTS, utc(2026, 3, 29, 0, 59)) == (True, None)  # 00:59 GMT, Saturday's range
    # The next instant is 02:00 BST: Saturday's range ran to 03:00 local, so still open.
    assert utc(2026, 3, 29, 1, 0).astimezone(LONDON).hour == 2
    assert is_open(NIGHTS, utc(2026, 3, 29, 1, 0)) == (True, None)
    assert is_open(NIGHTS, utc(2026, 3, 29, 1, 59)) == (True, None)  # 02:59 BST
    assert is_open(NIGHTS, utc(2026, 3, 29, 2, 0)) == (False, None)  # 03:00 BST


def test_march_change_day_range_inside_the_skipped_hour_never_opens() -> None:
    sunday_only = Schedule(weekly={"sun": ["01:00-02:00"]})
    # Every minute of Sunday 29 March 2026 (23 hours long in London).
    start = utc(2026, 3, 29, 0, 0)  # local midnight (GMT)
    minutes = [start + dt.timedelta(minutes=m) for m in range(23 * 60)]
    assert not any(is_open(sunday_only, m)[0] for m in minutes)
    # A normal Sunday opens for 60 minutes.
    normal = [utc(2026, 3, 22, 0, 0) + dt.timedelta(minutes=m) for m in range(24 * 60)]
    assert sum(is_open(sunday_only, m)[0] for m in normal) == 60


def test_october_change_day_repeats_one_to_two_local_and_both_count() -> None:
    sunday_only = Schedule(weekly={"sun": ["01:00-02:00"]})
    # Sunday 25 October 2026: 01:30 local happens at 00:30 UTC (BST) and at 01:30 UTC (GMT).
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert first.astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"
    assert second.astimezone(LONDON).strftime("%H:%M %Z") == "01:30 GMT"
    assert is_open(sunday_only, first) == (True, None)
    assert is_open(sunday_only, second) == (True, None)
    day = [utc(2026, 10, 24, 23, 0) + dt.timedelta(minutes=m) for m in range(25 * 60)]
    assert sum(is_open(sunday_only, m)[0] for m in day) == 120


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 12, 5, 21, 59), False),  # Saturday 21:59 GMT
        (utc(2026, 12, 5, 22, 0), True),
        (utc(2026, 12, 5, 23, 59, 59), True),
        (utc(2026, 12, 6, 0, 0), True),  # midnight: Saturday's range carries on into Sunday
        (utc(2026, 12, 6, 2, 59), True),
        (utc(2026, 12, 6, 3, 0), False),
        (utc(2026, 12, 7, 0, 30), False),  # Sunday's own range is 01:00-02:00
        (utc(2026, 12, 6, 1, 30), True),
    ],
)
def test_overnight_ranges_cross_midnight(at: dt.datetime, expected: bool) -> None:
    assert is_open(NIGHTS, at)[0] is expected


def test_whole_day_range_includes_midnight_and_the_last_minute() -> None:
    always = Schedule(weekly={"mon": ["00:00-24:00"]})
    assert is_open(always, utc(2026, 11, 30, 0, 0))[0]
    assert is_open(always, utc(2026, 11, 30, 23, 59, 59))[0]
    assert not is_open(always, utc(2026, 12, 1, 0, 0))[0]
    assert not is_open(always, utc(2026, 11, 29, 23, 59, 59))[0]


def test_a_closure_shuts_a_normal_opening_day_and_says_which() -> None:
    is_open_now, closure = is_open(OFFICE, utc(2026, 12, 25, 10, 0))  # a Friday
    assert not is_open_now
    assert closure is not None and closure.name == "Christmas Day"
    assert closure.say == "Closed for Christmas."


def test_a_closure_runs_from_local_midnight_to_local_midnight() -> None:
    summer = Schedule(
        weekly={"thu": ["00:00-24:00"], "fri": ["00:00-24:00"]},
        closures=[Closure(date=dt.date(2026, 8, 14), say="Closed.")],  # a Friday, BST
    )
    # 23:30 UTC on Thursday 13 August is 00:30 BST on the closed Friday.
    assert is_open(summer, utc(2026, 8, 13, 22, 59))[1] is None
    assert is_open(summer, utc(2026, 8, 13, 23, 0))[1] is not None
    assert is_open(summer, utc(2026, 8, 14, 22, 59))[1] is not None
    assert is_open(summer, utc(2026, 8, 14, 23, 0)) == (False, None)  # Saturday, no hours


def test_a_closure_spans_days_inclusive() -> None:
    assert is_open(OFFICE, utc(2026, 12, 28, 9, 0))[1].say == "Closed until Wednesday."
    assert is_open(OFFICE, utc(2026, 12, 29, 17, 0))[1].say == "Closed until Wednesday."
    assert is_open(OFFICE, utc(2026, 12, 30, 9, 0)) == (True, None)


def test_a_closure_cuts_short_an_overnight_range_at_midnight() -> None:
    s = Schedule(
        weekly={"sat": ["22:00-03:00"]},
        closures=[Closure(date=dt.date(2026, 12, 6), say="Closed Sunday.")],
    )
    assert is_open(s, utc(2026, 12, 5, 23, 0)) == (True, None)
    assert is_open(s, utc(2026, 12, 6, 1, 0))[0] is False


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(OFFICE, dt.datetime(2026, 12, 1, 9, 0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("08:00-18:00", (480, 1080)), ("00:00-24:00", (0, 1440)), ("22:00-06:30", (1320, 390))],
)
def test_parse_range(value: str, expected: tuple[int, int]) -> None:
    assert parse_range(value) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekly": {"mon": ["8:00-18:00"]}}, "pattern"),
        ({"weekly": {"mon": ["08:00-24:30"]}}, "after 24:00"),
        ({"weekly": {"mon": ["09:00-09:00"]}}, "same time"),
        ({"weekly": {"monday": ["09:00-17:00"]}}, "mon"),
        ({"weekly": {}, "timezone": "Europe/Londn"}, "unknown time zone"),
        (
            {"weekly": {}, "closures": [{"date": "2026-12-26", "until": "2026-12-25", "say": "x"}]},
            "before",
        ),
    ],
)
def test_bad_schedules_are_refused(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Schedule.model_validate(data)


# -- against a plain model of the week ---------------------------------------------------------

_minute = st.integers(0, 24 * 60 - 1)


@st.composite
def schedules(draw) -> Schedule:
    weekly: dict[str, list[str]] = {}
    for day in draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=7)):
        ranges = []
        for _ in range(draw(st.integers(1, 2))):
            start, end = draw(_minute), draw(st.integers(0, 24 * 60))
            if start == end:
                end = (end + 1) % (24 * 60) or 24 * 60
            ranges.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
        weekly[day] = ranges
    return Schedule(weekly=weekly)


def open_minutes(schedule: Schedule) -> set[tuple[int, int]]:
    """Every (weekday, minute of the day) the timetable is open, spelled out one by one."""
    slots = set()
    for day, ranges in schedule.weekly.items():
        d = DAYS.index(day)
        for r in ranges:
            start, end = parse_range(r)
            stop = end if end > start else end + 24 * 60  # overnight: into the next day
            for m in range(start, stop):
                slots.add(((d + m // (24 * 60)) % 7, m % (24 * 60)))
    return slots


@settings(max_examples=200, deadline=None)
@given(
    schedule=schedules(),
    at=st.datetimes(
        min_value=dt.datetime(2026, 1, 1),
        max_value=dt.datetime(2028, 12, 31),
        timezones=st.just(UTC),
    ),
)
def test_is_open_agrees_with_the_week_spelled_out(schedule: Schedule, at: dt.datetime) -> None:
    local = at.astimezone(LONDON)
    expected = (local.weekday(), local.hour * 60 + local.minute) in open_minutes(schedule)
    assert is_open(schedule, at) == (expected, None)
