"""The journey log: storage, durability, privacy, retention and callbacks.

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
from journey_support import BACKENDS, Backend, SqliteBackend, backend_for

from ivr import settings as ivr_settings
from ivr.errors import CallbackNotFound, JourneyError
from ivr.events import Event
from ivr.journey import JourneyLog, parse_duration, parse_time, schema_head

NOW = 1_790_000_000.0  # a fixed "now" for figures that depend on time


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    with backend_for(request.param, tmp_path) as b:
        yield b


def open_log(target: Backend | str, **kwargs) -> JourneyLog:
    """A log with quick retries, on a backend (and its spool folder) or a URL."""
    kwargs.setdefault("retry_initial", 0.01)
    kwargs.setdefault("retry_max", 0.2)
    if isinstance(target, Backend):
        kwargs.setdefault("spool", target.spool)
        target = target.url
    return JourneyLog(target, **kwargs)


@pytest.fixture
def journeys(backend):
    log = open_log(backend)
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


def test_the_schema_is_created_at_alembics_head(journeys):
    journeys.journey("CA1")
    with journeys.engine.connect() as conn:
        revisions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert not sa.inspect(conn).has_table("schema_version")
    assert revisions == [(schema_head(),)]


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
    log = open_log(backend, batch_size=7)
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
    log = open_log(backend)
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


def test_without_a_spool_a_full_buffer_drops_loudly_with_the_event_in_the_log(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend, buffer_limit=3, spool=False)
    try:
        log.start()
        log.record(Event("CAx", "call-start", caller="+447700900123", at=NOW))
        assert log.flush()
        backend.go_down()
        for n in range(5):
            log.record(Event("CAx", "choice", node="main", key=str(n), at=NOW + n + 1))
        assert log.dropped == 2
        dropped = [r for r in caplog.records if "DROPPED" in r.getMessage()]
        assert len(dropped) == 2
        assert all(r.levelno == logging.ERROR and "CAx" in r.getMessage() for r in dropped)
        assert '"4"' in dropped[-1].getMessage()  # enough to recover it by hand
        backend.come_back()
        assert log.flush(timeout=30)
        assert [e.key for e in log.journey("CAx")][1:] == ["0", "1", "2"]
    finally:
        log.close()


def test_a_full_buffer_leaves_what_it_cannot_hold_in_the_spool(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend, buffer_limit=3)
    try:
        log.start()
        log.record(Event("CAx", "call-start", at=NOW))
        assert log.flush()
        backend.go_down()
        for n in range(5):
            log.record(Event("CAx", "choice", node="main", key=str(n), at=NOW + n + 1))
        assert (log.pending, log.dropped) == (3, 0)
        assert not [r for r in caplog.records if "DROPPED" in r.getMessage()]
        backend.come_back()
        assert log.flush(timeout=30)
        # The two the buffer could not hold come back from the spool file once it is let go.
        deadline = time.monotonic() + 30
        while len(log.journey("CAx")) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.key for e in log.journey("CAx")][1:] == ["0", "1", "2", "3", "4"]
        assert log.replayed >= 2
    finally:
        log.close()
    assert list(backend.spool.rglob("*.spool")) == []  # nothing left behind


def test_closing_while_the_database_is_down_keeps_the_rest_for_the_next_start(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend)
    log.record(Event("CAy", "call-start", at=NOW))
    assert log.flush()
    backend.go_down()
    log.record(Event("CAy", "hangup", node="bye", at=NOW + 1))
    log.close(timeout=0.3)
    assert log.dropped == 0
    (kept,) = [r.getMessage() for r in caplog.records if "shutdown" in r.getMessage()]
    assert "1 record(s) kept in" in kept and ".spool" in kept
    backend.come_back()
    with open_log(backend) as after:  # the next start, e.g. the service restarted
        assert after.replay() == 2  # the whole file: what was written already is not doubled
        assert [e.kind for e in after.journey("CAy")] == ["call-start", "hangup"]
    assert list(backend.spool.rglob("*.spool")) == []


def test_without_a_spool_closing_while_the_database_is_down_logs_what_is_lost(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend, spool=False)
    log.record(Event("CAy", "call-start", at=NOW))
    assert log.flush()
    backend.go_down()
    log.record(Event("CAy", "hangup", node="bye", at=NOW + 1))
    log.close(timeout=0.3)
    assert log.dropped == 1
    assert any("DROPPED" in r.getMessage() and "shutdown" in r.getMessage() for r in caplog.records)
    backend.come_back()


def test_an_event_the_database_refuses_does_not_hold_up_the_others(backend, caplog):
    log = open_log(backend, batch_size=50)
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
    log = open_log(backend)
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
    log = open_log(backend, caller_storage="hash", hash_key="secret-key")
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
    log = open_log(backend, caller_storage="none", keep_speech=True)
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
    given = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/j.db",
        "IVR_CALLER_STORAGE": "HASH",
        "IVR_CALLER_HASH_KEY": "k",
        "IVR_STORE_SPEECH": "yes",
    }
    # As the app and the CLI build it: from settings parsed once, by ivr.settings.
    log = JourneyLog.from_config(ivr_settings.load(given, dotenv=False, environ={}))
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
    # Requested now: a number older than its retention (30 days) is masked by the log itself.
    now = time.time()
    journeys.record(
        Event("CA2", "choice", node="main", key="1", option="crime", outcome="option", at=now)
    )
    journeys.record(Event("CA2", "choice", node="crime", key="9", outcome="invalid", at=now + 1))
    journeys.record(
        Event(
            "CA2",
            "choice",
            node="crime",
            key="2",
            option="crime_queue",
            outcome="option",
            at=now + 2,
        )
    )
    late = journeys.request_callback(
        "CA2",
        "07911 123456",
        queue="call-handlers",
        node="crime_queue",
        position=7,
        wait=900,
        at=now + 60,
    )
    early = journeys.request_callback("CA1", "+447400123456", queue="general", at=now + 30)
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


def test_one_call_gets_one_callback_request(journeys):
    first = journeys.request_callback("CAone", "07911 123456", queue="q", at=NOW)
    # Twilio (or anyone holding a signed request) replays the webhook: same request back.
    again = [journeys.request_callback("CAone", "+447911123456", at=NOW + n) for n in (1, 2)]
    assert again == [first, first]
    rows = tables(journeys)
    assert [r["id"] for r in rows["callbacks"]] == [first]
    assert [e.kind for e in journeys.journey("CAone")] == ["callback"]


def test_one_call_gets_one_callback_request_across_logs(backend):
    # Two workers (or instances) each serve one replay of the same webhook.
    a, b = open_log(backend), open_log(backend)
    try:
        first = a.request_callback("CAtwo", "+447911123456", at=NOW)
        assert b.request_callback("CAtwo", "+447911123456", at=NOW + 1) == first
        assert len(tables(a)["callbacks"]) == 1
    finally:
        a.close()
        b.close()


def test_a_callback_request_is_in_the_database_when_it_returns(backend):
    log = open_log(backend)
    other = sa.create_engine(backend.url, poolclass=sa.pool.NullPool)
    try:
        callback_id = log.request_callback("CAdur", "+447911123456", queue="q", at=NOW)
        # No flush: another process must already see it, as the caller is told it is booked.
        with other.connect() as conn:
            stored = conn.execute(sa.text("SELECT id, number FROM callbacks")).all()
        assert stored == [(callback_id, "+447911123456")]
    finally:
        other.dispose()
        log.close()


def test_a_callback_requested_while_the_database_is_down_is_fsynced_to_the_spool(backend):
    log = open_log(backend)
    try:
        log.start()
        assert log.flush()
        log.journey("CAx")  # the schema is there
        backend.go_down()
        callback_id = log.request_callback("CAdown", "+447911123456", queue="q", at=NOW)
        spooled = b"".join(p.read_bytes() for p in backend.spool.rglob("*.spool"))
        assert callback_id.encode() in spooled and b"+447911123456" in spooled
        backend.come_back()
        assert log.flush(timeout=30)
        assert [c.id for c in log.pending_callbacks()] == [callback_id]
    finally:
        log.close()


def test_a_callback_that_cannot_be_stored_is_refused(tmp_path):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend, spool=False)
    try:
        log.journey("CAx")
        backend.go_down()
        with pytest.raises(JourneyError, match="cannot store call CAlost's callback request"):
            log.request_callback("CAlost", "+447911123456", at=NOW)
        backend.come_back()
        assert log.flush(timeout=30)
        assert log.pending_callbacks() == []
        assert log.journey("CAlost") == []  # nor a "callback requested" step
    finally:
        log.close()


def test_a_done_callback_forgets_its_number(journeys):
    callback_id = journeys.request_callback("CA1", "+447911123456", at=NOW)
    done = journeys.complete_callback(callback_id)
    assert done.number == "+44*******456" and not done.number_kept
    assert "7911123456" not in stored_text(journeys)


def test_numbers_of_old_or_done_callbacks_are_purged_when_the_log_starts(backend):
    log = open_log(backend, callback_number_retention="30d")
    now = time.time()
    try:
        log.request_callback("CAold", "+447911000001", at=now - 31 * 86400)
        log.request_callback("CAnew", "+447911000002", at=now - 29 * 86400)
        done = log.request_callback("CAdone", "+447911000003", at=now - 3600)
        with log.engine.begin() as conn:  # done by another ivr101, before numbers were purged
            conn.execute(
                sa.text("UPDATE callbacks SET done_at = :t WHERE id = :i"), {"t": now, "i": done}
            )
    finally:
        log.close()
    with open_log(backend, callback_number_retention="30d") as restarted:
        restarted.start()
        deadline = time.monotonic() + 30
        while "7911000001" in stored_text(restarted) and time.monotonic() < deadline:
            time.sleep(0.05)
        numbers = {r["call_sid"]: r["number"] for r in tables(restarted)["callbacks"]}
    assert numbers == {
        "CAold": "+44*******001",
        "CAnew": "+447911000002",
        "CAdone": "+44*******003",
    }


def test_the_callback_number_retention_comes_from_the_config(tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/j.db", "IVR_CALLBACK_NUMBER_RETENTION": "7d"}
    with JourneyLog.from_config(settings) as log:
        assert log.callback_number_retention == timedelta(days=7)
    with pytest.raises(JourneyError, match="not a duration"):
        JourneyLog.from_config(settings | {"IVR_CALLBACK_NUMBER_RETENTION": "a month"})


def test_a_callback_the_database_refuses_is_logged_with_its_number_masked(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    log = open_log(backend)
    try:
        log.journey("CAx")
        with log.engine.begin() as conn:  # a database that has gone wrong in some lasting way
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON callbacks "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        log.request_callback("CAref", "+447911123456", at=NOW)  # kept in the spool meanwhile
        assert log.flush(timeout=30)
        (dropped,) = [
            r.getMessage() for r in caplog.records if "DROPPED callback" in r.getMessage()
        ]
        assert "CAref" in dropped and "+44*******456" in dropped
        assert "7911123456" not in "\n".join(r.getMessage() for r in caplog.records)
    finally:
        log.close()


# -- what callers said -----------------------------------------------------------------------


@pytest.mark.parametrize("keep", [True, False])
def test_speech_is_kept_only_when_asked_for_even_in_the_spool(backend, keep):
    log = open_log(backend, keep_speech=keep)
    try:
        log.journey("CAx")
        backend.go_down()  # so that the spool file still holds the event
        log.record(
            Event(
                "CAsp",
                "choice",
                node="main",
                outcome="option",
                at=NOW,
                detail={"speech": "my bike was stolen", "match": 0.9},
            )
        )
        spooled = b"".join(p.read_bytes() for p in backend.spool.rglob("*.spool"))
        assert (b"bike" in spooled) is keep
        backend.come_back()
        (step,) = log.journey("CAsp")
        expected = {"speech": "my bike was stolen", "match": 0.9} if keep else {"match": 0.9}
        assert step.detail == expected
    finally:
        log.close()


@pytest.mark.parametrize(("setting", "keep"), [(True, True), (False, False), ("1", True)])
def test_ivr_store_speech_from_the_settings(tmp_path, setting, keep):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/j.db", "IVR_STORE_SPEECH": setting}
    with JourneyLog.from_config(settings) as log:
        assert log.keep_speech is keep


# -- every database stores what any of them stores -------------------------------------------


def test_nul_bytes_and_overlong_values_are_stored_alike_everywhere(journeys, caplog):
    caller = "+44" + "7" * 150  # masked, still 153 characters: the column holds 80
    journeys.record(
        Event(
            "CA\x00nul",
            "call-start",
            node="ma\x00in",
            key="\x001",
            language="en-GB\x00",
            caller=caller,
            detail={"to": "+44\x00123", "SpeechResult": "x"},
            at=NOW,
        )
    )
    journeys.record(
        Event(
            "CA\x00nul", "status", outcome="completed\x00", detail={"duration": 10**12}, at=NOW + 1
        )
    )
    journeys.request_callback("CA\x00nul", "+447911123456", queue="q\x00" * 50, position=10**15)
    assert journeys.flush(timeout=30)
    assert journeys.dropped == 0, [r.getMessage() for r in caplog.records]
    start, status, callback = journeys.journey("CAnul")
    assert (start.node, start.key, start.language) == ("main", "1", "en-GB")
    assert start.detail == {"to": "+44\x00123"}  # kept exactly, as JSON text
    call = journeys.call("CAnul")
    assert call.caller == ("+44" + "*" * 147 + "777")[:80]
    assert (call.status, call.duration) == ("completed", 2**31 - 1)
    (cb,) = journeys.pending_callbacks()
    assert (cb.queue, cb.position) == ("q" * 50, 2**31 - 1)


@pytest.mark.parametrize(
    "number",
    ["+447700900123", "+4477009", "+1 (555) 010-9999", "+44٧٧٠٠٩٠٠١٢٣", "+44²7700900123"]
    + ["client:alice", "anonymous", "07700900123", "+44770", "+44 7700 900123", "sip:+4477@x"],
)
def test_stored_numbers_are_masked_exactly_as_in_the_logs(number):
    from ivr.journey.rows import Privacy
    from ivr.numbers import mask as mask_number

    assert Privacy("mask").protect(number) == mask_number(number)
