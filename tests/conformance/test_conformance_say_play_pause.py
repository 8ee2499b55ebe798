"""<Say>, <Play>, <Pause> and the answers that are not XML: what a TwiML app receives."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from twiml_probe import TwimlApp, dial

from ivr.caller import Input
from ivr.caller.clock import LOOP_CAP, Clock


@pytest.mark.parametrize(
    "verb",
    [
        # https://www.twilio.com/docs/voice/twiml/say: loop "0" repeats until the call ends.
        '<Say loop="0">All lines are busy.</Say>',
        # https://www.twilio.com/docs/voice/twiml/play: loop "0" likewise.
        '<Play loop="0">https://probe.test/busy.mp3</Play>',
    ],
)
def test_loop_zero_never_reaches_the_next_verb(verb):
    app = TwimlApp({"/voice": verb + "<Redirect>/never</Redirect>", "/never": "<Hangup/>"})
    record = dial(app)
    assert app.requests() == [("POST", "/voice")]
    assert record.outcome.kind == "caller-hangup"
    assert 'loop="0"' in record.outcome.reason
    assert [e.loop for e in record.of_kind("say", "play")] == [0]


def test_loop_zero_in_a_gather_plays_until_the_caller_presses():
    # https://www.twilio.com/docs/voice/twiml/gather: nested Say loops while Twilio listens.
    app = TwimlApp(
        {
            "/voice": '<Gather action="/menu" numDigits="1">'
            '<Say loop="0">Press 1 for sales.</Say></Gather><Redirect>/never</Redirect>',
            "/menu": "<Hangup/>",
        }
    )
    dial(app, Input.press("1"))
    assert app.requests() == [("POST", "/voice"), ("POST", "/menu")]
    assert app.to("/menu")[0].params["Digits"] == "1"


LOOPED_MENU = (
    '<Gather action="/menu" numDigits="1" timeout="3">'
    "<Say>Welcome to the probe.</Say>"
    '<Say loop="0">Press 1 for sales.</Say>'
    "<Say>Nobody hears this line.</Say>"
    "</Gather><Redirect>/again</Redirect>"
)


def _seconds(say: str) -> float:
    return Clock().once(ET.fromstring(f"<Say>{say}</Say>"))


def test_loop_zero_in_a_gather_is_stamped_as_it_plays_for_a_caller_who_presses():
    # https://www.twilio.com/docs/voice/twiml/say#attributes-loop and
    # https://www.twilio.com/docs/voice/twiml/play#attributes-loop: loop "0" repeats until the
    # call ends or 1000 iterations; nested in <Gather> (https://www.twilio.com/docs/voice/twiml/
    # gather#nest-other-verbs) it plays while Twilio listens, so a caller who presses after
    # hearing it once never hears the verb after it.
    app = TwimlApp({"/voice": LOOPED_MENU, "/menu": "<Hangup/>"})
    record = dial(app, Input.press("1"))
    welcome, offer = _seconds("Welcome to the probe."), _seconds("Press 1 for sales.")
    said = [(e.text, e.at) for e in record.of_kind("say")]
    assert said == [("Welcome to the probe.", 0.0), ("Press 1 for sales.", round(welcome, 1))]
    (pressed,) = record.of_kind("input")
    assert pressed.at == round(welcome + offer, 1)
    assert app.to("/menu")[0].params["Digits"] == "1"


def test_loop_zero_in_a_gather_plays_to_twilios_cap_for_a_silent_caller():
    # The same pages: a caller who says nothing hears the loop 1000 times, then the verbs
    # after it, then the Gather's timeout; only then does Twilio fall through.
    app = TwimlApp({"/voice": LOOPED_MENU, "/again": "<Hangup/>"})
    record = dial(app, Input.silence())
    welcome, offer = _seconds("Welcome to the probe."), _seconds("Press 1 for sales.")
    last = _seconds("Nobody hears this line.")
    said = [(e.text, e.at) for e in record.of_kind("say")]
    assert said == [
        ("Welcome to the probe.", 0.0),
        ("Press 1 for sales.", round(welcome, 1)),
        ("Nobody hears this line.", round(welcome + offer * LOOP_CAP, 1)),
    ]
    (silence,) = record.of_kind("input")
    assert silence.at == round(welcome + offer * LOOP_CAP + last, 1)
    (redirect,) = record.of_kind("redirect")
    assert redirect.at == round(welcome + offer * LOOP_CAP + last + 3, 1)
    assert app.requests() == [("POST", "/voice"), ("POST", "/again")]


def test_a_leading_pause_delays_the_answer_and_call_duration_starts_after_it():
    # https://www.twilio.com/docs/voice/twiml/pause: "If <Pause> is the first verb in a TwiML
    # document, Twilio will wait the specified number of seconds before picking up the call."
    app = TwimlApp(
        {"/voice": '<Pause length="5"/><Say>Hello there, goodbye.</Say>', "/status": (204, {}, "")}
    )
    record = dial(app, status_callback="/status")
    (status,) = app.to("/status")
    # 3 words at 150 a minute: 1.2 s of answered call, rounded up; the 5 s rang.
    assert (status.params["CallStatus"], status.params["CallDuration"]) == ("completed", "2")
    assert record.of_kind("say")[0].at == 5.0
    assert record.of_kind("pause")[0].detail == {"ringing": True}


def test_text_plain_that_is_valid_twiml_is_executed():
    # https://www.twilio.com/docs/voice/twiml: a text/plain answer "If the response is valid
    # TwiML, we will execute the provided instructions"; otherwise Twilio reads it out.
    body = "<Response><Say>Plain TwiML</Say><Redirect>/next</Redirect></Response>"
    app = TwimlApp(
        {"/voice": (200, {"Content-Type": "text/plain"}, body), "/next": "<Say>Next</Say>"}
    )
    record = dial(app)
    assert app.requests() == [("POST", "/voice"), ("POST", "/next")]
    assert [e.text for e in record.of_kind("say")] == ["Plain TwiML", "Next"]
