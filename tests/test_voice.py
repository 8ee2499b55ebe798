"""The caller webhooks, driven the way Twilio drives them: signed form posts, TwiML back."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import deque

import pytest
from conftest import OFFICE_HOURS, OUT_OF_HOURS, Twilio, minimal_menu, said, verbs, write_menu

from ivr import create_app
from ivr.menu import load_menu

APOLOGY = "Sorry, we are having a technical problem."


def test_voice_answers_with_the_main_menu_whose_prompt_is_the_999_warning(twilio):
    root = twilio.twiml("/voice", From="+447700900123", To="+441785000101")
    assert verbs(root) == ["Gather", "Redirect"]
    gather = root.find("Gather")
    assert gather.get("action") == "/menu/main?attempt=1"
    # The 999 warning first, inside the <Gather>: a caller who knows their key can press
    # through it (https://www.twilio.com/docs/voice/twiml/gather, nested <Say>).
    first = gather.find("Say")
    assert first.get("voice") == "Polly.Amy" and first.get("language") == "en-GB"
    assert first.text.startswith("Staffordshire Police.")
    assert first.text.endswith("hang up and dial 999.")


def test_main_menu_is_a_gather_with_keys_speech_and_hints(twilio):
    root = twilio.twiml("/node/main")
    assert verbs(root) == ["Gather", "Redirect"]
    gather = root.find("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == "/menu/main?attempt=1"
    assert gather.get("method") == "POST"
    assert gather.get("language") == "en-GB"
    assert gather.get("finishOnKey") == ""
    assert "report a crime" in gather.get("hints")
    text = said(gather)
    for n in "1234":
        assert f"press {n}" in text
    assert "press star" in text
    # Silence falls through to the same action, which counts it.
    assert root.find("Redirect").text == "/menu/main?attempt=1"


@pytest.mark.parametrize(
    "digits,first_verb,text",
    [
        ("1", "Say", "Please have any reference numbers ready."),
        ("2", "Redirect", ""),  # to business_hours, decided when the caller gets there
        ("3", "Gather", "Cyber crime and fraud."),
        ("4", "Say", "Connecting you to someone who can help"),
    ],
)
def test_main_menu_options(twilio, digits, first_verb, text):
    root = twilio.twiml("/menu/main?attempt=1", Digits=digits)
    assert verbs(root)[0] == first_verb
    assert text in said(root)


def test_spoken_choice(twilio):
    root = twilio.twiml(
        "/menu/main?attempt=1", SpeechResult="I want to report fraud", Confidence="0.9"
    )
    assert root.find("Gather").get("action") == "/menu/cyber?attempt=1"


def test_invalid_key_apologises_and_repeats_with_the_next_attempt(twilio):
    root = twilio.twiml("/menu/main?attempt=1", Digits="8")
    assert verbs(root) == ["Say", "Gather", "Redirect"]
    assert root.find("Say").text == "Sorry, that is not one of the options."
    assert root.find("Gather").get("action") == "/menu/main?attempt=2"


def test_silence_repeats_then_falls_back_after_the_attempts(twilio):
    root = twilio.twiml("/menu/main?attempt=1")
    assert root.find("Say").text == "Sorry, we did not hear a choice."
    assert root.find("Gather").get("action") == "/menu/main?attempt=2"
    root = twilio.twiml("/menu/main?attempt=3")
    assert verbs(root) == ["Say", "Say", "Enqueue"]
    assert root.find("Enqueue").text == "general-enquiries"


def test_attempt_count_cannot_be_pushed_past_the_limit(twilio):
    # A forged or stale attempt number is clamped: the caller still gets the fallback.
    root = twilio.twiml("/menu/main?attempt=999999", Digits="8")
    assert root.find("Enqueue").text == "general-enquiries"
    root = twilio.twiml("/menu/main?attempt=-3", Digits="8")
    assert root.find("Gather").get("action") == "/menu/main?attempt=2"


def test_repeat_and_back_keys(twilio):
    root = twilio.twiml("/menu/cyber?attempt=2", Digits="*")
    assert verbs(root) == ["Gather", "Redirect"]
    assert root.find("Gather").get("action") == "/menu/cyber?attempt=2"
    root = twilio.twiml("/menu/cyber?attempt=1", Digits="#")
    assert root.find("Gather").get("action") == "/menu/main?attempt=1"


def test_queue_node_enqueues_with_wait_url_and_action(twilio):
    root = twilio.twiml("/node/crime_queue")
    assert verbs(root) == ["Say", "Enqueue"]
    assert "reference numbers" in root.find("Say").text
    enqueue = root.find("Enqueue")
    assert enqueue.text == "call-handlers"
    assert enqueue.get("waitUrl") == "/queue/crime_queue/wait?cycle=0"
    assert enqueue.get("waitUrlMethod") == "POST"
    assert enqueue.get("action") == "/queue/crime_queue/result"
    assert enqueue.get("method") == "POST"


def test_hold_reads_position_and_wait_and_reminds_of_999(twilio):
    root = twilio.twiml(
        "/queue/crime_queue/wait?cycle=1", QueuePosition="3", AvgQueueTime="200", QueueTime="30"
    )
    text = said(root)
    assert "You are number 3 in the queue." in text
    assert "about 4 minutes" in text
    assert "dial 999" in text  # reminder_every 2: cycle 1 is the second cycle
    assert verbs(root)[-2:] == ["Play", "Redirect"]
    assert root.find("Redirect").text == "/queue/crime_queue/wait?cycle=2"
    # Only verbs Twilio allows in a wait document.
    assert set(verbs(root)) <= {"Say", "Play", "Pause", "Redirect", "Gather", "Leave", "Hangup"}


def test_hold_without_reminder_on_other_cycles_and_short_waits(twilio):
    root = twilio.twiml("/queue/general_queue/wait?cycle=0", QueuePosition="1", AvgQueueTime="20")
    text = said(root)
    assert "less than a minute" in text
    assert "dial 999" not in text
    # The crime queue reminds every cycle, from the first: its caller hears it on joining.
    root = twilio.twiml("/queue/crime_queue/wait?cycle=0", QueuePosition="1", AvgQueueTime="20")
    assert "hang up and dial 999" in said(root)
    root = twilio.twiml("/queue/crime_queue/wait?cycle=4", QueuePosition="2", AvgQueueTime="61")
    assert "about 2 minutes" in said(root)


@pytest.mark.parametrize(
    "result,expect",
    [
        ("bridged", ["Hangup"]),
        ("bridging-in-process", ["Hangup"]),
        ("hangup", ["Hangup"]),
        ("redirected", ["Hangup"]),
        ("redirected-from-bridged", ["Hangup"]),
        ("queue-full", ["Say", "Say", "Hangup"]),
        ("error", ["Say", "Say", "Enqueue"]),
        ("system-error", ["Say", "Say", "Enqueue"]),
        # crime_queue offers callbacks: a caller leaves only after asking for one.
        ("leave", ["Say", "Hangup"]),
        ("", ["Say", "Say", "Enqueue"]),
    ],
)
def test_every_queue_result(twilio, result, expect):
    root = twilio.twiml("/queue/crime_queue/result", QueueResult=result, QueueTime="12")
    assert verbs(root) == expect
    if result == "queue-full":
        assert "queue is full" in said(root) and "999" in said(root)
    if result in ("error", "system-error", ""):
        assert APOLOGY in said(root)
        assert root.find("Enqueue").text == "general-enquiries"


def test_business_queue_overflows_to_call_handlers(twilio):
    root = twilio.twiml("/queue/business_queue/result", QueueResult="queue-full")
    assert root.find("Enqueue").text == "call-handlers"


def test_transfer_dials_report_fraud(twilio):
    root = twilio.twiml("/node/transfer_report_fraud")
    assert verbs(root) == ["Say", "Dial"]
    assert root.find("Say").text == "Putting you through."
    dial = root.find("Dial")
    assert dial.get("action") == "/transfer/transfer_report_fraud/result"
    assert dial.get("timeout") == "30"
    assert dial.find("Number").text == "+443001232040"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", ""])
def test_failed_transfer_routes_on(twilio, status):
    root = twilio.twiml("/transfer/transfer_report_fraud/result", DialCallStatus=status)
    assert "could not put you through" in said(root)
    assert "0 3 0 0, 1 2 3, 2 0 4 0" in said(root)
    assert verbs(root)[-1] == "Hangup"


def test_completed_transfer_hangs_up(twilio):
    root = twilio.twiml("/transfer/transfer_report_fraud/result", DialCallStatus="completed")
    assert verbs(root) == ["Hangup"]


def test_message_then_next_and_hangup_node(twilio):
    root = twilio.twiml("/node/fraud_info")
    assert verbs(root) == ["Say", "Redirect"]
    assert "Report Fraud, formerly Action Fraud" in said(root)
    assert "0 3 0 0, 1 2 3, 2 0 4 0" in said(root)
    root = twilio.twiml("/node/all_busy")
    assert verbs(root) == ["Say", "Hangup"]


def test_recorded_message_plays_its_url(tmp_path, config):
    data = minimal_menu(
        message={"kind": "message", "play": "https://example.com/a.mp3", "loop": 2, "pause": 1}
    )
    config["IVR_MENU_FILE"] = str(write_menu(tmp_path, data))
    twilio = Twilio(create_app(config).test_client())
    root = twilio.twiml("/node/message")
    assert verbs(root) == ["Play", "Pause", "Hangup"]
    assert root.find("Play").text == "https://example.com/a.mp3"
    assert root.find("Play").get("loop") == "2"


def test_status_callback_logs_the_end_of_the_call(twilio, caplog):
    caplog.set_level(logging.INFO, "ivr")
    response = twilio.post(
        "/status", CallStatus="completed", CallDuration="93", From="+447700900123"
    )
    assert response.status_code == 204
    assert "step=status" in caplog.text and "outcome=completed" in caplog.text
    assert "duration=93" in caplog.text


def test_fallback_apologises_reminds_of_999_and_routes_to_general_enquiries(twilio, caplog):
    root = twilio.twiml("/fallback", ErrorCode="11200", ErrorUrl="https://example.com/voice")
    assert "dial 999" in said(root)
    assert root.find("Redirect").text == "/node/general_queue?recover=1"
    assert "ErrorCode 11200" in caplog.text


def test_a_node_gone_after_an_edit_restarts_the_menu_with_an_apology(twilio):
    root = twilio.twiml("/node/no_such_node")
    assert root.find("Say").text.startswith("Sorry, the menu has changed.")
    root = twilio.twiml("/menu/no_such_menu?attempt=2", Digits="1")
    assert root.find("Say").text.startswith("Sorry, the menu has changed.")
    root = twilio.twiml("/queue/gone/wait?cycle=3")
    assert verbs(root) == ["Play", "Redirect"]


def test_an_exception_becomes_an_apology_and_is_logged_with_the_callsid(app, twilio, caplog):
    renderer = app.extensions["ivr"].store.served.renderer

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    renderer.step = broken
    root = twilio.twiml("/node/main", From="+447700900123")
    assert APOLOGY in said(root)
    assert root.find("Redirect").text == "/node/general_queue?recover=1"
    assert f"call {twilio.call_sid}" in caplog.text and "disk on fire" in caplog.text
    assert "+447700900123" not in caplog.text
    # A second fault while recovering does not loop: the last resort queues the caller.
    root = twilio.twiml("/node/general_queue?recover=1")
    assert verbs(root) == ["Say", "Enqueue"]
    assert root.find("Enqueue").text == "general-enquiries"


def test_caller_numbers_are_masked_in_logs(twilio, caplog):
    caplog.set_level(logging.INFO, "ivr")
    twilio.twiml("/voice", From="+447700900123")
    assert "+447700900123" not in caplog.text
    assert "+44*******123" in caplog.text


# -- hostile and malformed input -------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "9" * 5_000,
    "é☃💥",
    "<Say>inject</Say>",
    "]]><Hangup/>",
    "\x00\x01",
    "1; DROP TABLE calls",
    "%s%n{}",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "path",
    [
        "/voice",
        "/node/main",
        "/menu/main?attempt=1",
        "/menu/cyber?attempt=x",
        "/queue/crime_queue/wait?cycle=abc",
        "/queue/crime_queue/result",
        "/transfer/transfer_report_fraud/result",
        "/status",
        "/fallback",
    ],
)
def test_hostile_parameters_never_give_a_500(twilio, path, value):
    form = {
        "Digits": value,
        "SpeechResult": value,
        "QueueResult": value,
        "QueuePosition": value,
        "AvgQueueTime": value,
        "DialCallStatus": value,
        "CallStatus": value,
        "From": value,
        "CallSid": value[:64],
    }
    response = twilio.post(path, **form)
    assert response.status_code in (200, 204)
    if response.status_code == 200:
        root = ET.fromstring(response.data)
        assert root.tag == "Response"
        assert "inject" not in [el.text for el in root.iter("Say")]


def test_hostile_node_names_in_the_path(twilio):
    for path in ["/node/%3CSay%3E", "/node/..%2F..%2Fetc", "/node/" + "a" * 5000]:
        response = twilio.post(path)
        assert response.status_code in (200, 404)


def test_oversized_body_is_refused(twilio):
    response = twilio.post("/voice", SpeechResult="x" * (70 * 1024))
    assert response.status_code == 413


def test_get_is_not_allowed(client):
    assert client.get("/voice").status_code == 405


# -- every route through menus.json ----------------------------------------------------


def walk(twilio: Twilio) -> tuple[dict[str, set[str]], int]:
    """Follow every branch of the live app from POST /voice; return endings per kind."""
    endings: dict[str, set[str]] = {"queue": set(), "transfer": set(), "hangup": set()}
    seen: set[tuple[str, tuple]] = set()
    todo: deque[tuple[str, dict]] = deque([("/voice", {})])
    requests = 0
    while todo:
        path, form = todo.popleft()
        key = (path, tuple(sorted(form.items())))
        if key in seen:
            continue
        seen.add(key)
        requests += 1
        root = twilio.twiml(path, **form)
        if form.get("QueueResult") != "error":  # Twilio's fault: the apology is right there
            assert APOLOGY not in said(root), (path, form)
        for verb in root:
            if verb.tag == "Gather":
                action = verb.get("action")
                for digit in "0123456789*#":
                    todo.append((action, {"Digits": digit}))
            elif verb.tag == "Redirect":
                if "/wait?" not in verb.text:  # hold loops for ever, one cycle is enough
                    todo.append((verb.text, {}))
            elif verb.tag == "Enqueue":
                endings["queue"].add(verb.text)
                action = verb.get("action")
                for result in ("bridged", "hangup", "queue-full", "error", "leave"):
                    todo.append((action, {"QueueResult": result}))
                todo.append((verb.get("waitUrl"), {"QueuePosition": "2", "AvgQueueTime": "90"}))
            elif verb.tag == "Dial":
                endings["transfer"].add(verb.find("Number").text)
                for status in ("completed", "busy", "no-answer", "failed"):
                    todo.append((verb.get("action"), {"DialCallStatus": status}))
            elif verb.tag == "Hangup":
                endings["hangup"].add(path)
        assert verbs(root)[-1] in ("Redirect", "Enqueue", "Dial", "Hangup"), (path, verbs(root))
    return endings, requests


def test_every_route_through_the_101_menu_ends_in_a_queue_transfer_or_hangup(twilio):
    endings, requests = walk(twilio)
    assert endings["queue"] == {"call-handlers", "business-crime", "general-enquiries"}
    assert endings["transfer"] == {"+443001232040"}
    assert endings["hangup"]
    assert requests > 100


def test_the_walk_visits_every_node(config):
    visited: set[str] = set()
    # The business line's hours decide some routes: walk in and out of them.
    for when in (OFFICE_HOURS, OUT_OF_HOURS):
        app = create_app({**config, "IVR_NOW": when})
        original = app.extensions["ivr"].store.served.renderer._body

        def spy(r, node_id, *args, original=original):
            visited.add(node_id)
            return original(r, node_id, *args)

        app.extensions["ivr"].store.served.renderer._body = spy
        walk(Twilio(app.test_client()))
    # Only the (switched off) example announcement leads to major_incident.
    assert visited == set(load_menu(config["IVR_MENU_FILE"]).nodes) - {"major_incident"}


def test_a_broken_menu_refuses_to_start(tmp_path, config):
    data = minimal_menu()
    data["start"] = "nowhere"
    config["IVR_MENU_FILE"] = str(write_menu(tmp_path, data))
    from ivr.errors import MenuError

    with pytest.raises(MenuError, match="nowhere"):
        create_app(config)


def test_served_apps_log_call_steps_from_a_writer_thread(caplog):
    from ivr.events import Event, LogRecorder

    caplog.set_level(logging.INFO, "ivr")
    recorder = LogRecorder(background=True)
    for n in range(50):
        recorder.record(Event(f"CA{n}", "menu", node="main", caller="+447700900123"))
    recorder.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr.calls"]
    assert lines == [f"call=CA{n} step=menu node=main from=+44*******123" for n in range(50)]
    assert all(r.threadName == "ivr-log" for r in caplog.records if r.name == "ivr.calls")


@pytest.mark.parametrize("result", ["bridged", "hangup", "redirected", "redirected-from-bridged"])
def test_a_finished_queue_call_whose_node_vanished_just_hangs_up(twilio, result):
    root = twilio.twiml("/queue/gone_queue/result", QueueResult=result)
    assert verbs(root) == ["Hangup"]


def test_a_failed_transfer_whose_node_vanished_restarts_the_menu(twilio):
    root = twilio.twiml("/transfer/gone_transfer/result", DialCallStatus="busy")
    assert root.find("Say").text.startswith("Sorry, the menu has changed.")
    assert verbs(twilio.twiml("/transfer/gone/result", DialCallStatus="completed")) == ["Hangup"]


def test_a_welsh_caller_is_not_offered_welsh_again(twilio):
    english = said(twilio.twiml("/node/main"))
    welsh = said(twilio.twiml("/node/main?lang=cy-GB"))
    assert "Am Gymraeg, pwyswch 9." in english
    assert "Gymraeg" not in welsh and "deialwch 999" in welsh
    # The key still works (a caller pressing it again stays where they are, in Welsh).
    root = twilio.twiml("/menu/main?lang=cy-GB&attempt=1", Digits="9")
    assert root.find("Gather").get("action") == "/menu/main?attempt=1&lang=cy-GB"
