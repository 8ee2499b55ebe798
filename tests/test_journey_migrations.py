"""The journey log's schema under Alembic: new databases, databases made before Alembic, several
processes starting at once, a database from a newer ivr101, and ``ivr db``.

Every test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from journey_legacy import make_legacy_database
from journey_support import BACKENDS, backend_for

from ivr.cli import cli
from ivr.errors import JourneyError
from ivr.events import Event
from ivr.journey import JourneyLog, migrate, schema_head
from ivr.journey.schema import metadata

NOW = 1_790_000_000.0


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    with backend_for(request.param, tmp_path) as b:
        yield b


@pytest.fixture
def engine(backend):
    e = sa.create_engine(backend.url, poolclass=sa.pool.NullPool)
    yield e
    e.dispose()


def open_log(backend) -> JourneyLog:
    return JourneyLog(backend.url, spool=backend.spool, retry_initial=0.01, retry_max=0.2)


def revisions(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_the_migrations_build_exactly_the_tables_the_code_uses(engine):
    assert migrate.upgrade(engine) == schema_head() == "0004"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("callbacks")}
    assert indexes["ix_callbacks_call_sid"]["unique"]
    assert migrate.upgrade(engine) == "0004"  # again: nothing to do
    assert revisions(engine) == ["0004"]


def test_the_revisions_go_down_and_up_again(engine):
    migrate.upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(migrate.config(conn), "base")
        assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}
    assert migrate.upgrade(engine) == "0004"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_version_2_database_is_adopted_without_loss(backend, engine):
    make_legacy_database(engine, 2)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO calls (call_sid, started, ended, status, duration, caller, language) "
                "VALUES ('CAv2', :t, :e, 'completed', 42, '+44*******123', 'cy-GB')"
            ),
            {"t": NOW, "e": NOW + 42},
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (id, call_sid, at, kind, node, key, option, confidence, "
                "outcome, detail, language) VALUES ('e1', 'CAv2', :t, 'choice', 'main', '1', "
                "'crime', 0.87, 'option', '{\"attempt\": 1}', 'cy-GB')"
            ),
            {"t": NOW + 3},
        )
        # Three copies of one request (a replayed webhook, before requests were unique), the
        # second marked done; and another call's request.
        for n, (sid, done, notes) in enumerate(
            [("CAv2", None, None), ("CAv2", NOW + 900, "rang back"), ("CAv2", None, None)]
            + [("CAother", None, "urgent")]
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO callbacks (id, call_sid, number, queue, node, position, wait, "
                    "requested_at, done_at, notes) VALUES (:id, :sid, '+447911123456', 'q', "
                    "'crime_q', 7, 900, :at, :done, :notes)"
                ),
                {"id": f"cb{n}", "sid": sid, "at": NOW + 50 + n, "done": done, "notes": notes},
            )

    log = open_log(backend)
    try:
        (old,) = log.journey("CAv2")
        assert (old.kind, old.option, old.confidence, old.detail, old.language) == (
            "choice",
            "crime",
            0.87,
            {"attempt": 1},
            "cy-GB",
        )
        call = log.call("CAv2")
        assert (call.duration, call.caller, call.language) == (42, "+44*******123", "cy-GB")
        with log.engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT * FROM callbacks ORDER BY id")).mappings().all()
            assert not sa.inspect(conn).has_table("schema_version")
        assert [(r["id"], r["call_sid"], r["done_at"], r["notes"]) for r in kept] == [
            ("cb0", "CAv2", NOW + 900, "rang back"),
            ("cb3", "CAother", None, "urgent"),
        ]
        assert [c.id for c in log.pending_callbacks()] == ["cb3"]
        assert revisions(log.engine) == [schema_head()]
        # And it goes on working: new steps and the unique request per call.
        log.record(Event("CAv2", "hangup", node="bye", at=NOW + 41))
        assert log.request_callback("CAother", "+447400123456") == "cb3"
        assert [e.kind for e in log.journey("CAv2")] == ["choice", "hangup"]
    finally:
        log.close()


def test_a_version_1_database_with_data_is_adopted_without_loss(backend, engine):
    make_legacy_database(engine, 1)
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
    log = open_log(backend)
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
        assert revisions(log.engine) == [schema_head()]
    finally:
        log.close()


def test_many_logs_starting_on_a_new_database_migrate_it_once(backend):
    # As gunicorn workers' threads do: each its own log and connections, all at once.
    logs = [open_log(backend) for _ in range(8)]
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
        assert revisions(logs[0].engine) == [schema_head()]
        with logs[0].engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar() == len(logs)
        assert sum(log.dropped for log in logs) == 0
    finally:
        for log in logs:
            log.close()


UPGRADER = """
import os, sys, time
from pathlib import Path
import sqlalchemy as sa
from ivr.journey import migrate
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(migrate.upgrade(sa.create_engine(sys.argv[1], poolclass=sa.pool.NullPool)))
"""


@pytest.mark.parametrize("start", ["empty", "version 2"])
def test_several_processes_upgrading_at_once_do_it_once(backend, engine, tmp_path, start):
    if start == "version 2":
        make_legacy_database(engine, 2)
        with engine.begin() as conn:
            for n in range(2):  # duplicates the upgrade folds together
                conn.execute(
                    sa.text(
                        "INSERT INTO callbacks (id, call_sid, number, requested_at) "
                        "VALUES (:id, 'CAdup', '+447911123456', :at)"
                    ),
                    {"id": f"cb{n}", "at": NOW + n},
                )
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADER, backend.url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ | {"PYTHONPATH": os.getcwd()},
        )
        for _ in range(6)
    ]
    time.sleep(3)  # let every process get as far as waiting for the word
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err.decode() for _, err in outputs]
    assert [out.decode().strip() for out, _ in outputs] == ["0004"] * 6
    assert revisions(engine) == ["0004"]
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT id FROM callbacks")).scalars().all()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert kept == (["cb0"] if start == "version 2" else [])


def test_a_database_from_a_newer_ivr_is_refused(engine):
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(JourneyError, match="revision 0099, which this ivr101 does not know"):
        migrate.upgrade(engine)


def test_a_legacy_database_newer_than_version_2_is_refused(engine):
    make_legacy_database(engine, 2)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 3"))
    with pytest.raises(JourneyError, match="schema version 3, newer than this ivr101"):
        migrate.upgrade(engine)


# -- ivr db --------------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_ivr_db_current_and_upgrade(backend, engine):
    make_legacy_database(engine, 2)
    url = sa.make_url(backend.url).render_as_string(hide_password=True)
    before = run("db", "current", "--database", backend.url)
    assert before.exit_code == 0, before.output
    assert before.output == (
        f"{url}: schema version 2 (made before Alembic) "
        f"(`ivr db upgrade` takes it to {schema_head()}).\n"
    )
    up = run("db", "upgrade", "--database", backend.url)
    assert up.exit_code == 0, up.output
    assert up.output == (
        f"{url}: upgraded from schema version 2 (made before Alembic) to revision 0004.\n"
    )
    again = run("db", "upgrade", "--database", backend.url)
    assert again.output == f"{url}: already at revision 0004 (the newest).\n"
    after = run("db", "current", "--database", backend.url)
    assert after.output == f"{url}: revision 0004 (the newest).\n"
    assert revisions(engine) == ["0004"]


def test_ivr_db_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run("db", "current", "--database", url).output == (
        f"{url}: no schema yet (`ivr db upgrade` takes it to 0004).\n"
    )
    assert run("db", "upgrade", "--database", url).output == (
        f"{url}: upgraded from an empty database to revision 0004.\n"
    )


def test_ivr_db_upgrade_refuses_a_newer_database(engine, backend):
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    result = run("db", "upgrade", "--database", backend.url)
    assert result.exit_code == 1
    assert "(a newer ivr101 migrated it); upgrade ivr101" in result.output


def test_ivr_db_has_help_with_examples():
    for command_ in (["db"], ["db", "upgrade"], ["db", "current"]):
        result = run(*command_, "--help")
        assert result.exit_code == 0 and "Example:" in result.output


def test_logs_on_different_databases_may_start_at_once_in_one_process(tmp_path):
    # Alembic's `op` is module-wide: two upgrades at once in one process, on two databases,
    # once ran one's DDL on the other's SQLite connection (and crashed the interpreter).
    logs = [
        JourneyLog(f"sqlite:///{tmp_path}/db{n}.db", spool=tmp_path / "spool") for n in range(8)
    ]
    start = threading.Barrier(len(logs))

    def begin(log: JourneyLog) -> None:
        start.wait()
        log.record(Event("CA1", "call-start", at=NOW))

    threads = [threading.Thread(target=begin, args=(log,)) for log in logs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(log.flush(timeout=60) for log in logs)
        assert all(revisions(log.engine) == [schema_head()] for log in logs)
        assert all(len(log.journey("CA1")) == 1 for log in logs)
    finally:
        for log in logs:
            log.close()
