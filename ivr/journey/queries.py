"""Reading the journey log back: calls, journeys, callbacks to make, retention, report data."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import CallbackNotFound, JourneyError
from ..events import Event
from ..numbers import mask
from .report import MenuFacts, Report, ReportBuilder
from .rows import chunks, to_event
from .schema import callbacks, calls, events
from .times import local_time


@dataclass(frozen=True)
class StoredCall:
    """One call as the ``calls`` table holds it (not the simulator's ``ivr.caller.CallRecord``)."""

    call_sid: str
    started: float
    ended: float | None = None
    status: str | None = None
    duration: int | None = None
    caller: str | None = None
    """Masked, hashed (``hmac-sha256:...``) or None, per ``caller_storage``."""
    language: str | None = None


@dataclass(frozen=True)
class Callback:
    """A caller's request to be called back instead of holding."""

    id: str
    call_sid: str
    number: str
    """E.164 while the callback is to be made; masked once it is done or too old."""
    queue: str | None
    node: str | None
    position: int | None
    wait: int | None
    requested_at: float
    done_at: float | None = None
    notes: str | None = None
    path: tuple[str, ...] = ()
    """The options the caller chose on the way, in order (filled in by pending_callbacks)."""

    @property
    def number_kept(self) -> bool:
        """False once the number has been removed (masked) under the retention rules."""
        return "*" not in self.number

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = list(self.path)
        return d


def call(conn: Connection, call_sid: str) -> StoredCall | None:
    """The call's summary row, or None."""
    row = conn.execute(sa.select(calls).where(calls.c.call_sid == call_sid)).first()
    return StoredCall(**row._asdict()) if row else None


def journey(conn: Connection, call_sid: str) -> list[Event]:
    """Every recorded step of one call, in order."""
    rows = conn.execute(
        sa.select(events).where(events.c.call_sid == call_sid).order_by(events.c.at, events.c.id)
    ).all()
    return [to_event(r) for r in rows]


def recent_calls(conn: Connection, limit: int = 20) -> list[StoredCall]:
    """The latest calls, newest first."""
    rows = conn.execute(sa.select(calls).order_by(calls.c.started.desc()).limit(limit)).all()
    return [StoredCall(**r._asdict()) for r in rows]


def pending_callbacks(conn: Connection) -> list[Callback]:
    """Callback requests not yet done, oldest first, with the options each caller chose."""
    rows = conn.execute(
        sa.select(callbacks)
        .where(callbacks.c.done_at.is_(None))
        .order_by(callbacks.c.requested_at, callbacks.c.id)
    ).all()
    paths: dict[str, list[str]] = defaultdict(list)
    for chunk in chunks(list({r.call_sid for r in rows})):
        for e in conn.execute(
            sa.select(events.c.call_sid, events.c.option)
            .where(events.c.call_sid.in_(chunk), events.c.option.is_not(None))
            .where(events.c.outcome.not_in(("invalid", "silence")))
            .order_by(events.c.at, events.c.id)
        ):
            paths[e.call_sid].append(e.option)
    return [Callback(**r._asdict(), path=tuple(paths.get(r.call_sid, ()))) for r in rows]


def complete_callback(engine: Engine, callback_id: str, notes: str | None = None) -> Callback:
    """Mark a callback done and mask its number: it is not needed any more."""
    prefix = (callback_id or "").strip().lower()
    if len(prefix) < 4:
        raise CallbackNotFound(callback_id)
    try:
        with engine.begin() as conn:
            found = conn.execute(
                sa.select(callbacks).where(callbacks.c.id.startswith(prefix, autoescape=True))
            ).all()
            if len(found) != 1:
                raise CallbackNotFound(callback_id, len(found))
            row = found[0]
            if row.done_at is not None:
                raise JourneyError(
                    f"callback {row.id[:8]} was already done at {local_time(row.done_at)}"
                )
            changes: dict[str, Any] = {"done_at": time.time(), "number": mask(row.number)}
            if notes:
                changes["notes"] = f"{row.notes}\n{notes}" if row.notes else notes
            conn.execute(callbacks.update().where(callbacks.c.id == row.id).values(**changes))
    except sa.exc.SQLAlchemyError as exc:
        raise JourneyError(f"cannot update the journey log: {exc}") from exc
    return Callback(**(row._asdict() | changes))


def purge_callback_numbers(engine: Engine, requested_before: float) -> int:
    """Mask the numbers of callbacks that are done, or were requested before the cutoff."""
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(callbacks.c.id, callbacks.c.number)
            .where(
                sa.or_(
                    callbacks.c.done_at.is_not(None), callbacks.c.requested_at < requested_before
                )
            )
            .where(callbacks.c.number.not_like("%*%"))
        ).all()
        for row in found:
            conn.execute(
                callbacks.update().where(callbacks.c.id == row.id).values(number=mask(row.number))
            )
    return len(found)


def purge(engine: Engine, cutoff: float, dry_run: bool = False) -> dict[str, int]:
    """Delete (or, ``dry_run``, count) calls started, events and callbacks made before
    ``cutoff``, and everything of those calls."""
    old = sa.select(calls.c.call_sid).where(calls.c.started < cutoff)
    which = {
        "events": sa.or_(events.c.call_sid.in_(old), events.c.at < cutoff),
        "callbacks": sa.or_(callbacks.c.call_sid.in_(old), callbacks.c.requested_at < cutoff),
        "calls": calls.c.started < cutoff,
    }
    tables = {"events": events, "callbacks": callbacks, "calls": calls}
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            for name in ("events", "callbacks", "calls"):  # calls last: the others ask it
                table = tables[name]
                if dry_run:
                    query = sa.select(sa.func.count()).select_from(table).where(which[name])
                    counts[name] = conn.execute(query).scalar_one()
                else:
                    counts[name] = conn.execute(table.delete().where(which[name])).rowcount
    except sa.exc.SQLAlchemyError as exc:
        raise JourneyError(f"cannot purge the journey log: {exc}") from exc
    return {name: counts[name] for name in ("calls", "events", "callbacks")}


def report(
    conn: Connection,
    since: float | None = None,
    until: float | None = None,
    menu: Any = None,
    include_test_calls: bool = False,
) -> Report:
    """Figures for calls that started in ``[since, until)`` (epoch seconds; None: open); test
    callers' calls are counted apart and left out unless ``include_test_calls``."""
    builder = ReportBuilder(time.time(), MenuFacts.from_menu(menu) if menu else MenuFacts())
    builder.include_test_calls = include_test_calls
    where = []
    if since is not None:
        where.append(calls.c.started >= since)
    if until is not None:
        where.append(calls.c.started < until)
    call_rows = {
        r.call_sid: r
        for r in conn.execute(sa.select(calls).where(*where).order_by(calls.c.call_sid))
    }
    for chunk in chunks(list(call_rows)):
        rows = conn.execute(
            sa.select(events)
            .where(events.c.call_sid.in_(chunk))
            .order_by(events.c.call_sid, events.c.at, events.c.id)
        )
        for sid, group in itertools.groupby(rows, key=lambda r: r.call_sid):
            builder.add_call(call_rows.pop(sid), [to_event(r) for r in group])
    for row in call_rows.values():  # calls with no events left (should not happen)
        builder.add_call(row, [])
    cwhere = []
    if since is not None:
        cwhere.append(callbacks.c.requested_at >= since)
    if until is not None:
        cwhere.append(callbacks.c.requested_at < until)
    for row in conn.execute(sa.select(callbacks).where(*cwhere)):
        builder.add_callback(row)
    return builder.build(since, until)
