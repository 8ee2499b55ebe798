"""The spool: what a process was told survives a SIGKILL and is replayed, once, by the next.

The kills are real: a child process records events (and callback requests) and is SIGKILLed; a
served gunicorn worker answers webhooks and is SIGKILLed. Every test runs on SQLite, and on
PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner
from journey_support import BACKENDS, SqliteBackend, backend_for
from twilio.request_validator import RequestValidator

from ivr.cli import cli
from ivr.events import Event
from ivr.journey import JourneyLog, spool_folder
from ivr.journey.spool import HEADER, encode

NOW = 1_790_000_000.0


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    with backend_for(request.param, tmp_path) as b:
        yield b


def open_log(backend, **kwargs) -> JourneyLog:
    kwargs.setdefault("spool", backend.spool)
    return JourneyLog(backend.url, retry_initial=0.01, retry_max=0.2, **kwargs)


def count(url: str, table: str) -> int:
    """Rows in a table (0 while there is no such table yet)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return 0
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def spool_files(backend) -> list[Path]:
    return sorted(backend.spool.rglob("*.spool"))


RECORDER = """
import sys
from click.testing import CliRunner

from ivr.cli import cli
from ivr.events import Event
from ivr.journey import JourneyLog
url, spool, calls, steps, callbacks = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
log = JourneyLog(url, spool=spool, retry_initial=0.01, retry_max=0.2)
for n in range(calls):
    for step in range(steps):
        log.record(Event(f"CA{n:032d}", "choice", node="main", key=str(step % 9), at=1e9 + step))
for n in range(callbacks):
    log.request_callback(f"CA{n:032d}", "+447911123456", queue="q", at=1e9 + 100)
print("recorded", log.pending, flush=True)
sys.stdin.read()  # then wait to be killed
"""


def record_then_sigkill(backend, calls: int, steps: int, callbacks: int) -> int:
    """Run a process that records, SIGKILL it once it says so; return what it had not written."""
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDER, backend.url, str(backend.spool)]
        + [str(calls), str(steps), str(callbacks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": os.getcwd()},
    )
    try:
        line = child.stdout.readline().decode()
        assert line.startswith("recorded"), child.stderr.read().decode()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
    return int(line.split()[1])


def test_a_sigkilled_process_loses_nothing_it_was_told_while_the_database_was_down(backend):
    open_log(backend).close()  # the schema exists
    with open_log(backend) as first:
        first.journey("CAx")
    backend.go_down()
    waiting = record_then_sigkill(backend, calls=50, steps=10, callbacks=5)
    backend.come_back()
    assert waiting == 50 * 10 + 5 * 2  # events, callback requests and their steps: all unwritten
    assert count(backend.url, "events") == 0
    assert len(spool_files(backend)) == 1  # what it left behind

    with open_log(backend) as restarted:  # as a new worker's writer does when it starts
        assert restarted.replay() == waiting
        assert restarted.call(f"CA{0:032d}") is not None
    assert count(backend.url, "events") == 50 * 10 + 5
    assert count(backend.url, "calls") == 50
    assert count(backend.url, "callbacks") == 5
    assert spool_files(backend) == []


def test_ivr_report_and_callbacks_count_what_a_sigkilled_process_was_told(backend, monkeypatch):
    open_log(backend).close()
    with open_log(backend) as first:
        first.journey("CAx")
    backend.go_down()
    record_then_sigkill(backend, calls=7, steps=3, callbacks=2)
    backend.come_back()
    # No worker has started again: the command replays the dead process's spool itself.
    monkeypatch.setenv("IVR_SPOOL_DIR", str(backend.spool))
    report = CliRunner().invoke(cli, ["report", "--format", "json", "--database", backend.url])
    assert report.exit_code == 0, report.output
    data = json.loads(report.output[report.output.index("{") :])
    assert (data["calls"]["total"], data["callbacks"]["requested"]) == (7, 2)
    waiting = CliRunner().invoke(cli, ["callbacks", "--database", backend.url])
    assert len(waiting.output.strip().splitlines()) == 2
    assert spool_files(backend) == []


def test_a_sigkilled_process_loses_nothing_it_was_told_while_the_database_was_up(backend):
    open_log(backend).close()
    waiting = record_then_sigkill(backend, calls=100, steps=30, callbacks=3)
    written_before = count(backend.url, "events")
    with open_log(backend) as restarted:
        restarted.replay()
    # Whatever the writer had managed before the kill, every event is there once.
    assert count(backend.url, "events") == 100 * 30 + 3
    assert count(backend.url, "callbacks") == 3
    assert spool_files(backend) == []
    print(f"killed with {waiting} unwritten of {100 * 30 + 3}; {written_before} written before")


def test_a_live_process_s_spool_is_left_alone(backend):
    live = open_log(backend)
    other = open_log(backend)
    try:
        live.journey("CAx")
        backend.go_down()
        live.record(Event("CAlive", "call-start", at=NOW))
        (held,) = spool_files(backend)
        assert other.replay() == 0  # locked by its live owner: not a dead process's file
        assert held.exists()
        backend.come_back()
        assert live.flush(timeout=30)
        assert [e.kind for e in other.journey("CAlive")] == ["call-start"]
    finally:
        live.close()
        other.close()
    assert spool_files(backend) == []


def dead_process_file(backend, content: bytes) -> Path:
    """A spool file as a process that died would leave it (unlocked), with ``content``."""
    folder = spool_folder(sa.make_url(backend.url), backend.spool)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "host-1-dead.spool"
    path.write_bytes(content + bytes(4096))  # and the unused space after it: zeros
    return path


def event(n: int, sid: str = "CAcut") -> list:
    return ["e", f"id{n}", sid, NOW + n, "choice", "main", None, str(n), None, None, None, None]


def test_damaged_records_are_stepped_over_and_the_rest_replayed(tmp_path, caplog):
    backend = SqliteBackend(tmp_path)
    good = [encode(event(n) + [None]) for n in range(4)]
    dead_process_file(
        backend,
        good[0]
        + b"\x07\x00\x00\x00garbage"  # a power cut's garbage
        + good[1]
        + good[2][:5]
        + b"\xff"
        + good[2][6:]  # one byte flipped: its CRC-32 no longer matches
        + good[3][:-4],  # cut short: the process died mid-copy
    )
    caplog.set_level(logging.WARNING, logger="ivr.journey")
    with open_log(backend) as log:
        assert log.replay() == 2
        assert [e.key for e in log.journey("CAcut")] == ["0", "1"]
    (said,) = [r.getMessage() for r in caplog.records if "replayed" in r.getMessage()]
    assert "replayed 2 record(s) from host-1-dead.spool" in said
    assert "(2 damaged part(s) skipped)" in said  # the garbage; the rest after the flip
    assert spool_files(backend) == []


class Evil:
    def __reduce__(self):
        return (os.system, ("touch evil-was-here",))


def test_a_spool_record_can_hold_plain_data_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = SqliteBackend(tmp_path)
    payload = pickle.dumps(event(1)[:11] + [{"x": Evil()}, None])
    dead_process_file(backend, HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    with open_log(backend) as log:
        assert log.replay() == 0
        assert log.journey("CAcut") == []
    assert not (tmp_path / "evil-was-here").exists()


def test_another_database_s_spool_is_never_replayed_into_this_one(tmp_path):
    a = SqliteBackend(tmp_path / "a")
    b = SqliteBackend(tmp_path / "b")
    shared = tmp_path / "shared-spool"  # one IVR_SPOOL_DIR for both
    folder_a = spool_folder(sa.make_url(a.url), shared)
    assert folder_a != spool_folder(sa.make_url(b.url), shared)
    folder_a.mkdir(parents=True)
    record = ["e", "id1", "CAa", NOW, "call-start", None, None, None, None, None, None, None, None]
    (folder_a / "host-1-dead.spool").write_bytes(encode(record))
    with JourneyLog(b.url, spool=shared) as log_b:
        assert log_b.replay() == 0 and log_b.recent_calls() == []
    with JourneyLog(a.url, spool=shared) as log_a:
        assert log_a.replay() == 1
        assert [c.call_sid for c in log_a.recent_calls()] == ["CAa"]
    assert list(shared.rglob("*.spool")) == []


def test_spool_files_are_started_afresh_and_deleted_once_written(backend):
    log = open_log(backend)
    log.spool.segment_bytes = 2_000
    try:
        log.journey("CAx")
        backend.go_down()
        for n in range(100):
            log.record(Event("CAseg", "choice", node="main", key=str(n % 9), at=NOW + n))
        held = spool_files(backend)
        assert len(held) >= 5 and all(p.stat().st_size < 2_400 for p in held)
        backend.come_back()
        assert log.flush(timeout=30)
        assert len(spool_files(backend)) <= 1  # only the file still being appended to
        assert len(log.journey("CAseg")) == 100
    finally:
        log.close()
    assert spool_files(backend) == []


def test_past_its_limit_the_spool_takes_nothing_more_and_says_so_once(backend, caplog):
    log = open_log(backend)
    log.spool.segment_bytes = 1_000
    log.spool.max_bytes = 3_000
    try:
        log.journey("CAx")
        backend.go_down()
        for n in range(100):
            log.record(Event("CAcap", "choice", node="main", key=str(n % 9), at=NOW + n))
        assert sum(p.stat().st_size for p in spool_files(backend)) <= 3_000
        (said,) = [r.getMessage() for r in caplog.records if "cannot spool" in r.getMessage()]
        assert "over its limit of 3000 bytes" in said and "memory only" in said
        assert (log.pending, log.dropped) == (100, 0)  # held in memory instead
        backend.come_back()
        assert log.flush(timeout=30)
        assert len(log.journey("CAcap")) == 100
    finally:
        log.close()


def test_with_the_spool_off_nothing_is_written_to_disk(tmp_path):
    backend = SqliteBackend(tmp_path)
    settings = {"DATABASE_URL": backend.url, "IVR_SPOOL_DIR": "off"}
    with JourneyLog.from_config(settings) as log:
        assert log.spool is None
        log.record(Event("CAoff", "call-start", at=NOW))
        assert log.flush()
    assert not list(tmp_path.rglob("*.spool"))


def test_the_default_spool_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert spool_folder(sa.make_url("sqlite:///j.db")) == tmp_path / "j.db-spool"
    assert spool_folder(sa.make_url("sqlite://")) is None  # in memory: nothing outlives it
    pg = spool_folder(sa.make_url("postgresql+psycopg://ivr:secret@db.example:5432/calls"))
    assert pg.parent == tmp_path / "ivr-spool"
    assert pg.name.startswith("postgresql-db-example-calls-") and "secret" not in str(pg)
    given = spool_folder(sa.make_url("sqlite:///j.db"), "/var/spool/ivr101")
    assert given.parent == Path("/var/spool/ivr101")


# -- a served worker, SIGKILLed ------------------------------------------------------------------

TOKEN = "spool-test-token-0123456789abcdef"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_a_served_worker_sigkilled_loses_no_answered_call_or_confirmed_callback(backend, tmp_path):
    menu = tmp_path / "menus.json"
    menu.write_text(
        json.dumps(
            {
                "start": "main",
                "nodes": {
                    "main": {
                        "kind": "menu",
                        "prompt": "Welcome.",
                        "options": [{"key": "1", "say": "Press 1.", "goto": "q"}],
                        "fallback": "q",
                    },
                    "q": {
                        "kind": "queue",
                        "queue": "call-handlers",
                        "on_full": "bye",
                        "on_error": "bye",
                        "on_leave": "bye",
                        "callback": {"after_position": 5, "after_wait": 600},
                    },
                    "bye": {"kind": "hangup", "say": "Goodbye."},
                },
            }
        ),
        encoding="utf-8",
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": str(menu),
        "DATABASE_URL": backend.url,
        "IVR_SPOOL_DIR": str(backend.spool),
        "IVR_ALLOW_UNSIGNED": "",
        "PUBLIC_BASE_URL": "",
        "IVR_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.getcwd(),
    }
    command = [sys.executable, "-m", "ivr", "serve", "--port", str(port), "-w", "1", "-t", "4"]
    server = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    signer = RequestValidator(TOKEN)
    session = requests.Session()

    def post(path: str, **form: str) -> requests.Response:
        form = {"From": "+447400123456", "To": "+441632960101", **form}
        signature = signer.compute_signature(base + path, form)
        return session.post(
            base + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=10
        )

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                post("/status", CallSid="CAwarm", CallStatus="completed")
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        while count(backend.url, "calls") == 0:  # the worker has made the schema, and written
            assert time.monotonic() < deadline
            time.sleep(0.1)
        backend.go_down()  # the worker can write nothing now: all it is told stays with it
        answered = 1  # the warm-up above
        for n in range(20):
            sid = f"CA{n:032d}"
            for path, form in (
                ("/voice", {}),
                ("/menu/main?attempt=1", {"Digits": "1"}),
                ("/queue/q/wait?cycle=0", {"QueuePosition": "9", "AvgQueueTime": "900"}),
                ("/status", {"CallStatus": "completed", "CallDuration": "30"}),
            ):
                assert post(path, CallSid=sid, **form).status_code in (200, 204)
                answered += 1
        # Five callers take the callback offer and hear it confirmed.
        confirmed = 0
        for n in range(5):
            sid = f"CA{n:032d}"
            answer = post(
                "/queue/q/wait?cycle=1", CallSid=sid, QueuePosition="9", AvgQueueTime="900"
            )
            for _ in ("offer", "confirm"):
                url = ET.fromstring(answer.content).find(".//Gather").get("action")
                answer = post(url.removeprefix(base), CallSid=sid, Digits="1")
                answered += 1
            assert b"<Leave" in answer.content, answer.text
            answered += 1  # the wait above
            confirmed += 1
        (worker,) = _workers(server.pid)
        os.kill(worker, signal.SIGKILL)
        backend.come_back()
        # gunicorn starts a new worker; it replays what the dead one left. So would `ivr report`.
        deadline = time.monotonic() + 60
        while count(backend.url, "events") < answered and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.terminate()
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    # One event per answered webhook (a confirmation's is the "callback requested" step).
    assert count(backend.url, "events") == answered, err.decode(errors="replace")[-3000:]
    assert count(backend.url, "callbacks") == confirmed
    assert count(backend.url, "calls") == 21  # the twenty callers and the warm-up
    assert b"Traceback" not in err, err.decode(errors="replace")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+: fork with threads
def test_a_forked_worker_spools_to_a_file_of_its_own(backend):
    # gunicorn --preload forks workers from a process whose journey log already spools.
    log = open_log(backend)
    try:
        log.journey("CAx")
        backend.go_down()
        log.record(Event("CAparent", "call-start", at=NOW))
        pid = os.fork()
        if pid == 0:
            try:
                log.record(Event("CAchild", "call-start", at=NOW))
            finally:
                os.kill(os.getpid(), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:  # stuck, e.g. on a lock a parent's thread held at the fork
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked worker hung recording one event")
        assert os.WIFSIGNALED(done[1]) and os.WTERMSIG(done[1]) == signal.SIGKILL
        assert len(spool_files(backend)) == 2
        backend.come_back()
        assert log.replay() == 1  # the child's file; the parent still holds its own
        assert log.flush(timeout=30)
        assert {c.call_sid for c in log.recent_calls()} == {"CAparent", "CAchild"}
    finally:
        log.close()
    assert spool_files(backend) == []


def test_a_database_that_refuses_a_replay_costs_no_record(tmp_path, caplog):
    # e.g. `ivr report --database` with a read-only role: the replay fails, the file stays.
    backend = SqliteBackend(tmp_path)
    path = dead_process_file(backend, encode(event(1) + [None]))
    with open_log(backend) as log:
        log.journey("CAx")
        with log.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON events "
                "BEGIN SELECT RAISE(ABORT, 'read-only'); END"
            )
        assert log.replay() == 0
        assert path.exists() and log.dropped == 0
        assert not [r for r in caplog.records if "DROPPED" in r.getMessage()]
        with log.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse")
        assert log.replay() == 1
    assert not path.exists()


def test_an_event_of_the_shared_vocabulary_survives_the_spool() -> None:
    # The webhooks record Kind members; the spool keeps plain data only, so it must hold their
    # values, or every record would read back as damaged after a SIGKILL.
    from ivr.events import Event, Kind
    from ivr.journey import rows

    record = rows.Privacy("mask", None, False).record(
        Event("CA" + "1" * 32, Kind.CHOICE, node="main", key="1", outcome="option")
    )
    back = rows.loads(rows.dumps(record))
    assert back is not None and back[4] == "choice" and type(back[4]) is str
