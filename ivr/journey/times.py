"""Durations and moments as people type them (``90d``, ``2026-11-01T09:30``), in UK time."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import JourneyError

LONDON = ZoneInfo("Europe/London")

_DURATION = re.compile(r"^\s*(\d+)\s*([wdhms])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """Parse ``90d``, ``12h``, ``30m`` (also ``2w``, ``45s``) into a timedelta."""
    m = _DURATION.match(text or "")
    if not m:
        raise JourneyError(f"{text!r} is not a duration like 90d, 12h or 30m")
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def parse_time(text: str, now: float | None = None) -> float:
    """Parse a report bound: ``2026-11-01``, ``2026-11-01T09:30`` (UK time) or ``7d`` (ago)."""
    now = time.time() if now is None else now
    if _DURATION.match(text or ""):
        return now - parse_duration(text).total_seconds()
    try:
        moment = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise JourneyError(f"{text!r} is not a date, a date and time, or a duration") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.timestamp()


def local_time(at: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format an epoch time in UK time."""
    if at is None:
        return ""
    return datetime.fromtimestamp(at, LONDON).strftime(fmt)
