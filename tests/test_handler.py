"""The call-handler line, driven the way Twilio drives it: signed POSTs, following the TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import OFFICE_HOURS
from handler_support import (
    BASE,
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
from twilio_fake import AUTH_TOKEN, FakeTwilio, client_for

from ivr import create_app
from ivr.account.provision import TwilioAccount
from ivr.errors import ConfigError
from ivr.twiml import HANDLER_LAST_RESORT
from ivr.webhooks.handler import CHECK_ROUNDS


@pytest.fixture
def fake() -> FakeTwilio:
    return fake_twilio()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def app(fake, events):
    return handler_app(fake, events)


# -- the door ---------------------------------------------------------------------------------


def test_unknown_caller_is_asked_for_the_pin_and_refused_after_three_wrong(app, events):
    t = handler(app, STRANGER)
    root = t.twiml("/handler")
    assert verbs(root) == ["Gather"]
    assert said(root) == "Enter your PIN, then hash."
    gather = root.find("Gather")
    assert gather.get("action") == "/handler/pin?attempt=1"
    assert gather.get("finishOnKey") == "#"

    root = t.twiml(gather_action(root), Digits="1111")
    assert said(root) == "That PIN is not right. Enter your PIN, then hash."
    root = t.twiml(gather_action(root), Digits="")
    root = t.twiml(gather_action(root), Digits="9999")

    assert verbs(root) == ["Say", "Hangup"]
    assert said(root) == "Sorry, this line is for police call handlers only. Goodbye."
    assert events.kinds()[-1] == "handler-refused"


def test_unknown_caller_without_a_pin_configured_is_refused_at_once(fake, events):
    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": BASE,
            "IVR_MENU_FILE": str(MENU),
            "IVR_HANDLER_NUMBERS": HANDLER,
            "IVR_HANDLER_PIN": "",
        },
        recorder=events,
        twilio_account=TwilioAccount(client_for(fake)),
    )
    root = handler(app, STRANGER).twiml("/handler")
    assert verbs(root) == ["Say", "Hangup"]
    assert fake.calls == []


def test_an_unsigned_request_is_forbidden(app):
    assert handler(app).post("/handler", signed=False).status_code == 403


def test_a_later_url_without_the_door_pass_is_refused(app, fake):
    fake.add_caller(fake.sids["business-crime"], "CA" + "b" * 32, 90)
    t = handler(app, STRANGER)
    root = t.twiml("/handler/take", Digits="2")
    assert verbs(root) == ["Say", "Hangup"]
    # A pass is bound to the call: another call's pass does not open the door either.
    other = handler(app, HANDLER, sid="CA" + "2" * 32)
    url = gather_action(other.twiml("/handler"))
    root = t.twiml(url, Digits="2")
    assert verbs(root) == ["Say", "Hangup"]


# -- the board and taking a call ------------------------------------------------------------


def test_allowed_caller_hears_the_queues_and_takes_the_one_they_chose(app, fake, events):
    business = fake.sids["business-crime"]
    fake.queues[business]["average_wait_time"] = 150
    fake.add_caller(business, "CA" + "b" * 32, 200)
    fake.add_caller(business, "CA" + "c" * 32, 100)
    t = handler(app)

    root = t.twiml("/handler")

    assert said(root) == (
        "call handlers: nobody waiting. "
        "business crime: 2 callers waiting, 3 minutes on average. To take the first, press 2. "
        "general enquiries: nobody waiting. "
        "To hear this again, press 0."
    )
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert verbs(root) == ["Gather", "Redirect"]

    root = t.twiml(gather_action(root), Digits="2")

    assert verbs(root) == ["Say", "Dial"]
    assert said(root) == (
        "Taking the next caller from business crime. The caller came through business, "
        "and has waited 3 minutes."
    )
    dial = root.find("Dial")
    queue = dial.find("Queue")
    assert queue.text == "business-crime"
    assert urlsplit(queue.get("url")).path == "/handler/connected"
    assert parse_qs(urlsplit(queue.get("url")).query)["queue"] == ["business-crime"]
    assert urlsplit(dial.get("action")).path == "/handler/board"
    assert "handler-take" in events.kinds()


def test_pin_lets_an_unknown_number_in(app, fake):
    fake.add_caller(fake.sids["general-enquiries"], "CA" + "d" * 32, 30)
    t = handler(app, STRANGER)
    root = t.twiml("/handler")
    root = t.twiml(gather_action(root), Digits=PIN)
    assert "general enquiries: 1 caller waiting" in said(root)

    root = t.twiml(gather_action(root), Digits="3")
    assert root.find("Dial/Queue").text == "general-enquiries"
    assert "has waited less than a minute" in said(root)


def test_a_number_in_uk_format_on_the_allow_list_gets_in(app, fake):
    root = handler(app, "+447700900002").twiml("/handler")
    assert "No callers are waiting" in said(root)


def test_the_whisper_names_the_option_the_waiting_caller_chose(app, fake):
    caller_sid = "CA" + "e" * 32
    fake.add_caller(fake.sids["call-handlers"], caller_sid, 400)
    # The caller's hold music request tells the app which queue node they are in.
    caller = Twilio(app, caller_sid, "+447700900555")
    caller.twiml("/queue/cyber_queue/wait?cycle=0", QueuePosition="1", QueueTime="380")

    t = handler(app)
    root = t.twiml("/handler")
    root = t.twiml(gather_action(root), Digits="1")

    assert said(root) == (
        "Taking the next caller from call handlers. The caller came through cyber, "
        "and has waited 7 minutes."
    )


def test_the_queue_url_tells_the_caller_and_records_the_wait(app, events):
    t = handler(app)
    root = t.twiml("/handler")
    root = Twilio(app, "CA" + "f" * 32, "+447700900555").twiml(
        "/handler/connected?queue=business-crime",
        QueueTime="245",
        DequeingCallSid="CA" + "1" * 32,
    )
    assert verbs(root) == ["Say"]
    assert said(root) == "Thank you for waiting. Putting you through to a call handler now."
    bridged = events.events[-1]
    assert (bridged.kind, bridged.detail["queue"], bridged.detail["queue_time"]) == (
        "handler-bridged",
        "business-crime",
        245,
    )


def test_a_queue_emptied_meanwhile_goes_back_to_the_board(app, fake):
    business = fake.sids["business-crime"]
    fake.add_caller(business, "CA" + "b" * 32, 90)
    t = handler(app)
    url = gather_action(t.twiml("/handler"))
    fake.members[business].clear()  # another handler took them, or they hung up
    fake.queues[business]["current_size"] = 0
    root = t.twiml(url, Digits="2")
    assert verbs(root) == ["Say", "Redirect"]
    assert said(root) == "Nobody is waiting in business crime now."


def test_zero_or_a_bad_key_reads_the_board_again(app):
    t = handler(app)
    url = gather_action(t.twiml("/handler"))
    for key in ("0", "7", "*", ""):
        assert "No callers are waiting" in said(t.twiml(url, Digits=key))


# -- all queues empty --------------------------------------------------------------------------


def test_empty_queues_say_so_and_check_again_bounded(app, fake):
    t = handler(app)
    root = t.twiml("/handler")
    assert verbs(root) == ["Gather", "Redirect"]
    assert said(root) == (
        "No callers are waiting in any queue. Stay on the line and we will check again, "
        "or press any key to check now."
    )
    assert root.find("Gather").get("timeout") == "20"
    redirect = root.find("Redirect").text
    assert parse_qs(urlsplit(redirect).query)["round"] == ["1"]

    # Someone joins while the handler waits; pressing a key checks at once (no stale cache).
    fake.add_caller(fake.sids["call-handlers"], "CA" + "9" * 32, 10)
    root = t.twiml(gather_action(root), Digits="5")
    assert "call handlers: 1 caller waiting" in said(root)

    last = redirect.replace("round=1", f"round={CHECK_ROUNDS}")
    root = t.twiml(last)
    assert verbs(root) == ["Say", "Hangup"]


def test_queue_sizes_are_cached_briefly(app, fake):
    t = handler(app)
    t.twiml("/handler")
    t.twiml("/handler")
    reads = [c for c in fake.calls if c.url.endswith("/Queues.json")]
    assert len(reads) == 1


def test_twilio_down_still_lets_the_handler_choose_a_queue(app, fake):
    fake.offline = True
    t = handler(app)
    root = t.twiml("/handler")
    assert said(root).startswith(
        "Sorry, the queue sizes are not available right now. For call handlers, press 1."
    )
    root = t.twiml(gather_action(root), Digits="2")
    assert root.find("Dial/Queue").text == "business-crime"


def test_a_fault_on_the_line_is_spoken_not_twilios_application_error(app, fake, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("ivr.webhooks.handler.board_twiml", broken)
    root = handler(app).twiml("/handler")
    assert verbs(root) == ["Say", "Hangup"]
    assert "technical problem" in said(root)
    # The line's last resort is the renderer's (ivr.twiml), never one built here: staff are
    # told and hung up on, not queued as callers as a caller's last resort would.
    assert ET.tostring(root) == ET.tostring(ET.fromstring(HANDLER_LAST_RESORT))
    assert root.find("Enqueue") is None


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("IVR_HANDLER_NUMBERS", "+44, not-a-number", "IVR_HANDLER_NUMBERS: "),
        ("IVR_HANDLER_PIN", "2468", "IVR_HANDLER_PIN: must be 6 or more digits"),
        ("IVR_HANDLER_PIN", "24681", "IVR_HANDLER_PIN: must be 6 or more digits"),
        ("IVR_HANDLER_PIN", "24681x", "IVR_HANDLER_PIN: must be 6 or more digits"),
        ("IVR_HANDLER_REQUIRE_ATTESTATION", "A,C", "IVR_HANDLER_REQUIRE_ATTESTATION: must be A"),
    ],
)
def test_bad_handler_settings_stop_the_app_starting(fake, setting, value, message):
    config = {
        "TESTING": True,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_MENU_FILE": str(MENU),
        "IVR_HANDLER_NUMBERS": "",
        "IVR_HANDLER_PIN": "",
        setting: value,
    }
    with pytest.raises(ConfigError, match=message):
        create_app(config)


# -- the whole loop --------------------------------------------------------------------------


def follow(t: Twilio, root: ET.Element, keys: list[str]) -> ET.Element:
    """Play the caller: press the next key at each Gather, follow Redirects, stop at Enqueue."""
    for _ in range(20):
        if root.find("Enqueue") is not None:
            return root
        gather = root.find("Gather")
        if gather is not None:
            root = t.twiml(gather.get("action"), Digits=keys.pop(0))
        else:
            root = t.twiml(root.find("Redirect").text)
    raise AssertionError("the caller never reached a queue")


def test_caller_queued_then_a_handler_takes_them(app, fake, events):
    caller_sid = "CA" + "7" * 32
    caller = Twilio(app, caller_sid, "+447700900555")
    root = follow(caller, caller.twiml("/voice"), keys=["2"])  # business
    enqueue = root.find("Enqueue")
    assert enqueue.text == "business-crime"
    # Twilio puts the call in the queue and starts the hold music from waitUrl.
    fake.add_caller(fake.sids["business-crime"], caller_sid, 75)
    caller.twiml(enqueue.get("waitUrl"), QueuePosition="1", QueueTime="0", AvgQueueTime="0")

    t = handler(app)
    board = t.twiml("/handler")
    assert "business crime: 1 caller waiting" in said(board)
    root = t.twiml(gather_action(board), Digits="2")

    assert said(root) == (
        "Taking the next caller from business crime. The caller chose business crime, "
        "and has waited 1 minute."
    )
    queue = root.find("Dial/Queue")
    assert queue.text == enqueue.text
    # Twilio bridges them: the caller hears the Queue url's words, then the handler.
    heard = caller.twiml(queue.get("url"), QueueTime="80", DequeingCallSid=t.form["CallSid"])
    assert said(heard) == "Thank you for waiting. Putting you through to a call handler now."
    assert events.events[-1].detail["queue_time"] == 80


def test_the_whisper_follows_the_callers_path_through_sub_menus(app, fake):
    caller_sid = "CA" + "8" * 32
    caller = Twilio(app, caller_sid, "+447700900555")
    root = follow(caller, caller.twiml("/voice"), keys=["3", "4"])
    assert root.find("Enqueue").text == "call-handlers"
    fake.add_caller(fake.sids["call-handlers"], caller_sid, 30)
    caller.twiml(root.find("Enqueue").get("waitUrl"), QueuePosition="1")

    t = handler(app)
    root = t.twiml(gather_action(t.twiml("/handler")), Digits="1")
    assert said(root) == (
        "Taking the next caller from call handlers. The caller chose cyber crime, then hacked, "
        "and has waited less than a minute."
    )


# -- the simulator plays the handler ---------------------------------------------------------


def test_the_simulator_plays_the_handler_side(app, fake):
    from ivr.caller import Call, Input, ScriptedCaller, WSGITransport

    fake.add_caller(fake.sids["general-enquiries"], "CA" + "d" * 32, 150)
    record = Call(
        WSGITransport(app),
        f"{BASE}/handler",
        ScriptedCaller([Input.press(PIN), Input.press("3")]),
        auth_token=AUTH_TOKEN,
        from_number=STRANGER,
    ).run()
    assert record.outcome.summary() == "dialled general-enquiries (DialCallStatus=completed)"
    heard = [e.text for e in record.events if e.kind == "say"]
    assert (
        "Taking the next caller from general enquiries. The caller came through general, "
        "and has waited 3 minutes." in heard
    )


CYBER_HACKED_WHISPER = (
    "Taking the next caller from call handlers. The caller chose cyber crime, then hacked, "
    "and has waited 3 minutes."
)
"""What a handler hears taking the caller who pressed 3 then 4 (and has held 200 s)."""


def take_the_next_caller(worker) -> str:
    """A handler calls the line on ``worker``, takes the next caller from the first queue on
    the board, and hears the whisper."""
    t = handler(worker)
    return said(t.twiml(gather_action(t.twiml("/handler")), Digits="1"))


def shared_log_worker(fake, tmp_path):
    """One worker of several: its own app, the journey log they all share."""
    return create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": BASE,
            "IVR_MENU_FILE": str(MENU),
            "IVR_HANDLER_NUMBERS": HANDLER,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'journeys.db'}",
            "IVR_NOW": OFFICE_HOURS,
        },
        twilio_account=TwilioAccount(client_for(fake)),
    )


def test_the_whisper_reads_the_journey_log_for_a_call_another_worker_served(fake, tmp_path):
    """Two workers share the journey log; the handler's worker never saw the caller."""

    caller_worker, handler_worker = (
        shared_log_worker(fake, tmp_path),
        shared_log_worker(fake, tmp_path),
    )
    caller_sid = "CA" + "7" * 32
    caller = Twilio(caller_worker, caller_sid, "+447700900555")
    root = follow(caller, caller.twiml("/voice"), keys=["3", "4"])
    fake.add_caller(fake.sids["call-handlers"], caller_sid, 200)
    caller.twiml(root.find("Enqueue").get("waitUrl"), QueuePosition="1")
    caller_worker.extensions["ivr"].journey.close()  # written, as the writer thread does

    assert take_the_next_caller(handler_worker) == CYBER_HACKED_WHISPER
    handler_worker.extensions["ivr"].journey.close()


def test_the_whisper_prefers_the_journey_log_to_a_worker_that_saw_only_the_hold(fake, tmp_path):
    """One call across two workers: the choices on one, the hold on the handler's. The
    handler's worker knows the queue node only; the shared journey log knows the choices."""

    choosing, holding = shared_log_worker(fake, tmp_path), shared_log_worker(fake, tmp_path)
    caller_sid = "CA" + "6" * 32
    caller = Twilio(choosing, caller_sid, "+447700900555")
    root = follow(caller, caller.twiml("/voice"), keys=["3", "4"])
    choosing.extensions["ivr"].journey.close()  # written, as the writer thread does
    fake.add_caller(fake.sids["call-handlers"], caller_sid, 200)
    Twilio(holding, caller_sid, "+447700900555").twiml(
        root.find("Enqueue").get("waitUrl"), QueuePosition="1"
    )

    assert take_the_next_caller(holding) == CYBER_HACKED_WHISPER
    holding.extensions["ivr"].journey.close()


def test_a_journey_log_that_fails_mid_read_leaves_the_whisper_to_this_workers_notes(
    fake, tmp_path, monkeypatch
):
    """A database error while the log is read (not only while connecting) is the log's own
    error: the take goes on with what this worker saw, never the line's apology."""
    import sqlalchemy as sa

    from ivr.journey import queries

    worker = shared_log_worker(fake, tmp_path)
    caller_sid = "CA" + "8" * 32
    caller = Twilio(worker, caller_sid, "+447700900555")
    root = follow(caller, caller.twiml("/voice"), keys=["3", "4"])
    fake.add_caller(fake.sids["call-handlers"], caller_sid, 200)
    caller.twiml(root.find("Enqueue").get("waitUrl"), QueuePosition="1")

    def broken(conn, call_sid):
        raise sa.exc.OperationalError("SELECT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(queries, "journey", broken)
    assert take_the_next_caller(worker) == CYBER_HACKED_WHISPER
    worker.extensions["ivr"].journey.close()


@pytest.mark.parametrize(
    ("settings", "listens"),
    [
        ({}, False),
        ({"IVR_HANDLER_NUMBERS": HANDLER}, True),
        ({"IVR_HANDLER_PIN": "24681357"}, True),
    ],
)
def test_the_roster_listens_to_calls_only_when_the_line_can_let_someone_in(settings, listens):
    """Noting every caller's choices costs each webhook: only for a line someone can use."""
    from ivr.webhooks.roster import QueueRoster

    app = create_app({"TESTING": True, "TWILIO_AUTH_TOKEN": AUTH_TOKEN} | settings)
    chain = app.extensions["ivr"].recorder.recorders
    assert any(isinstance(r, QueueRoster) for r in chain) is listens
