"""What the log is told, as rows every database accepts, written once however often it arrives.

An event or a callback request travels as a *record*: a list of plain data, made in the webhook with
personal data already protected, appended to the spool, buffered, and turned into rows by the
writer. The same record may arrive twice (a batch retried after a fault, a spool replayed by
another worker, a webhook Twilio retried): event ids and the callback's CallSid are unique keys,
and rows already there are left alone.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..errors import JourneyError
from ..events import Event, Kind
from ..numbers import compact, mask
from .schema import callbacks, calls, events, real, text, whole

CALLER_STORAGE = ("mask", "hash", "none")
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
SPEECH_KEYS = frozenset({"speech", "SpeechResult", "UnstableSpeechResult"})
NUMBER_KEYS = frozenset({"caller", "From", "Caller", "from", "number", "To", "Called"})
_SENSITIVE = SPEECH_KEYS | NUMBER_KEYS
SPEECH_CHARS = 500

EVENT, CALLBACK = "e", "c"
Record = list[Any]
"""``["e", id, call_sid, at, kind, node, language, key, option, confidence, outcome, detail,
caller]`` or ``["c", {callback row}]``."""


class Privacy:
    """How personal data is kept: caller numbers masked, hashed or left out; speech kept or not."""

    def __init__(
        self, caller_storage: str = "mask", hash_key: str | bytes | None = None, keep_speech=False
    ) -> None:
        if caller_storage not in CALLER_STORAGE:
            raise JourneyError(
                f"caller storage {caller_storage!r} is not one of {', '.join(CALLER_STORAGE)}"
            )
        if caller_storage == "hash" and not hash_key:
            raise JourneyError("caller storage 'hash' needs a key (IVR_CALLER_HASH_KEY)")
        self.caller_storage = caller_storage
        self.hash_key = hash_key.encode() if isinstance(hash_key, str) else hash_key
        self.keep_speech = keep_speech

    def protect(self, number: str | None) -> str | None:
        """The form in which a caller's number is stored: masked, hashed or nothing."""
        if not number:
            return None
        if self.caller_storage == "mask":
            return mask(number)
        if self.caller_storage == "hash":
            assert self.hash_key is not None
            plain = compact(number)
            digest = hmac.new(self.hash_key, plain.encode(), hashlib.sha256).hexdigest()
            return "hmac-sha256:" + digest[:40]
        return None

    def detail(self, detail: Mapping[str, Any]) -> dict[str, Any]:
        """The event's detail as it may be kept: numbers protected, speech only if asked for."""
        clean: dict[str, Any] = {}
        for name, value in detail.items():
            if name in SPEECH_KEYS:
                if not self.keep_speech:
                    continue
                if isinstance(value, str):
                    value = value[:SPEECH_CHARS]
            elif name in NUMBER_KEYS and isinstance(value, str):
                value = self.protect(value)
            clean[name] = value
        return clean

    def record(self, e: Event) -> Record:
        """The event as a record, nothing personal left in it that may not be kept.

        On every webhook's path: no more work than that.
        """
        detail = e.detail
        if detail and not _SENSITIVE.isdisjoint(detail):
            detail = self.detail(detail)
        caller = self.protect(e.caller) if e.caller else None
        return [
            EVENT,
            e.id,
            e.call_sid,
            e.at,
            str(e.kind),  # the vocabulary's value: the spool holds plain data only
            e.node,
            e.language,
            e.key,
            e.option,
            e.confidence,
            e.outcome,
            detail or None,
            caller,
        ]


def dumps(record: Record) -> bytes:
    """A record as bytes for the spool: a pickle, four times cheaper than JSON on the webhook's
    path, and read back only by :func:`loads`, which builds plain data and nothing else."""
    try:
        return pickle.dumps(record, PICKLE_PROTOCOL)
    except Exception:  # a detail value that cannot be pickled: keep its text
        detail = {k: str(v) for k, v in (record[11] or {}).items()} if record[0] == EVENT else None
        return pickle.dumps(record[:11] + [detail] + record[12:], PICKLE_PROTOCOL)


PICKLE_PROTOCOL = 5
_SAFE_CLASSES = {
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
}


class _PlainData(pickle.Unpickler):
    """Unpickles lists, dicts, strings and numbers (and a few value classes); never code.

    The way Python's documentation restricts globals: every class must be allowed here.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a spool record holds plain data, not {module}.{name}")


def loads(data: bytes) -> Record | None:
    """A record back from :func:`dumps`' bytes; None if they are not one."""
    try:
        record = _PlainData(io.BytesIO(data)).load()
    except Exception:
        return None
    if isinstance(record, list) and record and record[0] == EVENT and len(record) == 13:
        return record
    if isinstance(record, list) and len(record) == 2 and record[0] == CALLBACK:
        return record if isinstance(record[1], dict) else None
    return None


def call_sid_of(record: Record) -> str:
    return str(record[2] if record[0] == EVENT else record[1].get("call_sid"))


def event_row(record: Record) -> dict[str, Any]:
    """The ``events`` row of an event record."""
    _, id_, sid, at, kind, node, language, key, option, confidence, outcome, detail, _c = record
    return {
        "id": text(id_, 64),
        "call_sid": text(sid, 64),
        "at": real(at),
        "kind": text(kind, 32),
        "node": text(node, 64),
        "key": text(key, 16),
        "option": text(option, 64),
        "confidence": real(confidence),
        "outcome": text(outcome, 64),
        # JSON escapes NULs and lone surrogates: the text is safe for any database.
        "detail": json.dumps(detail, default=str, sort_keys=True) if detail else None,
        "language": text(language, 16),
    }


def callback_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``callbacks`` row that fits every database."""
    return {
        "id": text(row.get("id"), 64),
        "call_sid": text(row.get("call_sid"), 64),
        "number": text(row.get("number"), 32),
        "queue": text(row.get("queue"), 64),
        "node": text(row.get("node"), 64),
        "position": whole(row.get("position")),
        "wait": whole(row.get("wait")),
        "requested_at": real(row.get("requested_at")),
        "done_at": real(row.get("done_at")),
        "notes": text(row.get("notes")),
    }


def to_event(row: Any) -> Event:
    """An ``events`` row back as an :class:`~ivr.events.Event`."""
    return Event(
        call_sid=row.call_sid,
        kind=row.kind,
        node=row.node,
        language=row.language,
        key=row.key,
        option=row.option,
        confidence=row.confidence,
        outcome=row.outcome,
        detail=json.loads(row.detail) if row.detail else {},
        at=row.at,
        id=row.id,
    )


def chunks(items: Sequence[Any], size: int = 400) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- writing ------------------------------------------------------------------------------------


def write(conn: Connection, records: Iterable[Record]) -> None:
    """Store ``records`` in one transaction; what is already stored stays as it is."""
    evs: dict[str, Record] = {}
    cbs: list[dict[str, Any]] = []
    for record in records:
        if record[0] == EVENT:
            evs.setdefault(str(record[1])[:64], record)
        else:
            cbs.append(callback_row(record[1]))
    if evs:
        _insert_new(conn, events, [event_row(r) for r in evs.values()], events.c.id)
        _update_calls(conn, list(evs.values()))
    if cbs:
        _insert_new(conn, callbacks, cbs, callbacks.c.id, callbacks.c.call_sid)


def _upsert_dialect(conn: Connection) -> Any:
    return {"sqlite": sqlite, "postgresql": postgresql}.get(conn.dialect.name)


def _insert_new(
    conn: Connection, table: sa.Table, rows: list[dict[str, Any]], *unique: sa.Column
) -> None:
    """Insert the rows no unique key of which is taken yet."""
    dialect = _upsert_dialect(conn)
    if dialect is not None:
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)
        return
    for column in unique:  # any other database: look first
        values = [r[column.name] for r in rows]
        have: set[Any] = set()
        for chunk in chunks(values):
            have.update(conn.execute(sa.select(column).where(column.in_(chunk))).scalars())
        rows = [r for r in rows if r[column.name] not in have]
    if rows:
        conn.execute(table.insert(), rows)


def _call_changes(records: Sequence[Record]) -> dict[str, dict[str, Any]]:
    """What a batch of event records says about each call, earliest first."""
    by_call: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: real(r[3]) or 0.0):
        _, _id, sid, at, kind, _node, language, _k, _o, _c, outcome, detail, caller = r
        sid = text(sid, 64)
        at = real(at) or 0.0
        c = by_call.setdefault(sid, {"call_sid": sid, "started": at})
        c["started"] = min(c["started"], at)
        if caller and "caller" not in c:
            c["caller"] = text(caller, 80)
        if language and "language" not in c:
            c["language"] = text(language, 16)
        if kind == Kind.STATUS:
            detail = detail or {}
            status = str(detail.get("CallStatus") or outcome or "").lower() or None
            if status:
                c["status"] = text(status, 32)
            duration = whole(detail.get("CallDuration", detail.get("duration")))
            if duration is not None:
                c["duration"] = duration
            if status in FINAL_STATUSES:
                c["ended"] = at
    return by_call


_CALL_FIELDS = ("started", "ended", "status", "duration", "caller", "language")


def _update_calls(conn: Connection, records: Sequence[Record]) -> None:
    by_call = _call_changes(records)
    dialect = _upsert_dialect(conn)
    if dialect is not None:
        # One statement, and no race with another worker writing the same call's first row.
        rows = [dict.fromkeys(_CALL_FIELDS) | c for c in by_call.values()]
        stmt = dialect.insert(calls)
        new = stmt.excluded
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[calls.c.call_sid],
                set_={
                    "started": sa.case(
                        (new.started < calls.c.started, new.started), else_=calls.c.started
                    ),
                    "caller": sa.func.coalesce(calls.c.caller, new.caller),
                    "language": sa.func.coalesce(calls.c.language, new.language),
                    "status": sa.func.coalesce(new.status, calls.c.status),
                    "duration": sa.func.coalesce(new.duration, calls.c.duration),
                    "ended": sa.func.coalesce(new.ended, calls.c.ended),
                },
            ),
            rows,
        )
        return
    existing: dict[str, Any] = {}
    for chunk in chunks(list(by_call)):
        for row in conn.execute(sa.select(calls).where(calls.c.call_sid.in_(chunk))):
            existing[row.call_sid] = row
    fresh = [dict.fromkeys(_CALL_FIELDS) | c for sid, c in by_call.items() if sid not in existing]
    if fresh:
        conn.execute(calls.insert(), fresh)
    for sid, c in by_call.items():
        row = existing.get(sid)
        if row is None:
            continue
        changes: dict[str, Any] = {}
        if c["started"] < row.started:
            changes["started"] = c["started"]
        for name in ("caller", "language"):
            if c.get(name) and getattr(row, name) is None:
                changes[name] = c[name]
        for name in ("status", "duration", "ended"):
            if c.get(name) is not None:
                changes[name] = c[name]
        if changes:
            conn.execute(calls.update().where(calls.c.call_sid == sid).values(**changes))
