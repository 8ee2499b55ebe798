"""The PIN lockout's stores (ivr.webhooks.lockout): the threshold, the window, per caller, shared.

Each test runs on every store: in memory, a SQLite file, and the real PostgreSQL when
TEST_DATABASE_URL is set (a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.webhooks.lockout import (
    LIMIT,
    WINDOW,
    MemoryPinAttempts,
    PinAttempts,
    SqlPinAttempts,
    metadata,
    pin_attempts,
    pin_failures,
)

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
T0 = 1_780_000_000.0  # a moment in 2026, seconds since the epoch
A = "caller-a"
B = "caller-b"


def wrong(store: PinAttempts, caller: str, now: float) -> bool:
    """A wrong PIN as the handler line keys it: counted before it is compared; True when this
    try is the one that locks ``caller`` out (once per lockout)."""
    return store.attempt(caller, now) == store.limit


@contextmanager
def postgres_url() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of the test database, dropped afterwards."""
    schema = f"ivr_lockout_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def engine_for(url: str) -> sa.Engine:
    # SQLite: wait for another writer, as the journey log's engine does (busy_timeout).
    args = {"timeout": 30} if url.startswith("sqlite") else {}
    return sa.create_engine(url, connect_args=args)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_factory(request, tmp_path: Path) -> Iterator[Callable[[], PinAttempts]]:
    """Makes stores that share one count (one per worker), on each back-end in turn."""
    if request.param == "memory":
        shared = MemoryPinAttempts()
        yield lambda: shared
        return
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("set TEST_DATABASE_URL to run against PostgreSQL")
    with postgres_url() if request.param == "postgresql" else _sqlite(tmp_path) as url:
        engines: list[sa.Engine] = []
        first = engine_for(url)
        metadata.create_all(first)  # the journey log's migration does this in service
        engines.append(first)

        def make() -> PinAttempts:
            engine = engine_for(url)
            engines.append(engine)
            return SqlPinAttempts(engine)

        yield make
        for engine in engines:
            engine.dispose()


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'journeys.db'}"


def test_the_tenth_wrong_pin_locks_out_exactly_once(store_factory):
    store = store_factory()
    for n in range(1, LIMIT):
        assert wrong(store, A, T0 + n) is False, n
        assert store.locked(A, T0 + n) is False, n
    assert wrong(store, A, T0 + LIMIT) is True
    assert store.locked(A, T0 + LIMIT) is True
    # More failures while locked out are not a new lockout.
    assert wrong(store, A, T0 + LIMIT + 1) is False
    assert store.locked(A, T0 + LIMIT + 1) is True


def test_a_wrong_pin_counts_for_fifteen_minutes(store_factory):
    store = store_factory()
    for n in range(LIMIT):
        wrong(store, A, T0 + n)  # one a second
    assert WINDOW == 15 * 60
    # Locked until the first wrong PIN is fifteen minutes old, and not a moment longer.
    assert store.locked(A, T0 + WINDOW - 0.001) is True
    assert store.locked(A, T0 + WINDOW) is False
    # Back to nine in the window: the next wrong PIN is the tenth again, a new lockout.
    assert wrong(store, A, T0 + WINDOW + 0.5) is True
    assert store.locked(A, T0 + WINDOW + 0.5) is True
    # Long after: nothing counts any more.
    later = T0 + 3 * WINDOW
    assert store.locked(A, later) is False
    assert wrong(store, A, later) is False


def test_one_caller_guessing_does_not_lock_out_another(store_factory):
    store = store_factory()
    for n in range(LIMIT):
        wrong(store, A, T0 + n)
    assert store.locked(A, T0 + LIMIT) is True
    assert store.locked(B, T0 + LIMIT) is False
    for n in range(LIMIT - 1):
        assert wrong(store, B, T0 + LIMIT + n) is False
    assert store.locked(B, T0 + 2 * LIMIT) is False


def test_the_right_pin_clears_the_callers_count(store_factory):
    store = store_factory()
    for n in range(LIMIT - 1):
        wrong(store, A, T0 + n)
        wrong(store, B, T0 + n)
    store.passed(A, T0 + LIMIT)
    assert wrong(store, A, T0 + LIMIT + 1) is False  # the first of a new count
    assert wrong(store, B, T0 + LIMIT + 1) is True  # B's count was not touched


def test_two_workers_share_one_count(store_factory):
    one, two = store_factory(), store_factory()
    locks = []
    for n in range(LIMIT):
        worker = one if n % 2 else two
        locks.append(wrong(worker, A, T0 + n))
    assert locks == [False] * (LIMIT - 1) + [True]
    assert one.locked(A, T0 + LIMIT) and two.locked(A, T0 + LIMIT)
    assert not one.locked(B, T0 + LIMIT) and not two.locked(B, T0 + LIMIT)


def race(workers: list[PinAttempts], each: Callable[[PinAttempts, int], Any]) -> list[Any]:
    """Every worker on its own thread, started together, calls ``each(store, n)`` for n in
    0..5; the results, in the order they came back (an exception in a thread fails the test)."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def run(store: PinAttempts) -> None:
        try:
            start.wait()
            for n in range(6):
                results.append(each(store, n))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return results


def test_simultaneous_wrong_pins_lock_out_once(store_factory):
    """Workers racing: the failure that reaches the limit is known exactly, so one lockout."""
    workers = [store_factory() for _ in range(4)]
    results = race(workers, lambda store, n: wrong(store, A, T0 + n))
    assert len(results) == 24
    assert results.count(True) == 1


def test_simultaneous_tries_are_counted_before_they_are_compared(store_factory):
    """Many calls keying a PIN at once: each try is counted before its PIN is compared, so
    exactly LIMIT of them are let through to the comparison, however they race."""
    workers = [store_factory() for _ in range(4)]
    tries = race(workers, lambda store, n: store.attempt(A, T0))
    assert sorted(n for n in tries if n) == list(range(1, LIMIT + 1))
    assert tries.count(0) == 24 - LIMIT  # refused uncompared: locked out
    assert workers[0].locked(A, T0) and not workers[0].locked(B, T0)
    workers[0].passed(A, T0)  # the right PIN, on the last try allowed
    assert workers[1].attempt(A, T0) == 1


def test_a_new_database_gets_its_table_before_the_first_try(tmp_path, caplog):
    """The journey log's writer makes the schema in the background; the first wrong PIN may
    come first. The store makes it then (``prepare``), rather than count alone in memory."""
    engine = engine_for(f"sqlite:///{tmp_path / 'journeys.db'}")  # no tables yet
    store = SqlPinAttempts(engine, prepare=lambda: metadata.create_all(engine))
    with caplog.at_level("WARNING", logger="ivr.handler"):
        assert [store.attempt(A, T0 + n) for n in range(3)] == [1, 2, 3]
    assert "cannot be used" not in caplog.text
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pin_failures)).scalar() == 3
    engine.dispose()


def test_expired_failures_are_deleted(tmp_path):
    url = f"sqlite:///{tmp_path / 'journeys.db'}"
    engine = engine_for(url)
    metadata.create_all(engine)
    store = SqlPinAttempts(engine)
    wrong(store, A, T0)
    wrong(store, B, T0)
    wrong(store, A, T0 + WINDOW + 1)  # A's old one goes with it; B's in the sweep
    with engine.connect() as conn:
        rows = conn.execute(sa.select(pin_failures.c.caller, pin_failures.c.at)).all()
    assert rows == [(A, T0 + WINDOW + 1)]
    engine.dispose()


def test_without_its_table_the_count_goes_on_in_memory(tmp_path, caplog):
    engine = engine_for(f"sqlite:///{tmp_path / 'journeys.db'}")  # no table: not migrated
    store = SqlPinAttempts(engine)
    with caplog.at_level("WARNING", logger="ivr.handler"):
        locks = [wrong(store, A, T0 + n) for n in range(LIMIT)]
        assert store.locked(A, T0 + LIMIT) is True
        assert store.locked(B, T0 + LIMIT) is False
    assert locks == [False] * (LIMIT - 1) + [True]
    faults = [r for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(faults) == 1  # logged once, not per request
    assert "handler_pin_failures" in faults[0].getMessage()

    metadata.create_all(engine)  # the database comes right
    with caplog.at_level("WARNING", logger="ivr.handler"):
        assert wrong(store, B, T0 + LIMIT) is False
    assert "database is back" in caplog.text
    engine.dispose()


def test_the_store_follows_the_journey_log(tmp_path):
    assert isinstance(pin_attempts(None), MemoryPinAttempts)
    assert isinstance(pin_attempts(sa.create_engine("sqlite://")), MemoryPinAttempts)
    shared = pin_attempts(sa.create_engine(f"sqlite:///{tmp_path / 'j.db'}"))
    assert isinstance(shared, SqlPinAttempts)


def test_memory_forgets_the_longest_quiet_callers_first():
    store = MemoryPinAttempts(callers=3)
    for n in range(LIMIT):
        wrong(store, A, T0 + n)
    for i in range(3):
        wrong(store, f"made-up-{i}", T0 + LIMIT + i)
    assert store.locked(A, T0 + LIMIT + 3) is False  # bounded memory: A was forgotten
    assert store.locked("made-up-2", T0 + LIMIT + 3) is False
