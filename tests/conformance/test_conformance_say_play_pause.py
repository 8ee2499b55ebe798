"""<Say>, <Play>, <Pause> and the answers that are not XML: what a TwiML app receives."""

from __future__ import annotations

import pytest
from twiml_probe import TwimlApp, dial

from ivr.caller import Input


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
