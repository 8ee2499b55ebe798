"""The journey log: every step of every call in a SQL database, read back as journeys and reports.

The parts, each with one job:

- ``log``: :class:`JourneyLog`, the recorder (a cheap durable ``record()``, a writer thread);
- ``spool``: the local file that keeps what a killed process had not written yet;
- ``rows``: records as rows every database accepts, written once; personal data protected;
- ``schema`` and ``migrate`` (with ``migrations/``, Alembic): the tables and their upgrades;
- ``queries``: reading back calls, journeys and callbacks; retention;
- ``report``: the report's figures; ``render``: the report and a call's steps for people;
- ``times``: durations and moments as people type them.

Caller numbers are personal data: they are stored masked (default), as a keyed HMAC, or not at
all (``caller_storage``). The one exception is the number a caller asks to be called back on,
which is kept until the callback is done or ``callback_number_retention`` has passed.
"""

from __future__ import annotations

from .log import DEFAULT_URL, JourneyLog, spool_folder
from .migrate import head as schema_head
from .queries import Callback, StoredCall
from .render import FORMATS, describe_event, render
from .report import MenuFacts, Report, percentile, summary
from .times import local_time, parse_duration, parse_time

__all__ = [
    "DEFAULT_URL",
    "FORMATS",
    "Callback",
    "JourneyLog",
    "MenuFacts",
    "Report",
    "StoredCall",
    "describe_event",
    "local_time",
    "parse_duration",
    "parse_time",
    "percentile",
    "render",
    "schema_head",
    "spool_folder",
    "summary",
]
