"""<Dial> and its nouns (https://www.twilio.com/docs/voice/twiml/dial): what the action and
the other legs' URLs receive."""

from __future__ import annotations

import re

import pytest
from twiml_probe import STANDARD, TwimlApp, dial

from ivr.caller import DialResult

SID = re.compile(r"CA[0-9a-f]{32}")


def dial_app(dial_twiml: str, **pages) -> TwimlApp:
    return TwimlApp(
        {
            "/voice": dial_twiml + "<Say>After the dial.</Say>",
            "/dialled": "<Say>Dial over.</Say><Hangup/>",
            "/status": (204, {}, ""),
            **pages,
        }
    )


def test_a_conference_reports_answered_without_call_sid_or_duration():
    # DialCallStatus "answered: When calling a conference, the called party answered";
    # DialCallSid and DialCallDuration are not sent after dialling a conference.
    app = dial_app('<Dial action="/dialled"><Conference>incident-room</Conference></Dial>')
    record = dial(app, dial=DialResult("completed", 90))
    params = app.to("/dialled")[0].params
    assert params["DialCallStatus"] == "answered"
    assert params["DialBridged"] == "true"
    assert "DialCallSid" not in params and "DialCallDuration" not in params
    assert record.outcome.kind == "dialled"


def test_time_limit_caps_the_dialled_call():
    app = dial_app('<Dial action="/dialled" timeLimit="30">+441632960999</Dial>')
    record = dial(app, dial=DialResult("completed", 90))
    params = app.to("/dialled")[0].params
    assert params["DialCallDuration"] == "30"
    assert SID.fullmatch(params["DialCallSid"])
    assert record.of_kind("request")[-1].at == 30


def test_record_adds_the_recording_url():
    app = dial_app(
        '<Dial action="/dialled" record="record-from-answer" '
        'recordingStatusCallback="/recording">+441632960999</Dial>',
        **{"/recording": (204, {}, "")},
    )
    dial(app)
    params = app.to("/dialled")[0].params
    assert re.fullmatch(r"https://api\.twilio\.com/.+/Recordings/RE\w{32}", params["RecordingUrl"])
    (recording,) = app.to("/recording")
    assert recording.params["RecordingUrl"] == params["RecordingUrl"]
    assert recording.params["RecordingSource"] == "DialVerb"


@pytest.mark.parametrize(
    ("status", "bridged"),
    [("completed", "true"), ("busy", "false"), ("no-answer", "false"), ("failed", "false")],
)
def test_dial_bridged_is_always_sent(status, bridged):
    app = dial_app('<Dial action="/dialled">+441632960999</Dial>')
    dial(app, dial=DialResult(status, 60 if status == "completed" else 0))
    params = app.to("/dialled")[0].params
    assert (params["DialCallStatus"], params["DialBridged"]) == (status, bridged)


def test_dialling_a_queue_requests_its_url_on_the_dequeued_callers_leg():
    # https://www.twilio.com/docs/voice/twiml/queue: url "will be executed on the queued
    # caller's end before the two parties are connected", with QueueSid, CallSid,
    # QueueTime and DequeingCallSid on top of the standard parameters.
    app = dial_app(
        '<Dial action="/dialled"><Queue url="/about-to-connect">support</Queue></Dial>',
        **{"/about-to-connect": "<Say>You are being connected to an agent.</Say>"},
    )
    record = dial(app)
    (leg,) = app.to("/about-to-connect")
    assert STANDARD <= set(leg.params)
    assert {"QueueSid", "QueueTime"} <= set(leg.params)
    assert leg.params["DequeingCallSid"] == record.call_sid
    assert leg.params["CallSid"] != record.call_sid
    action = app.to("/dialled")[0].params
    assert action["QueueSid"] == leg.params["QueueSid"]
    # The caller does not hear the dequeued caller's announcement.
    assert "agent" not in " ".join(e.text for e in record.of_kind("say"))
    assert record.of_kind("leg")[0].text == "You are being connected to an agent."


def test_hangup_on_star_ends_the_dialled_leg_and_the_action_runs():
    app = dial_app('<Dial action="/dialled" hangupOnStar="true">+441632960999</Dial>')
    record = dial(app, dial=DialResult("completed", 20, ended_by="star"))
    assert app.to("/dialled")[0].params["DialCallStatus"] == "completed"
    assert record.of_kind("say")[-1].text == "Dial over."
    assert any(e.digits == "*" for e in record.of_kind("input"))


def test_the_caller_hanging_up_during_the_dial_still_requests_the_action():
    app = dial_app('<Dial action="/dialled">+441632960999</Dial>')
    record = dial(app, dial=DialResult("completed", 20, ended_by="caller"))
    params = app.to("/dialled")[0].params
    assert (params["DialCallStatus"], params["CallStatus"]) == ("completed", "completed")
    assert not record.of_kind("say")  # its answer is not run
    assert record.outcome.kind == "dialled"


def test_a_number_url_is_requested_on_the_called_partys_leg_before_the_bridge():
    # <Number url>: TwiML run on the called party's end after they answer (a whisper).
    app = dial_app(
        '<Dial action="/dialled" callerId="+441632960000">'
        '<Number url="/whisper" sendDigits="ww12">+441632960999</Number></Dial>',
        **{"/whisper": "<Say>Call from the 101 line.</Say>"},
    )
    record = dial(app, dial=DialResult("completed", 10))
    (whisper,) = app.to("/whisper")
    assert whisper.params["Direction"] == "outbound-dial"
    assert whisper.params["ParentCallSid"] == record.call_sid
    assert (whisper.params["From"], whisper.params["To"]) == ("+441632960000", "+441632960999")
    assert whisper.signed
    action = app.to("/dialled")[0].params
    assert action["DialCallSid"] == whisper.params["CallSid"]
    assert record.of_kind("send-digits")[0].digits == "ww12"
    # 1 s of tones' waits, 2 s of whisper, 10 s talking.
    assert record.of_kind("request")[-1].at == 13


def test_a_whisper_that_hangs_up_leaves_the_call_unbridged():
    app = dial_app(
        '<Dial action="/dialled"><Number url="/whisper">+441632960999</Number></Dial>',
        **{"/whisper": "<Hangup/>"},
    )
    dial(app)
    params = app.to("/dialled")[0].params
    assert (params["DialCallStatus"], params["DialBridged"]) == ("completed", "false")


def test_answer_on_bridge_leaves_an_unconnected_call_unanswered():
    # answerOnBridge: the caller's call is answered only when the dialled party answers.
    app = TwimlApp(
        {
            "/voice": '<Dial answerOnBridge="true" timeout="20">+441632960999</Dial>',
            "/status": (204, {}, ""),
        }
    )
    dial(app, dial=DialResult("no-answer", 0), status_callback="/status")
    status = app.to("/status")[0].params
    assert (status["CallStatus"], status["CallDuration"]) == ("no-answer", "0")
    connected = TwimlApp(dict(app.pages))
    dial(connected, dial=DialResult("completed", 30), status_callback="/status")
    status = connected.to("/status")[0].params
    assert (status["CallStatus"], status["CallDuration"]) == ("completed", "30")


def test_whatsapp_is_a_noun_not_an_application_error():
    app = dial_app('<Dial action="/dialled"><WhatsApp>+441632960999</WhatsApp></Dial>')
    record = dial(app)
    assert record.outcome.error is None
    assert record.of_kind("dial")[0].targets == [{"kind": "whatsapp", "value": "+441632960999"}]
    assert record.warnings == []
