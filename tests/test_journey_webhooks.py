"""The journey log behind the webhooks: calls recorded end to end, the callback offer, outages,
and the commands that read it back.

Every test with a database runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from journey_support import BACKENDS, backend_for

from ivr import create_app
from ivr.caller.trace import CallEventKind
from ivr.cli import cli

CALLER = "+447400123456"

MENU = {
    "start": "main",
    "nodes": {
        "main": {
            "kind": "menu",
            "prompt": "Welcome.",
            "options": [
                {"key": "1", "say": "For a call handler, press 1.", "goto": "handlers"},
                {"key": "2", "say": "For information, press 2.", "goto": "info"},
            ],
            "fallback": "handlers",
        },
        "handlers": {
            "kind": "queue",
            "queue": "call-handlers",
            "on_full": "bye",
            "on_error": "bye",
            "on_leave": "bye",
            "callback": {"after_position": 5, "after_wait": 600},
        },
        "info": {"kind": "message", "say": "See our website.", "next": "bye"},
        "bye": {"kind": "hangup", "say": "Goodbye."},
    },
}


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path, monkeypatch):
    with backend_for(request.param, tmp_path) as backend:
        # The commands read settings: their spool folder is the test's too.
        monkeypatch.setenv("IVR_SPOOL_DIR", str(backend.spool))
        yield backend


@pytest.fixture
def app(tmp_path, db):
    menu = tmp_path / "menus.json"
    menu.write_text(json.dumps(MENU), encoding="utf-8")
    app = create_app(
        {
            "TESTING": True,
            "IVR_MENU_FILE": str(menu),
            "IVR_ALLOW_UNSIGNED": True,
            "DATABASE_URL": db.url,
            "IVR_SPOOL_DIR": str(db.spool),
        }
    )
    journey = app.extensions["ivr"].journey
    journey.writer.retry_initial, journey.writer.retry_max = 0.01, 0.2
    yield app
    journey.close()


class Phone:
    """One caller posting to the app the way Twilio would (signatures are off here)."""

    def __init__(self, client, sid: str, caller: str = CALLER) -> None:
        self.client, self.sid, self.caller = client, sid, caller

    def post(self, url: str, **form: str) -> ET.Element:
        form = {"CallSid": self.sid, "From": self.caller, **form}
        response = self.client.post(url, data=form)
        assert response.status_code in (200, 204), response.data
        return ET.fromstring(response.data) if response.data else ET.Element("Response")


def action(root: ET.Element, verb: str = "Gather") -> str:
    el = root.find(f".//{verb}")
    assert el is not None, ET.tostring(root)
    url = el.get("action") if verb != "Redirect" else el.text
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def said(root: ET.Element) -> str:
    return " ".join(el.text or "" for el in root.iter("Say"))


def test_a_call_is_recorded_step_by_step(app):
    phone = Phone(app.test_client(), "CAweb1")
    phone.post("/voice", To="+441234567890")
    phone.post("/menu/main", Digits="2")
    phone.post("/status", CallStatus="completed", CallDuration="17")
    log = app.extensions["ivr"].journey
    steps = log.journey("CAweb1")
    assert [(e.kind, e.node, e.key, e.option, e.outcome) for e in steps] == [
        ("call-start", "main", None, None, None),
        ("choice", "main", "2", "info", "option"),
        ("status", None, None, None, "completed"),
    ]
    call = log.call("CAweb1")
    assert (call.status, call.duration, call.caller) == ("completed", 17, "+44*******456")


def test_the_callback_offer_with_the_callers_own_number(app):
    phone = Phone(app.test_client(), "CAcb1")
    phone.post("/voice")
    phone.post("/menu/main", Digits="1")
    # Short queue: no offer, plain hold.
    calm = phone.post("/queue/handlers/wait", QueuePosition="2", AvgQueueTime="60")
    assert calm.find("Gather") is None
    # Long queue: everything on hold plays inside a Gather that offers the callback.
    busy = phone.post("/queue/handlers/wait?cycle=1", QueuePosition="12", AvgQueueTime="900")
    assert [el.tag for el in busy] == ["Gather", "Redirect"]
    assert "press 1" in said(busy)
    assert busy.find("Gather").get("numDigits") == "1"

    confirm = phone.post(action(busy), Digits="1")
    assert "ending 4 5 6" in said(confirm)
    done = phone.post(action(confirm), Digits="1")
    assert [el.tag for el in done] == ["Say", "Leave"]
    assert "0 7 4 0 0, 1 2 3 4 5 6" in said(done)

    # Twilio then ends <Enqueue> with QueueResult=leave: the menu says goodbye.
    after = phone.post("/queue/handlers/result", QueueResult="leave", QueueTime="95")
    assert "Goodbye." in said(after) and after.find("Hangup") is not None

    log = app.extensions["ivr"].journey
    (cb,) = log.pending_callbacks()
    assert (cb.call_sid, cb.number, cb.queue, cb.node, cb.position, cb.wait) == (
        "CAcb1",
        CALLER,
        "call-handlers",
        "handlers",
        12,
        900,
    )
    assert cb.path == ("handlers",)
    kinds = [(e.kind, e.outcome) for e in log.journey("CAcb1")]
    assert ("callback-offer", "offered") in kinds
    assert ("callback", "requested") in kinds
    assert kinds[-1] == ("queue-result", "leave")


def test_a_callback_keeps_the_place_in_line_the_caller_confirmed_at(app):
    """Offered at 12th, the caller has moved up to 9th by the time they confirm (Twilio sends
    the queue's parameters while they are still queued): the request says 9th."""
    phone = Phone(app.test_client(), "CAcb9")
    phone.post("/voice")
    phone.post("/menu/main", Digits="1")
    busy = phone.post("/queue/handlers/wait?cycle=1", QueuePosition="12", AvgQueueTime="900")
    confirm = phone.post(action(busy), Digits="1", QueuePosition="10")
    phone.post(action(confirm), Digits="1", QueuePosition="9")
    (cb,) = app.extensions["ivr"].journey.pending_callbacks()
    assert (cb.call_sid, cb.position, cb.wait) == ("CAcb9", 9, 900)


@pytest.mark.parametrize(
    ("position", "avg_wait", "offered"),
    [
        ("1", "600", True),  # the wait alone: after_wait is 600 seconds (Twilio's AvgQueueTime)
        ("1", "599", False),
        ("5", "0", True),  # the place in line alone
        ("4", "0", False),
    ],
)
def test_the_callback_offer_on_either_the_wait_or_the_place_in_line(
    app, position, avg_wait, offered
):
    phone = Phone(app.test_client(), "CAcbw" + position + avg_wait)
    phone.post("/voice")
    phone.post("/menu/main", Digits="1")
    hold = phone.post("/queue/handlers/wait", QueuePosition=position, AvgQueueTime=avg_wait)
    assert (hold.find("Gather") is not None) is offered
    assert ("press 1" in said(hold)) is offered


def test_a_callback_step_for_a_queue_node_gone_from_the_menu_keeps_the_caller_holding(app):
    """The menu was edited while the caller heard the offer: no apology, no error, nothing
    stored; the caller keeps holding in Twilio's queue."""
    phone = Phone(app.test_client(), "CAcbgone")
    phone.post("/voice")
    root = phone.post("/queue/removed_queue/callback/confirm?cycle=2", Digits="1")
    assert [el.tag for el in root] and root.find("Leave") is None
    assert root.find("Enqueue") is None and root.find("Hangup") is None
    assert "technical problem" not in said(root).lower()
    assert app.extensions["ivr"].journey.pending_callbacks() == []


def test_the_callback_offer_with_a_keyed_number(app):
    phone = Phone(app.test_client(), "CAcb2")
    busy = phone.post("/queue/handlers/wait", QueuePosition="9", AvgQueueTime="60")
    confirm = phone.post(action(busy), Digits="1")
    ask = phone.post(action(confirm), Digits="2")
    assert "key in the U K phone number" in said(ask)
    assert ask.find("Gather").get("finishOnKey") == "#"
    wrong = phone.post(action(ask), Digits="0740012")
    assert "not a U K phone number" in said(wrong)
    done = phone.post(action(wrong), Digits="01632960001")  # Ofcom's drama range: not valid
    assert "not a U K phone number" in said(done)
    done = phone.post(action(done), Digits="07911123456")
    assert [el.tag for el in done] == ["Say", "Leave"]
    (cb,) = app.extensions["ivr"].journey.pending_callbacks()
    assert cb.number == "+447911123456"
    stored = json.dumps([e.as_dict() for e in app.extensions["ivr"].journey.journey("CAcb2")])
    assert "0740012" not in stored  # keyed digits are not kept in the journey


def test_a_withheld_number_is_asked_for_straight_away(app):
    phone = Phone(app.test_client(), "CAcb3", caller="anonymous")
    busy = phone.post("/queue/handlers/wait", QueuePosition="20", AvgQueueTime="60")
    ask = phone.post(action(busy), Digits="1")
    assert "key in the U K phone number" in said(ask)


def test_pressing_another_key_keeps_the_caller_holding(app):
    phone = Phone(app.test_client(), "CAcb4")
    busy = phone.post("/queue/handlers/wait?cycle=3", QueuePosition="20", AvgQueueTime="60")
    back = phone.post(action(busy), Digits="5")
    assert [el.tag for el in back] == ["Say", "Redirect"]
    assert action(back, "Redirect").startswith("/queue/handlers/wait?cycle=4")
    assert app.extensions["ivr"].journey.pending_callbacks() == []


def test_giving_up_on_the_number_goes_back_to_holding(app):
    phone = Phone(app.test_client(), "CAcb5")
    url = "/queue/handlers/callback/number?cycle=0&position=9&wait=60&attempt=3"
    back = phone.post(url, Digits="123")
    assert "still in the queue" in said(back)
    assert back.find("Redirect") is not None and back.find("Leave") is None


def test_no_offer_without_a_journey_log(tmp_path):
    menu = tmp_path / "menus.json"
    menu.write_text(json.dumps(MENU), encoding="utf-8")
    app = create_app(
        {
            "TESTING": True,
            "IVR_MENU_FILE": str(menu),
            "IVR_ALLOW_UNSIGNED": True,
            "IVR_JOURNEY_LOG": False,
        }
    )
    assert app.extensions["ivr"].journey is None
    phone = Phone(app.test_client(), "CAoff")
    busy = phone.post("/queue/handlers/wait", QueuePosition="20", AvgQueueTime="900")
    assert busy.find("Gather") is None


def test_the_app_keeps_answering_while_the_database_is_down(app, db):
    phone = Phone(app.test_client(), "CAdown")
    log = app.extensions["ivr"].journey
    phone.post("/voice")
    assert log.flush()
    db.go_down()
    root = phone.post("/menu/main", Digits="1")
    assert root.find("Enqueue") is not None  # the caller hears the menu as usual
    busy = phone.post("/queue/handlers/wait", QueuePosition="12", AvgQueueTime="900")
    confirm = phone.post(action(busy), Digits="1")
    done = phone.post(action(confirm), Digits="1")
    assert done.find("Leave") is not None
    assert not log.flush(timeout=0.3)
    db.come_back()
    assert log.flush(timeout=30)
    kinds = [e.kind for e in log.journey("CAdown")]
    assert kinds == ["call-start", "choice", "queue-wait", "callback-offer", "callback"]
    assert len(log.pending_callbacks()) == 1


def test_replaying_the_callback_webhook_gives_one_callback(app):
    phone = Phone(app.test_client(), "CAreplay")
    busy = phone.post("/queue/handlers/wait", QueuePosition="12", AvgQueueTime="900")
    confirm = phone.post(action(busy), Digits="1")
    answers = [phone.post(action(confirm), Digits="1") for _ in range(3)]  # Twilio retries
    assert all([el.tag for el in a] == ["Say", "Leave"] for a in answers)
    log = app.extensions["ivr"].journey
    with log.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT call_sid FROM callbacks")).scalars().all()
    assert rows == ["CAreplay"]
    assert [e.kind for e in log.journey("CAreplay")].count("callback") == 1


def test_a_callback_that_cannot_be_stored_keeps_the_caller_in_the_queue(tmp_path, db):
    menu = tmp_path / "menus.json"
    menu.write_text(json.dumps(MENU), encoding="utf-8")
    app = create_app(
        {
            "TESTING": True,
            "IVR_MENU_FILE": str(menu),
            "IVR_ALLOW_UNSIGNED": True,
            "DATABASE_URL": db.url,
            "IVR_SPOOL_DIR": "off",  # so nothing can keep the request while the database is down
        }
    )
    log = app.extensions["ivr"].journey
    try:
        phone = Phone(app.test_client(), "CAnone")
        phone.post("/voice")
        assert log.flush()
        db.go_down()
        busy = phone.post("/queue/handlers/wait", QueuePosition="12", AvgQueueTime="900")
        confirm = phone.post(action(busy), Digits="1")
        held = phone.post(action(confirm), Digits="1")
        assert held.find(".//Leave") is None  # not told "we will call you back"
        assert action(held, "Redirect").startswith("/queue/handlers/wait")
        db.come_back()
        assert log.flush(timeout=30)
        assert log.pending_callbacks() == []
    finally:
        log.close()


def test_hostile_parameters_are_stored_alike_on_every_database(app):
    sid = "CA\x00" + "f" * 40
    phone = Phone(app.test_client(), sid, caller="+44" + "7" * 120)
    phone.post("/voice", To="+441632\x00960101")
    phone.post("/menu/main", Digits="\x002")
    phone.post("/status", CallStatus="completed\x00", CallDuration="17")
    log = app.extensions["ivr"].journey
    assert log.flush(timeout=30)
    assert log.dropped == 0
    clean = sid.replace("\x00", "")
    assert [e.kind for e in log.journey(clean)] == ["call-start", "choice", "status"]
    call = log.call(clean)
    assert call.status == "completed" and len(call.caller) == 80


# -- the commands ------------------------------------------------------------------------------


@pytest.fixture
def recorded(app, db, tmp_path):
    phone = Phone(app.test_client(), "CAcli")
    phone.post("/voice")
    phone.post("/menu/main", Digits="9")
    phone.post("/menu/main", Digits="1")
    busy = phone.post("/queue/handlers/wait", QueuePosition="12", AvgQueueTime="900")
    phone.post(action(phone.post(action(busy), Digits="1")), Digits="1")
    phone.post("/queue/handlers/result", QueueResult="leave", QueueTime="30")
    phone.post("/status", CallStatus="completed", CallDuration="64")
    assert app.extensions["ivr"].journey.flush()
    return db.url


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ivr_journey_prints_the_call(recorded):
    result = run("journey", "CAcli", "--database", recorded)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Call CAcli from +44*******456")
    assert "choice at main key 9 [invalid]" in result.output
    assert "choice at main key 1 -> handlers [option]" in result.output
    assert "callback at handlers [requested]" in result.output
    assert CALLER not in result.output

    listing = run("journey", "--database", recorded)
    assert "CAcli" in listing.output and "completed" in listing.output

    missing = CliRunner().invoke(cli, ["journey", "CAnone", "--database", recorded])
    assert missing.exit_code == 1 and "no call CAnone" in missing.output


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "html"])
def test_ivr_report_in_every_format(recorded, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    menu = str(tmp_path / "menus.json")
    args = ["--since", "1d", "--format", fmt, "--output", str(out), "--menu", menu]
    result = run("report", *args, "--database", recorded)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        data = json.loads(text)
        assert data["calls"]["total"] == 1
        assert data["callbacks"]["requested"] == 1
        assert data["hot_spots"][0]["invalid"] == 1
    else:
        assert "call-handlers" in text


def test_ivr_report_to_stdout_and_bad_bounds(recorded):
    result = run("report", "--database", recorded)
    assert "Where callers hang up" in result.output
    bad = CliRunner().invoke(cli, ["report", "--since", "yesterday", "--database", recorded])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_ivr_callbacks_and_done(recorded):
    result = run("callbacks", "--database", recorded)
    assert result.exit_code == 0
    (line,) = result.output.splitlines()
    assert CALLER in line and "position 12" in line and "chose: handlers" in line
    short = line.split()[0]
    done = run("callbacks", "--database", recorded, "done", short, "--notes", "rang back")
    assert done.exit_code == 0 and "marked done" in done.output
    assert run("callbacks", "--database", recorded).output.strip() == "No callbacks waiting."
    again = CliRunner().invoke(cli, ["callbacks", "--database", recorded, "done", short])
    assert again.exit_code == 1 and "already done" in again.output
    unknown = CliRunner().invoke(cli, ["callbacks", "done", "zzzzzzzz", "--database", recorded])
    assert unknown.exit_code == 1 and "matches no callback" in unknown.output


def test_ivr_purge(recorded):
    kept = run("purge", "--older-than", "90d", "--yes", "--database", recorded)
    assert "Deleted 0 call(s)" in kept.output
    gone = run("purge", "--older-than", "0m", "--yes", "--database", recorded)
    assert "Deleted 1 call(s)" in gone.output
    bad = CliRunner().invoke(cli, ["purge", "--older-than", "ninety", "--database", recorded])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_ivr_purge_without_yes_refuses_when_it_cannot_ask(recorded):
    # `echo n | ivr purge --older-than 1m`: no terminal to ask on, so nothing goes.
    result = CliRunner().invoke(
        cli, ["purge", "--older-than", "0m", "--database", recorded], input="n\n"
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: not deleting 1 call(s), 8 step(s) and 1 callback request(s) older than 0m: "
        "there is no terminal to confirm on; pass --yes to delete, or --dry-run to see what "
        "would go\n"
    )
    assert run("journey", "CAcli", "--database", recorded).exit_code == 0


def test_ivr_purge_dry_run_says_what_would_go(recorded):
    result = run("purge", "--older-than", "0m", "--dry-run", "--database", recorded)
    assert result.output == (
        "Would delete 1 call(s), 8 step(s) and 1 callback request(s) older than 0m.\n"
    )
    assert run("journey", "CAcli", "--database", recorded).exit_code == 0


@pytest.mark.parametrize(("answer", "deleted"), [("n", False), ("y", True)])
def test_ivr_purge_asks_on_a_terminal(recorded, tmp_path, answer, deleted):
    import pty

    primary, secondary = pty.openpty()
    command = [sys.executable, "-m", "ivr", "purge", "--older-than", "0m", "--database", recorded]
    proc = subprocess.Popen(
        command,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": os.getcwd()},
    )
    os.close(secondary)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            seen += os.read(primary, 1024)
        assert b"Delete 1 call(s), 8 step(s) and 1 callback request(s) older than 0m?" in seen
        os.write(primary, answer.encode() + b"\n")
        assert proc.wait(timeout=60) == (0 if deleted else 1)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    listing = run("journey", "--database", recorded).output
    assert ("CAcli" in listing) is not deleted


@pytest.mark.parametrize(
    "command",
    [["journey"], ["report"], ["purge"], ["callbacks"], ["callbacks", "done"], ["db"]],
)
def test_every_journey_command_has_help_with_an_example(command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


# -- the simulator, end to end ---------------------------------------------------------------


def simulated_call(app, *keys: str, caller: str = CALLER, **options):
    from ivr.caller import Call, Input, ScriptedCaller, WSGITransport

    script = ScriptedCaller([Input.press(k) for k in keys], queue_waits=3)
    call = Call(WSGITransport(app), "http://localhost/voice", script, from_number=caller, **options)
    return call.run()


def test_a_simulated_caller_takes_the_callback_offer(app):
    record = simulated_call(app, "1", "1", "1", queue_position=12, avg_queue_time=900)
    assert record.outcome.queue_result == "leave"
    assert record.outcome.heard[-1] == "Goodbye."
    log = app.extensions["ivr"].journey
    (cb,) = log.pending_callbacks()
    # Where the caller was in line when they confirmed: what Twilio (the simulator) said then.
    requests = [e for e in record.events if e.kind == CallEventKind.REQUEST]
    confirmed = [e for e in requests if "/callback/" in e.url][-1]
    assert (cb.number, cb.queue) == (CALLER, "call-handlers")
    assert cb.position == int(confirmed.params["QueuePosition"]) < 12
    kinds = [e.kind for e in log.journey(cb.call_sid)]
    assert kinds[:3] == ["call-start", "choice", "queue-wait"]
    assert "callback" in kinds and kinds[-1] == "queue-result"
    report = log.report()
    assert report.callbacks["requested"] == 1
    assert report.calls["outcomes"] == {"callback requested": 1}


def test_a_simulated_caller_in_a_short_queue_hears_no_offer(app):
    record = simulated_call(app, "1", queue_position=2, avg_queue_time=60)
    assert record.outcome.queue_result == "bridged"
    log = app.extensions["ivr"].journey
    assert log.pending_callbacks() == []
    (call,) = log.recent_calls()
    assert "callback-offer" not in [e.kind for e in log.journey(call.call_sid)]


def test_forty_concurrent_calls_through_the_webhooks_are_each_recorded_once(app):
    start = threading.Barrier(40)
    failures: list[str] = []

    def call(n: int) -> None:
        phone = Phone(app.test_client(), f"CA{n:032d}")
        start.wait()
        try:
            phone.post("/voice")
            phone.post("/menu/main", Digits="9")
            phone.post("/menu/main", Digits="1")
            phone.post("/queue/handlers/wait", QueuePosition="2", AvgQueueTime="60")
            phone.post("/queue/handlers/result", QueueResult="bridged", QueueTime=str(n))
            phone.post("/status", CallStatus="completed", CallDuration=str(n + 30))
        except Exception as exc:  # reported below: threads cannot fail the test directly
            failures.append(f"{n}: {exc!r}")

    threads = [threading.Thread(target=call, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    log = app.extensions["ivr"].journey
    assert log.flush(timeout=60)
    with log.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, call_sid FROM events")).all()
        calls = conn.execute(sa.text("SELECT status FROM calls")).scalars().all()
    assert len(rows) == 40 * 6 and len({r.id for r in rows}) == len(rows)
    assert set(Counter(r.call_sid for r in rows).values()) == {6}
    assert calls == ["completed"] * 40
    report = log.report()
    assert report.calls["outcomes"] == {"answered": 40}
    assert report.hot_spots[0]["invalid"] == 40


def test_speech_choices_record_twilios_confidence_beside_the_phrase_match():
    from ivr import create_app

    seen = []

    class Keep:
        def record(self, event):
            seen.append(event)

        def close(self):
            pass

    from conftest import MENU, TOKEN, Twilio

    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": None,
            "IVR_MENU_FILE": str(MENU),
        },
        recorder=Keep(),
    )
    twilio = Twilio(app.test_client())
    twilio.twiml("/menu/main?attempt=1", SpeechResult="report a crime", Confidence="0.42")
    twilio.twiml("/menu/main?attempt=1", SpeechResult="bananas and custard", Confidence="0.93")
    twilio.twiml("/menu/main?attempt=1", SpeechResult="fraud", Confidence="not a number")
    twilio.twiml("/menu/main?attempt=1", Digits="2", Confidence="0.5")
    choices = [e for e in seen if e.kind == "choice"]
    assert [(e.outcome, e.confidence, e.detail.get("match")) for e in choices] == [
        ("option", 0.42, 1.0),
        ("invalid", 0.93, choices[1].detail["match"]),
        ("option", 1.0, 1.0),
        ("option", None, None),
    ]
    assert 0 < choices[1].detail["match"] < 0.75  # too weak a phrase match to take
