"""<Gather> (https://www.twilio.com/docs/voice/twiml/gather): barge-in, the timeout after the
first key, speech timeouts and partial results, as a TwiML app receives them.

Times are simulated: 150 words a minute, so each word is 0.4 s (ivr.caller.clock).
"""

from __future__ import annotations

from twiml_probe import STANDARD, TwimlApp, dial

from ivr.caller import Input

MENU = (
    '<Gather action="/menu" numDigits="1">'
    "<Say>For sales, press 1.</Say>"  # 4 words: 1.6 s
    "<Say>For support, press 2.</Say>"  # 1.6 s
    "<Say>To hear these options again, press star.</Say>"  # 2.8 s
    "</Gather>"
)


def request_time(record, path: str) -> float:
    return next(e.at for e in record.of_kind("request") if e.url.endswith(path))


def test_a_key_pressed_during_the_nested_says_stops_them():
    # "You may optionally nest <Say> and <Play> verbs within a <Gather> verb while waiting for
    # input ... After the first digit is received the audio will stop playing."
    app = TwimlApp({"/voice": MENU, "/menu": "<Hangup/>"})
    record = dial(app, Input.press("2", barge_in=True))
    assert app.requests() == [("POST", "/voice"), ("POST", "/menu")]
    assert app.to("/menu")[0].params["Digits"] == "2"
    # Pressed at the end of "For support, press 2.": the third prompt is never heard.
    assert request_time(record, "/menu") == 3.2
    assert [e.text for e in record.of_kind("say")] == [
        "For sales, press 1.",
        "For support, press 2.",
    ]
    assert record.of_kind("input")[0].detail == {"barge_in": True, "unheard": 1}


def test_without_barge_in_the_caller_hears_every_nested_say_first():
    app = TwimlApp({"/voice": MENU, "/menu": "<Hangup/>"})
    record = dial(app, Input.press("2"))
    assert request_time(record, "/menu") == 6.0
    assert len(record.of_kind("say")) == 3


def test_the_timeout_runs_from_the_first_key():
    # "timeout ... the limit in seconds that Twilio will wait for the caller to press another
    # digit": after a barged-in key, no more digits and no finishOnKey: the timeout runs out.
    app = TwimlApp(
        {
            "/voice": '<Gather action="/account" timeout="3">'
            "<Say>For account balance, press 1, then your account number.</Say>"  # 3.6 s
            "<Say>For anything else, stay on the line.</Say>"  # 2.8 s
            "</Gather>",
            "/account": "<Hangup/>",
        }
    )
    record = dial(app, Input.press("1234", barge_in=True))
    assert app.to("/account")[0].params["Digits"] == "1234"
    assert request_time(record, "/account") == 3.6 + 3


def test_bargein_false_lets_the_prompt_play_out():
    # bargeIn="false": Twilio does not stop the nested verbs for input.
    app = TwimlApp({"/voice": MENU.replace("<Gather ", '<Gather bargeIn="false" '), "/menu": ""})
    record = dial(app, Input.press("2", barge_in=True))
    assert request_time(record, "/menu") == 6.0


def test_partial_result_callback_gets_unstable_speech_results_then_the_action_its_result():
    # partialResultCallback: "Twilio will make requests to your partialResultCallback in
    # real time as speech is recognized" with UnstableSpeechResult.
    app = TwimlApp(
        {
            "/voice": '<Gather input="speech" action="/said" partialResultCallback="/partial"/>',
            "/partial": (204, {}, ""),
            "/said": "<Hangup/>",
        }
    )
    record = dial(app, Input.say("report a burglary"))
    assert app.requests() == [("POST", "/voice")] + [("POST", "/partial")] * 3 + [("POST", "/said")]
    partials = app.to("/partial")
    assert [p.params["UnstableSpeechResult"] for p in partials] == [
        "report",
        "report a",
        "report a burglary",
    ]
    assert [p.params["SequenceNumber"] for p in partials] == ["1", "2", "3"]
    assert all(STANDARD <= set(p.params) and p.signed for p in partials)
    assert "Stability" in partials[0].params
    said = app.to("/said")[0].params
    assert said["SpeechResult"] == "report a burglary" and "UnstableSpeechResult" not in said
    assert record.warnings == []


def test_speech_timeout_is_honoured():
    # speechTimeout: seconds Twilio waits after the caller stops speaking.
    app = TwimlApp(
        {"/voice": '<Gather input="speech" action="/said" speechTimeout="3"/>', "/said": ""}
    )
    record = dial(app, Input.say("hello there"))  # 0.8 s
    assert request_time(record, "/said") == 0.8 + 3


def test_speech_timeout_defaults_to_the_timeout():
    app = TwimlApp({"/voice": '<Gather input="speech" action="/said" timeout="7"/>', "/said": ""})
    record = dial(app, Input.say("hello there"))
    assert request_time(record, "/said") == 0.8 + 7
