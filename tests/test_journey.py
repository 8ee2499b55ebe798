"""The journey log: storage, durability, privacy, retention, reports and callbacks.

Every store test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from journey_support import PG_URL, PostgresBackend, SqliteBackend, postgres_schema

from ivr.errors import CallbackNotFound, JourneyError
from ivr.events import Event
from ivr.journey import (
    SCHEMA_VERSION,
    JourneyLog,
    migrate,
    parse_duration,
    parse_time,
    percentile,
)
from ivr.menu import parse_menu

NOW = 1_790_000_000.0  # a fixed "now" for figures that depend on time


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set"),
        ),
    ]
)
def backend(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteBackend(tmp_path)
        return
    with postgres_schema() as url:
        b = PostgresBackend(url)
        try:
            yield b
        finally:
            b.close()


def open_log(url: str, **kwargs) -> JourneyLog:
    kwargs.setdefault("retry_initial", 0.01)
    kwargs.setdefault("retry_max", 0.2)
    return JourneyLog(url, **kwargs)


@pytest.fixture
def journeys(backend):
    log = open_log(backend.url)
    yield log
    log.close()


def tables(log: JourneyLog) -> dict[str, list[dict]]:
    """Every row of every table, for assertions on what is really stored."""
    log.flush()
    out = {}
    with log.engine.connect() as conn:
        for name in ("calls", "events", "callbacks"):
            out[name] = [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {name}"))]
    return out


# -- writing and reading -------------------------------------------------------------------


def test_records_a_call_and_reads_it_back_in_order(journeys):
    t = NOW
    journeys.record(Event("CA1", "call-start", node="welcome", caller="+447700900123", at=t))
    journeys.record(
        Event(
            "CA1",
            "choice",
            node="main",
            key="1",
            option="crime",
            outcome="option",
            language="en-GB",
            detail={"attempt": 1, "next": "crime"},
            at=t + 4.5,
        )
    )
    journeys.record(Event("CA1", "status", outcome="completed", detail={"duration": 30}, at=t + 30))
    # Another call interleaved must not leak into CA1's journey.
    journeys.record(Event("CA2", "call-start", node="welcome", at=t + 1))

    steps = journeys.journey("CA1")
    assert [(e.kind, e.node, e.key, e.option, e.outcome) for e in steps] == [
        ("call-start", "welcome", None, None, None),
        ("choice", "main", "1", "crime", "option"),
        ("status", None, None, None, "completed"),
    ]
    assert steps[1].detail == {"attempt": 1, "next": "crime"}
    assert steps[1].language == "en-GB"
    assert steps[1].at == pytest.approx(t + 4.5)

    call = journeys.call("CA1")
    assert call.started == pytest.approx(t)
    assert call.ended == pytest.approx(t + 30)
    assert (call.status, call.duration, call.caller) == ("completed", 30, "+44*******123")
    assert journeys.call("CA2").status is None
    assert journeys.call("nope") is None
    assert journeys.journey("nope") == []
    assert [c.call_sid for c in journeys.recent_calls()] == ["CA2", "CA1"]


def test_the_same_event_recorded_twice_is_stored_once(journeys):
    event = Event("CA1", "call-start", node="welcome", at=NOW)
    journeys.record(event)
    assert journeys.flush()
    journeys.record(event)  # a retried webhook, or a batch retried after a fault
    assert [e.id for e in journeys.journey("CA1")] == [event.id]


def test_the_schema_is_created_and_versioned(journeys):
    journeys.start()
    assert journeys.flush()
    journeys.journey("CA1")
    with journeys.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version FROM schema_version")).scalar_one()
    assert version == SCHEMA_VERSION


def test_sqlite_runs_in_wal_mode(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/j.db")
    try:
        with log.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    finally:
        log.close()


def test_forty_concurrent_calls_are_recorded_exactly_once(backend):
    # Small batches so the writer interleaves with the callers many times.
    log = open_log(backend.url, batch_size=7)
    calls, steps = 40, 25
    start = threading.Barrier(calls)
    sent: dict[str, list[str]] = {}

    def caller(n: int) -> None:
        sid = f"CA{n:032d}"
        ids = []
        start.wait()
        for step in range(steps):
            e = Event(sid, "choice", node=f"n{step % 5}", key=str(step % 9 + 1), at=NOW + step)
            log.record(e)
            ids.append(e.id)
            if step % 10 == 0:
                log.record(e)  # Twilio retried this webhook: same event again
        sent[sid] = ids

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert log.flush(timeout=60)
        rows = tables(log)
        ids = Counter(r["id"] for r in rows["events"])
        assert len(ids) == calls * steps
        assert set(ids.values()) == {1}
        assert set(ids) == {i for v in sent.values() for i in v}
        per_call = Counter(r["call_sid"] for r in rows["events"])
        assert per_call == {sid: steps for sid in sent}
        assert len(rows["calls"]) == calls
        assert log.dropped == 0
    finally:
        log.close()


# -- a database fault never breaks a call, and loses nothing -------------------------------


def test_events_recorded_during_an_outage_are_written_when_the_database_returns(backend, caplog):
    log = open_log(backend.url)
    try:
        log.record(Event("CAout", "call-start", node="welcome", at=NOW))
        assert log.flush()

        backend.go_down()
        caplog.set_level(logging.ERROR, logger="ivr.journey")
        during = [
            Event(
                "CAout", "choice", node="main", key="1", option="q", outcome="option", at=NOW + 5
            ),
            Event("CAout", "queue-wait", node="q", detail={"position": 2}, at=NOW + 9),
            Event("CAout", "queue-result", node="q", outcome="bridged", at=NOW + 60),
        ]
        began = time.monotonic()
        for e in during:
            log.record(e)  # returns at once: the caller hears the menu as usual
        assert time.monotonic() - began < 5
        assert not log.flush(timeout=0.5)
        assert log.pending == len(during)
        assert log.faults >= 1
        faults = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
        assert faults and "CAout" in faults[0]

        backend.come_back()
        assert log.flush(timeout=30)
        steps = log.journey("CAout")
        assert [e.kind for e in steps] == ["call-start", "choice", "queue-wait", "queue-result"]
        assert Counter(e.id for e in steps) == Counter([steps[0].id] + [e.id for e in during])
        assert log.dropped == 0
    finally:
        log.close()


def test_a_full_buffer_drops_loudly_with_the_event_in_the_log(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend.url, buffer_limit=3)
    try:
        log.start()
        log.record(Event("CAx", "call-start", at=NOW))
        assert log.flush()
        backend.go_down()
        for n in range(5):
            log.record(Event("CAx", "choice", node="main", key=str(n), at=NOW + n + 1))
        assert log.dropped == 2
        dropped = [r for r in caplog.records if "DROPPED" in r.getMessage()]
        assert len(dropped) == 2
        assert all(r.levelno == logging.ERROR and "CAx" in r.getMessage() for r in dropped)
        assert '"key": "4"' in dropped[-1].getMessage()  # enough to recover it by hand
        backend.come_back()
        assert log.flush(timeout=30)
        assert [e.key for e in log.journey("CAx")][1:] == ["0", "1", "2"]
    finally:
        log.close()


def test_closing_while_the_database_is_down_logs_what_could_not_be_written(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend.url)
    log.record(Event("CAy", "call-start", at=NOW))
    assert log.flush()
    backend.go_down()
    log.record(Event("CAy", "hangup", node="bye", at=NOW + 1))
    log.close(timeout=0.3)
    assert log.dropped == 1
    assert any("DROPPED" in r.getMessage() and "shutdown" in r.getMessage() for r in caplog.records)
    backend.come_back()


def test_an_event_the_database_refuses_does_not_hold_up_the_others(backend, caplog):
    log = open_log(backend.url, batch_size=50)
    try:
        good = [Event("CAp", "choice", node="main", key=str(n), at=NOW + n) for n in range(3)]
        bad = Event("CAp", "choice", node="main", key="x", at="not a time")  # type: ignore[arg-type]
        for e in (good[0], bad, good[1], good[2]):
            log.record(e)
        assert log.flush(timeout=30)
        assert [e.key for e in log.journey("CAp")] == ["0", "1", "2"]
        assert log.dropped == 1
        (refused,) = [r.getMessage() for r in caplog.records if "DROPPED" in r.getMessage()]
        assert "refuses it" in refused and bad.id in refused
    finally:
        log.close()


def test_a_database_that_is_down_at_start_does_not_stop_the_log(tmp_path):
    backend = SqliteBackend(tmp_path)
    backend.go_down()
    backend.folder.write_text("not a folder")  # the database cannot be opened, nor made
    log = open_log(backend.url)
    try:
        log.start()
        log.record(Event("CAz", "call-start", at=NOW))
        assert not log.flush(timeout=0.3)
        backend.folder.unlink()
        backend.come_back()
        assert log.flush(timeout=30)
        assert len(log.journey("CAz")) == 1
    finally:
        log.close()


# -- caller numbers are personal data --------------------------------------------------------


def stored_text(log: JourneyLog) -> str:
    return json.dumps(tables(log), default=str)


def test_caller_numbers_are_masked_by_default(journeys):
    journeys.record(
        Event(
            "CA1",
            "call-start",
            caller="+447700900123",
            detail={"From": "+447700900123", "SpeechResult": "my bike was stolen"},
            at=NOW,
        )
    )
    text = stored_text(journeys)
    assert "7700900123" not in text
    assert "+44*******123" in text
    assert "bike" not in text  # raw speech is not kept unless configured


def test_caller_numbers_can_be_stored_as_a_keyed_hash(backend):
    log = open_log(backend.url, caller_storage="hash", hash_key="secret-key")
    try:
        log.record(Event("CA1", "call-start", caller="+447700900123", at=NOW))
        log.record(Event("CA2", "call-start", caller="+447700900123", at=NOW))
        log.record(Event("CA3", "call-start", caller="+447700900999", at=NOW))
        text = stored_text(log)
        assert "7700900123" not in text and "900123" not in text
        expected = hmac.new(b"secret-key", b"+447700900123", hashlib.sha256).hexdigest()[:40]
        c1, c2, c3 = (log.call(s).caller for s in ("CA1", "CA2", "CA3"))
        assert c1 == c2 == f"hmac-sha256:{expected}"  # the same caller can be recognised
        assert c3 != c1
    finally:
        log.close()


def test_caller_numbers_can_be_left_out(backend):
    log = open_log(backend.url, caller_storage="none", keep_speech=True)
    try:
        log.record(
            Event("CA1", "call-start", caller="+447700900123", detail={"speech": "hello"}, at=NOW)
        )
        text = stored_text(log)
        assert "900123" not in text
        assert log.call("CA1").caller is None
        assert log.journey("CA1")[0].detail == {"speech": "hello"}
    finally:
        log.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"caller_storage": "clear"}, "not one of mask, hash, none"),
        ({"caller_storage": "hash"}, "needs a key"),
    ],
)
def test_bad_privacy_settings_are_refused(tmp_path, settings, message):
    with pytest.raises(JourneyError, match=message):
        JourneyLog(f"sqlite:///{tmp_path}/j.db", **settings)


def test_settings_come_from_the_config(tmp_path):
    log = JourneyLog.from_config(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/j.db",
            "IVR_CALLER_STORAGE": "HASH",
            "IVR_CALLER_HASH_KEY": "k",
            "IVR_STORE_SPEECH": "yes",
        }
    )
    try:
        assert (log.caller_storage, log.keep_speech) == ("hash", True)
        assert str(log.engine.url).endswith("j.db")
    finally:
        log.close()


def test_a_bad_database_url_is_a_journey_error():
    with pytest.raises(JourneyError, match="not a database URL"):
        JourneyLog("not a url")


# -- retention -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        (" 45s ", timedelta(seconds=45)),
        ("7D", timedelta(days=7)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "-1d", "1.5d", "90 days", "3y"])
def test_bad_durations(text):
    with pytest.raises(JourneyError, match="not a duration"):
        parse_duration(text)


def test_report_bounds():
    assert parse_time("7d", now=NOW) == NOW - 7 * 86400
    # UK time: midnight BST on 1 July 2026 is 23:00 UTC the day before.
    assert parse_time("2026-07-01") == 1782860400.0
    assert parse_time("2026-01-01T09:30") == 1767259800.0
    with pytest.raises(JourneyError):
        parse_time("last tuesday")


def test_purge_deletes_only_what_is_older_than_the_retention(journeys):
    day = 86400
    old, recent = NOW - 100 * day, NOW - 10 * day
    for sid, t in (("CAold", old), ("CAnew", recent)):
        journeys.record(Event(sid, "call-start", caller="+447700900123", at=t))
        journeys.record(Event(sid, "hangup", node="bye", at=t + 20))
        journeys.request_callback(sid, "+447911123456", queue="q", at=t + 10)
    assert journeys.flush()

    counts = journeys.purge("90d", now=NOW)
    assert counts == {"calls": 1, "events": 3, "callbacks": 1}  # call-start, hangup, callback
    rows = tables(journeys)
    assert {r["call_sid"] for r in rows["calls"]} == {"CAnew"}
    assert {r["call_sid"] for r in rows["events"]} == {"CAnew"}
    assert {r["call_sid"] for r in rows["callbacks"]} == {"CAnew"}
    assert journeys.purge(timedelta(days=90), now=NOW) == {"calls": 0, "events": 0, "callbacks": 0}
    assert journeys.purge("1d", now=NOW)["calls"] == 1


# -- callbacks -------------------------------------------------------------------------------


def test_callbacks_are_listed_oldest_first_and_closed(journeys):
    journeys.record(
        Event("CA2", "choice", node="main", key="1", option="crime", outcome="option", at=NOW)
    )
    journeys.record(Event("CA2", "choice", node="crime", key="9", outcome="invalid", at=NOW + 1))
    journeys.record(
        Event(
            "CA2",
            "choice",
            node="crime",
            key="2",
            option="crime_queue",
            outcome="option",
            at=NOW + 2,
        )
    )
    late = journeys.request_callback(
        "CA2",
        "07911 123456",
        queue="call-handlers",
        node="crime_queue",
        position=7,
        wait=900,
        at=NOW + 60,
    )
    early = journeys.request_callback("CA1", "+447400123456", queue="general", at=NOW + 30)
    waiting = journeys.pending_callbacks()
    assert [c.id for c in waiting] == [early, late]
    second = waiting[1]
    assert (second.number, second.queue, second.node, second.position, second.wait) == (
        "+447911123456",
        "call-handlers",
        "crime_queue",
        7,
        900,
    )
    assert second.path == ("crime", "crime_queue")
    assert [e.kind for e in journeys.journey("CA2")][-1] == "callback"
    assert journeys.journey("CA2")[-1].detail["callback"] == late

    done = journeys.complete_callback(early[:8], notes="called back")
    assert done.done_at is not None and done.notes == "called back"
    assert [c.id for c in journeys.pending_callbacks()] == [late]
    with pytest.raises(JourneyError, match="already done"):
        journeys.complete_callback(early)
    with pytest.raises(CallbackNotFound, match="matches no callback"):
        journeys.complete_callback("ffffffff")
    with pytest.raises(CallbackNotFound):
        journeys.complete_callback("ab")  # too short to be sure


def test_a_callback_number_must_be_a_real_phone_number(journeys):
    with pytest.raises(JourneyError, match="not a valid phone number"):
        journeys.request_callback("CA1", "12345")


# -- migrations ------------------------------------------------------------------------------


def test_a_version_1_database_with_data_is_migrated_to_the_current_schema(backend):
    engine = sa.create_engine(backend.url, poolclass=sa.pool.NullPool)
    try:
        assert migrate(engine, target=1) == 1
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO calls (call_sid, started, ended, status, duration, caller) "
                    "VALUES ('CAv1', :t, :e, 'completed', 42, '+44*******123')"
                ),
                {"t": NOW, "e": NOW + 42},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO events (id, call_sid, at, kind, node, key, option, outcome, "
                    "detail) VALUES ('e1', 'CAv1', :t, 'choice', 'main', '1', 'crime', "
                    "'option', '{\"attempt\": 1}')"
                ),
                {"t": NOW + 3},
            )
            columns = {c["name"] for c in sa.inspect(conn).get_columns("events")}
            assert "language" not in columns
            assert not sa.inspect(conn).has_table("callbacks")
    finally:
        engine.dispose()

    log = open_log(backend.url)
    try:
        (old,) = log.journey("CAv1")
        assert (old.kind, old.option, old.detail, old.language) == (
            "choice",
            "crime",
            {"attempt": 1},
            None,
        )
        assert log.call("CAv1").duration == 42
        log.record(Event("CAv1", "hangup", node="bye", language="cy-GB", at=NOW + 41))
        log.request_callback("CAv1", "+447911123456", at=NOW + 50)
        assert [e.language for e in log.journey("CAv1")] == [None, "cy-GB", None]
        assert len(log.pending_callbacks()) == 1
        with log.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version FROM schema_version")).scalar_one() == 2
    finally:
        log.close()


def test_many_processes_starting_on_a_new_database_migrate_it_once(backend):
    # As gunicorn workers or several instances do: each its own log, all at once.
    logs = [open_log(backend.url) for _ in range(8)]
    start = threading.Barrier(len(logs))

    def begin(n: int) -> None:
        start.wait()
        logs[n].record(Event(f"CA{n}", "call-start", at=NOW))

    threads = [threading.Thread(target=begin, args=(n,)) for n in range(len(logs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert all(log.flush(timeout=30) for log in logs)
        with logs[0].engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_version")).all()
        assert versions == [(SCHEMA_VERSION,)]
        assert len(tables(logs[0])["events"]) == len(logs)
        assert sum(log.dropped for log in logs) == 0
    finally:
        for log in logs:
            log.close()


def test_a_database_from_a_newer_ivr_is_refused(backend):
    engine = sa.create_engine(backend.url, poolclass=sa.pool.NullPool)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE schema_version SET version = 99"))
        with pytest.raises(JourneyError, match="newer than this ivr"):
            migrate(engine)
    finally:
        engine.dispose()


# -- report figures --------------------------------------------------------------------------

MENU = {
    "start": "main",
    "nodes": {
        "main": {
            "kind": "menu",
            "prompt": "Welcome.",
            "options": [
                {"key": "1", "say": "Crime, press 1.", "speech": ["crime"], "goto": "crime_q"},
                {"key": "2", "say": "Fraud, press 2.", "goto": "fraud"},
                {"key": "3", "say": "Other, press 3.", "goto": "info"},
            ],
            "fallback": "crime_q",
        },
        "crime_q": {
            "kind": "queue",
            "queue": "call-handlers",
            "on_full": "busy",
            "on_error": "busy",
        },
        "fraud": {
            "kind": "transfer",
            "number": "+443001232040",
            "on_fail": "info",
        },
        "info": {"kind": "message", "say": "Go online. Goodbye."},
        "busy": {"kind": "hangup", "say": "All busy. Goodbye."},
    },
}


def simulate(log: JourneyLog, sid: str, t: float, steps: list[tuple]) -> None:
    """Record one call: each step is (seconds after start, kind, fields...)."""
    log.record(Event(sid, "call-start", node="main", caller="+447700900123", at=t))
    end = t
    for offset, kind, fields in steps:
        log.record(Event(sid, kind, at=t + offset, **fields))
        end = t + offset
    log.record(Event(sid, "status", outcome="completed", detail={"duration": end - t}, at=end + 1))


def choice(key, option=None, outcome="option", node="main", confidence=None):
    nxt = option or node
    return {
        "node": node,
        "key": key,
        "option": option,
        "outcome": outcome,
        "confidence": confidence,
        "detail": {"next": nxt},
    }


@pytest.fixture
def known_calls(journeys):
    t = NOW
    wait_q = lambda w: {"node": "crime_q", "detail": {"queue_time": w}}  # noqa: E731
    # Four callers reach the queue after 10, 20, 30, 40 s and wait 60, 120, 180, 600 s.
    for n, (reach, wait, result) in enumerate(
        [(10, 60, "bridged"), (20, 120, "bridged"), (30, 180, "hangup"), (40, 600, "bridged")]
    ):
        simulate(
            journeys,
            f"CAq{n}",
            t + n,
            [
                (reach, "choice", choice("1", "crime_q")),
                (reach + 1, "queue-wait", wait_q(0)),
                (reach + wait, "queue-result", wait_q(wait) | {"outcome": result}),
            ],
        )
    # Speech, after an invalid key and a silence.
    simulate(
        journeys,
        "CAs",
        t + 10,
        [
            (5, "choice", choice("9", outcome="invalid")),
            (12, "choice", choice(None, outcome="silence")),
            (20, "choice", choice("1", "crime_q", confidence=0.9)),
            (25, "queue-result", wait_q(5) | {"outcome": "bridged"}),
        ],
    )
    # Hangs up in the main menu after an invalid key.
    simulate(journeys, "CAh", t + 20, [(8, "choice", choice("7", outcome="invalid"))])
    # Transfers: one answered, one busy then told to go online (the menu ends the call).
    simulate(
        journeys,
        "CAt1",
        t + 30,
        [
            (6, "choice", choice("2", "fraud")),
            (40, "transfer-result", {"node": "fraud", "outcome": "completed"}),
        ],
    )
    simulate(
        journeys,
        "CAt2",
        t + 40,
        [
            (6, "choice", choice("2", "fraud")),
            (
                36,
                "transfer-result",
                {"node": "fraud", "outcome": "busy", "detail": {"next": "info"}},
            ),
        ],
    )
    # Chooses the information message, which ends the call by design.
    simulate(journeys, "CAi", t + 50, [(4, "choice", choice("3", "info"))])
    # A callback requested from the queue, then done 30 minutes later.
    simulate(
        journeys,
        "CAcb",
        t + 60,
        [
            (7, "choice", choice("1", "crime_q")),
            (8, "queue-wait", wait_q(0)),
            (100, "queue-result", wait_q(92) | {"outcome": "leave"}),
        ],
    )
    cb = journeys.request_callback("CAcb", "+447911123456", queue="call-handlers", at=t + 99)
    # A call handler on the staff line: not a caller, counted apart.
    journeys.record(Event("CAstaff", "handler-in", outcome="pin", at=t + 70))
    journeys.record(Event("CAstaff", "handler-take", detail={"queue": "call-handlers"}, at=t + 75))
    # Outside the period: not counted.
    simulate(journeys, "CAlate", t + 10 * 86400, [(8, "choice", choice("7", outcome="invalid"))])
    assert journeys.flush()
    with journeys.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE callbacks SET done_at = :d WHERE id = :i"), {"d": t + 1899, "i": cb}
        )
    return journeys


def test_report_figures_on_a_known_set_of_calls(known_calls):
    report = known_calls.report(NOW - 1, NOW + 86400, menu=parse_menu(json.dumps(MENU)))

    assert report.calls["total"] == 10
    assert report.calls["handler_line"] == 1
    assert report.calls["by_status"] == {"completed": 10}
    assert report.calls["outcomes"] == {
        "answered": 4,
        "callback requested": 1,
        "ended by the menu": 2,
        "hung up in a queue": 1,
        "hung up in the menu": 1,
        "transferred": 1,
    }

    choices = {(c["node"], c["key"], c["option"], c["via"]): c["count"] for c in report.choices}
    assert choices == {
        ("main", "1", "crime_q", "key"): 5,
        ("main", "1", "crime_q", "speech"): 1,
        ("main", "2", "fraud", "key"): 2,
        ("main", "3", "info", "key"): 1,
    }
    speech = next(c for c in report.choices if c["via"] == "speech")
    assert speech["confidence_median"] == 0.9

    assert report.hangups == [
        {"where": "menu", "node": "main", "count": 1},
        {"where": "queue", "node": "crime_q", "count": 1},
    ]
    assert report.hot_spots == [
        {"node": "main", "inputs": 12, "invalid": 2, "silence": 1, "gave_up": 0, "rate": 0.25}
    ]

    (queue,) = report.queues
    assert queue["queue"] == "call-handlers"
    assert queue["reached"] == 6
    # Reached after 10, 20, 30, 40 s (four callers), 20 s (speech) and 7 s (callback).
    assert queue["time_to_reach"] == {"count": 6, "median": 20.0, "p95": 37.5}
    # Waited 60, 120, 180, 600, 5 and 92 s.
    assert queue["wait"] == {"count": 6, "median": 106.0, "p95": 495.0}
    assert queue["results"] == {"bridged": 4, "hangup": 1, "leave": 1}

    assert report.transfers == [
        {
            "node": "fraud",
            "number": "+443001232040",
            "attempts": 2,
            "outcomes": {"busy": 1, "completed": 1},
        }
    ]
    assert report.callbacks == {
        "requested": 1,
        "completed": 1,
        "pending": 0,
        "time_to_complete": {"count": 1, "median": 1800.0, "p95": 1800.0},
    }


def test_report_without_the_menu_still_counts_what_the_events_say(known_calls):
    report = known_calls.report()
    assert report.calls["total"] == 11
    assert report.queues[0]["queue"] == "crime_q"
    assert report.queues[0]["reached"] == 6


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 21))
    assert percentile(values, 50) == 10.5
    assert percentile(values, 95) == pytest.approx(19.05)
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def test_an_empty_report(journeys):
    report = journeys.report()
    assert report.calls["total"] == 0
    assert report.queues == [] and report.choices == [] and report.hangups == []


def test_reports_are_readable_in_every_format(known_calls):
    from ivr.report import render

    report = known_calls.report(menu=parse_menu(json.dumps(MENU)))
    table = render(report, "table")
    for heading in ("Calls", "Choices per menu", "Where callers hang up", "Queues", "Callbacks"):
        assert f"\n{heading}\n" in table
    assert "call-handlers" in table

    data = json.loads(render(report, "json"))
    assert data == json.loads(json.dumps(report.as_dict()))

    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert {"section": "calls", "node": "", "item": "", "measure": "total", "value": "11"} in rows

    page = render(report, "html", title="Test <report>")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Test &lt;report&gt;</title>" in page
    assert page.count("<svg") >= 4
    # Self-contained: nothing fetched from anywhere, no scripts.
    lowered = page.lower()
    assert "<script" not in lowered and "src=" not in lowered and "href=" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert lowered.count("http") == lowered.count('xmlns="http://www.w3.org/2000/svg"')

    with pytest.raises(ValueError):
        render(report, "pdf")


def test_outcomes_sum_to_the_calls(known_calls):
    report = known_calls.report()
    assert sum(report.calls["outcomes"].values()) == report.calls["total"]


def test_journey_reads_see_this_process_s_own_recent_events(journeys):
    journeys.record(Event("CAr", "call-start", at=NOW))
    # No explicit flush: reading waits briefly for the writer.
    assert len(journeys.journey("CAr")) == 1


def test_a_caller_taken_by_the_handler_line_counts_as_answered(journeys):
    simulate(
        journeys,
        "CAtaken",
        NOW,
        [
            (5, "choice", choice("1", "crime_q")),
            (6, "queue-wait", {"node": "crime_q", "detail": {"queue_time": 0}}),
            (86, "handler-bridged", {"outcome": "bridged", "detail": {"queue_time": 80}}),
        ],
    )
    report = journeys.report(menu=parse_menu(json.dumps(MENU)))
    assert report.calls["outcomes"] == {"answered": 1}
    assert report.hangups == []
    assert report.queues[0]["wait"] == {"count": 1, "median": 80.0, "p95": 80.0}
