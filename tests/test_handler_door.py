"""The call-handler line's door: the PIN's length, look-alike caller IDs, SHAKEN/STIR
attestation, and the PIN lockout per caller ID across workers (signed requests, as Twilio)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from handler_support import (
    HANDLER,
    MENU,
    PIN,
    STRANGER,
    Events,
    Twilio,
    fake_twilio,
    gather_action,
    handler,
    handler_app,
    said,
    verbs,
)
from twilio_fake import FakeTwilio

from ivr import settings
from ivr.cli import cli
from ivr.errors import ConfigError
from ivr.webhooks.lockout import LIMIT, WINDOW
from ivr.webhooks.serve import Server

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
OTHER = "+447700900888"
WRONG = "000000"
BOARD = "No callers are waiting in any queue."
PIN_PROMPT = "Enter your PIN, then hash."
REFUSED = "Sorry, this line is for police call handlers only. Goodbye."
# Twilio's StirVerstat values, from "Trusted Calling with SHAKEN/STIR":
# https://www.twilio.com/docs/voice/trusted-calling-with-shakenstir
PASSED_A = "TN-Validation-Passed-A"
PASSED_B = "TN-Validation-Passed-B"
PASSED_C = "TN-Validation-Passed-C"


@pytest.fixture
def fake() -> FakeTwilio:
    return fake_twilio()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def app(fake, events):
    return handler_app(fake, events)


class Clock:
    """The lockout's wall clock, moved by the test."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def on_clock(*apps: Flask) -> Clock:
    clock = Clock()
    for a in apps:
        a.extensions["ivr_handler"].lockout.clock = clock
    return clock


def key_wrong_pins(apps: list[Flask], caller: str, count: int, first_call: int = 0) -> Any:
    """``count`` wrong PINs from ``caller``, three per call; Twilio's requests land on each
    app (worker) in turn. Returns the last answer."""
    turn = 0
    sent = 0
    call = first_call
    root = None
    while sent < count:
        sid = f"CA{call:032d}"

        def post(url: str, sid: str = sid, **form: str) -> Any:
            nonlocal turn
            target = apps[turn % len(apps)]
            turn += 1
            return Twilio(target, sid, caller).twiml(url, **form)

        root = post("/handler")
        assert said(root) == PIN_PROMPT, f"wrong PIN {sent + 1} was not even asked for"
        while root.find("Gather") is not None and sent < count:
            root = post(gather_action(root), Digits=WRONG)
            sent += 1
        call += 1
    return root


def lockout_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "PIN entry refused" in r.getMessage()]


# -- the PIN: six digits or more, or the app does not start ---------------------------------


@pytest.mark.parametrize("pin", ["2468", "24681", "12 456", "24681x", "2468135x"])
def test_a_short_or_odd_pin_in_the_environment_is_refused(pin):
    with pytest.raises(ConfigError, match=r"^IVR_HANDLER_PIN: must be 6 or more digits"):
        settings.load(environ={"IVR_HANDLER_PIN": pin})
    assert settings.load(environ={"IVR_HANDLER_PIN": " 246813 "})["IVR_HANDLER_PIN"] == PIN


@pytest.mark.parametrize("command", ["serve", "run"])
def test_ivr_serve_and_run_refuse_a_four_digit_pin_in_one_line(command, monkeypatch):
    started = []
    monkeypatch.setattr(Server, "run", lambda self: started.append("gunicorn"))
    monkeypatch.setattr(Flask, "run", lambda self, **kw: started.append("flask"))
    result = CliRunner().invoke(
        cli,
        [command],
        env={"IVR_HANDLER_PIN": "2468", "IVR_MENU_FILE": str(MENU), "TWILIO_AUTH_TOKEN": "tok"},
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: IVR_HANDLER_PIN: must be 6 or more digits (digits only); a shorter PIN is too "
        "easy to guess"
    ]
    assert started == []


# -- look-alike caller IDs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller",
    [
        "client:+447700900001",
        "tel:+447700900001",
        "Alice <+447700900001>",
        "+447700900001;ext=123",
        "sip:+447700900001@example.org",
        "+44 7700 900001",
        "07700900001",
        "447700900001",
        " +447700900001",
    ],
)
def test_a_look_alike_of_an_allowed_number_is_asked_for_the_pin(app, fake, events, caller):
    root = handler(app, caller).twiml("/handler")
    assert verbs(root) == ["Gather"]
    assert said(root) == PIN_PROMPT
    assert fake.calls == []  # the queue board was never read
    assert "handler-in" not in events.kinds()


def test_a_look_alike_without_a_pin_configured_is_refused(fake):
    app = handler_app(fake, IVR_HANDLER_PIN="")
    assert said(handler(app, "tel:+447700900001").twiml("/handler")) == REFUSED
    assert BOARD in said(handler(app, HANDLER).twiml("/handler"))


# -- SHAKEN/STIR attestation (Twilio's StirVerstat) -----------------------------------------


@pytest.mark.parametrize(
    ("verstat", "gets_in"),
    [
        (PASSED_A, True),
        (PASSED_B, False),
        (PASSED_C, False),
        ("TN-Validation-Failed-A", False),
        ("TN-Validation-Failed", False),
        ("No-TN-Validation", False),
        ("TN-Validation-Passed-A-Diverted", False),  # a forwarding carrier's, not the caller's
        ("TN-Validation-Passed-A-Passthrough", False),
        ("tn-validation-passed-a", False),
        (None, False),  # Twilio sends none for calls it could not verify (all UK calls today)
    ],
)
def test_attestation_a_is_required_for_the_allow_list(fake, events, verstat, gets_in):
    app = handler_app(fake, events, IVR_HANDLER_REQUIRE_ATTESTATION="A")
    form = {"StirVerstat": verstat} if verstat is not None else {}
    root = handler(app, HANDLER, **form).twiml("/handler")
    if gets_in:
        assert BOARD in said(root)
        assert events.events[-1].outcome == "caller-id"
    else:
        assert said(root) == PIN_PROMPT
        assert "handler-in" not in events.kinds()


@pytest.mark.parametrize(
    ("verstat", "gets_in"), [(PASSED_A, True), (PASSED_B, True), (PASSED_C, False)]
)
def test_attestation_a_or_b(fake, verstat, gets_in):
    app = handler_app(fake, IVR_HANDLER_REQUIRE_ATTESTATION="A,B")
    root = handler(app, HANDLER, StirVerstat=verstat).twiml("/handler")
    assert (BOARD in said(root)) is gets_in
    assert (said(root) == PIN_PROMPT) is not gets_in


def test_b_alone_means_a_or_b():
    loaded = settings.load(environ={"IVR_HANDLER_REQUIRE_ATTESTATION": "b"})
    assert loaded["IVR_HANDLER_REQUIRE_ATTESTATION"] == ("A", "B")
    with pytest.raises(ConfigError, match="IVR_HANDLER_REQUIRE_ATTESTATION: must be A or A,B"):
        settings.load(environ={"IVR_HANDLER_REQUIRE_ATTESTATION": "C"})


def test_an_allowed_number_without_attestation_gets_in_with_the_pin(fake, events):
    app = handler_app(fake, events, IVR_HANDLER_REQUIRE_ATTESTATION="A")
    t = handler(app, HANDLER, StirVerstat=PASSED_B)
    root = t.twiml(gather_action(t.twiml("/handler")), Digits=PIN)
    assert BOARD in said(root)
    assert events.events[-1].outcome == "pin"


def test_attestation_alone_is_no_way_in(fake):
    app = handler_app(fake, IVR_HANDLER_REQUIRE_ATTESTATION="A")
    assert said(handler(app, STRANGER, StirVerstat=PASSED_A).twiml("/handler")) == PIN_PROMPT


def test_attestation_required_and_no_pin_refuses_the_unattested(fake, caplog):
    with caplog.at_level(logging.WARNING, logger="ivr.handler"):
        app = handler_app(fake, IVR_HANDLER_REQUIRE_ATTESTATION="A", IVR_HANDLER_PIN="")
    assert "allow-listed numbers without SHAKEN/STIR attestation A are refused" in caplog.text
    assert said(handler(app, HANDLER).twiml("/handler")) == REFUSED
    assert BOARD in said(handler(app, HANDLER, StirVerstat=PASSED_A).twiml("/handler"))


# -- the PIN lockout: per caller ID, exact, fifteen minutes, logged once ----------------------


def test_the_tenth_wrong_pin_locks_out_that_caller_id_and_no_one_else(app, events, caplog):
    on_clock(app)
    with caplog.at_level(logging.WARNING, logger="ivr.handler"):
        root = key_wrong_pins([app], STRANGER, LIMIT - 1)  # three calls of three
        assert said(root) == REFUSED
        # The fourth call is still asked; its first wrong PIN is the tenth and ends it.
        t = handler(app, STRANGER, sid="CA" + "4" * 32)
        root = t.twiml(gather_action(t.twiml("/handler")), Digits=WRONG)
        assert verbs(root) == ["Say", "Hangup"]
        assert said(root) == REFUSED
        assert events.events[-1].outcome == "locked"

        # Locked out: not asked at all, and the right PIN is not even compared.
        t = handler(app, STRANGER, sid="CA" + "5" * 32)
        assert said(t.twiml("/handler")) == REFUSED
        assert said(t.twiml("/handler/pin?attempt=1", Digits=PIN)) == REFUSED
        assert events.events[-1].outcome == "locked"

    # One lockout, one line, with the number masked.
    (line,) = lockout_lines(caplog)
    assert "10 wrong PINs from +44*******999 within 15 minutes" in line
    assert STRANGER not in caplog.text

    # Everyone else: another caller's PIN works, and the allow-list still works.
    other = handler(app, OTHER, sid="CA" + "6" * 32)
    assert BOARD in said(other.twiml(gather_action(other.twiml("/handler")), Digits=PIN))
    assert BOARD in said(handler(app, HANDLER).twiml("/handler"))


def test_nine_wrong_pins_then_the_right_one_gets_in_and_starts_afresh(app):
    on_clock(app)
    key_wrong_pins([app], STRANGER, LIMIT - 1)
    t = handler(app, STRANGER, sid="CA" + "7" * 32)
    assert BOARD in said(t.twiml(gather_action(t.twiml("/handler")), Digits=PIN))
    # The right PIN cleared the count: nine more wrong ones do not lock them out.
    key_wrong_pins([app], STRANGER, LIMIT - 1, first_call=10)
    assert said(handler(app, STRANGER, sid="CA" + "8" * 32).twiml("/handler")) == PIN_PROMPT


def test_a_lockout_ends_fifteen_minutes_after_the_first_of_its_wrong_pins(app):
    clock = on_clock(app)
    first = clock.now
    key_wrong_pins([app], STRANGER, LIMIT)
    clock.now = first + WINDOW - 1
    assert said(handler(app, STRANGER, sid="CA" + "8" * 32).twiml("/handler")) == REFUSED
    clock.now = first + WINDOW
    t = handler(app, STRANGER, sid="CA" + "9" * 32)
    root = t.twiml("/handler")
    assert said(root) == PIN_PROMPT
    assert BOARD in said(t.twiml(gather_action(root), Digits=PIN))


def test_callers_without_a_plain_number_share_one_count(app):
    """They can call themselves anything (SIP, client:, a display name), so a fresh name is
    no fresh set of guesses; withheld-number staff should use the allow-list or a phone."""
    on_clock(app)
    names = ["sip:a@example.org", "client:bob", "Alice <+447700900123>", "anonymous"]
    for n, name in enumerate(names):
        key_wrong_pins([app], name, 3 if n < 3 else 1, first_call=n * 10)
    assert said(handler(app, "sip:new@example.org", sid="CA" + "8" * 32).twiml("/handler")) == (
        REFUSED
    )
    assert said(handler(app, STRANGER, sid="CA" + "9" * 32).twiml("/handler")) == PIN_PROMPT


# -- several workers, one count ----------------------------------------------------------------


@contextmanager
def postgres_url() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of the test database, dropped afterwards."""
    schema = f"ivr_door_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path: Path) -> Iterator[str]:
    """The journey log's database, new: no tables yet."""
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("set TEST_DATABASE_URL to run against PostgreSQL")
        with postgres_url() as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'journeys.db'}"


@pytest.fixture
def workers(fake, database) -> Iterator[list[Flask]]:
    # A new database: the first use of the lockout makes the schema if the journey log's
    # writer has not yet (both run the same migrations, under one lock).
    apps = [handler_app(fake, DATABASE_URL=database) for _ in range(2)]
    yield apps
    for a in apps:
        a.extensions["ivr"].journey.close()


def test_two_workers_count_one_callers_wrong_pins_together(workers, caplog):
    one, two = workers
    on_clock(one, two)
    with caplog.at_level(logging.WARNING, logger="ivr.handler"):
        root = key_wrong_pins([one, two], STRANGER, LIMIT)  # five each, alternating
        assert said(root) == REFUSED
        for n, worker in enumerate((one, two)):
            t = handler(worker, STRANGER, sid=f"CA{90 + n:032d}")
            assert said(t.twiml("/handler")) == REFUSED
            assert said(t.twiml("/handler/pin?attempt=1", Digits=PIN)) == REFUSED
    assert len(lockout_lines(caplog)) == 1  # whichever worker saw the tenth, once
    # Nobody else is locked out, on either worker.
    for n, worker in enumerate((one, two)):
        other = handler(worker, OTHER, sid=f"CA{95 + n:032d}")
        assert BOARD in said(other.twiml(gather_action(other.twiml("/handler")), Digits=PIN))
        assert BOARD in said(handler(worker, HANDLER).twiml("/handler"))


def test_forty_wrong_pins_across_two_workers_get_no_more_than_ten_tries(workers):
    one, two = workers
    on_clock(one, two)
    tried = 0
    for call in range(14):  # 14 calls x 3 tries = 42 chances to guess
        worker = (one, two)[call % 2]
        t = handler(worker, STRANGER, sid=f"CA{call:032d}")
        root = t.twiml("/handler")
        while root.find("Gather") is not None:
            root = t.twiml(gather_action(root), Digits=WRONG)
            tried += 1
    assert tried == LIMIT
