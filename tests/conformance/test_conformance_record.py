"""<Record> (https://www.twilio.com/docs/voice/twiml/record): what the action, the recording
status callback and the transcription callback receive."""

from __future__ import annotations

import re

from twiml_probe import STANDARD, TwimlApp, dial

from ivr.caller import Input

RECORDING_URL = re.compile(
    r"https://api\.twilio\.com/2010-04-01/Accounts/AC\w{32}/Recordings/RE\w{32}"
)


def record_app(attrs: str = "") -> TwimlApp:
    return TwimlApp(
        {
            "/voice": f'<Record action="/saved" {attrs}/><Say>Nothing was recorded.</Say>',
            "/saved": "<Say>Thank you.</Say><Hangup/>",
            "/recording": (204, {}, ""),
            "/transcription": (204, {}, ""),
        }
    )


def test_the_key_that_ends_the_recording_is_sent_as_digits():
    # Action parameters: RecordingUrl, RecordingDuration, RecordingSid and "Digits: the key
    # (if any) pressed to end the recording or 'hangup' if the caller hung up".
    app = record_app('finishOnKey="#"')
    record = dial(app, Input.say("my bike was stolen from the station", then="#"))
    (saved,) = app.to("/saved")
    assert saved.params["Digits"] == "#"
    assert RECORDING_URL.fullmatch(saved.params["RecordingUrl"])
    assert saved.params["RecordingSid"] == saved.params["RecordingUrl"].rsplit("/", 1)[1]
    assert saved.params["RecordingDuration"] == "3"  # 7 words: 2.8 s
    assert record.of_kind("say")[-1].text == "Thank you."
    # Ended by the key: no silence timeout is waited out.
    assert record.of_kind("request")[-1].at == 2.8


def test_a_recording_ended_by_silence_sends_no_digits():
    app = record_app('timeout="4"')
    record = dial(app, Input.say("my bike was stolen"))
    assert "Digits" not in app.to("/saved")[0].params
    assert record.of_kind("request")[-1].at == 1.6 + 4


def test_hanging_up_while_recording_still_requests_the_action_with_digits_hangup():
    app = record_app()
    record = dial(app, Input.say("my bike was stolen", then="hangup"))
    assert app.requests() == [("POST", "/voice"), ("POST", "/saved")]
    saved = app.to("/saved")[0].params
    assert (saved["Digits"], saved["CallStatus"]) == ("hangup", "completed")
    # The caller is gone: the action's answer is not run.
    assert not record.of_kind("say")
    assert record.outcome.kind == "caller-hangup"


def test_recording_status_and_transcription_callbacks_are_requested_after_the_action():
    # recordingStatusCallback receives the recording's status; transcribeCallback (which
    # implies transcribe="true") receives TranscriptionText, TranscriptionStatus, ... on top
    # of the standard parameters.
    app = record_app('recordingStatusCallback="/recording" transcribeCallback="/transcription"')
    dial(app, Input.say("my bike was stolen", then="#"))
    assert app.requests() == [
        ("POST", "/voice"),
        ("POST", "/saved"),
        ("POST", "/recording"),
        ("POST", "/transcription"),
    ]
    saved = app.to("/saved")[0].params
    status = app.to("/recording")[0].params
    assert status["RecordingStatus"] == "completed"
    assert {k: status[k] for k in ("RecordingSid", "RecordingUrl", "RecordingDuration")} == {
        k: saved[k] for k in ("RecordingSid", "RecordingUrl", "RecordingDuration")
    }
    assert status["CallSid"] == saved["CallSid"] and status["RecordingSource"] == "RecordVerb"
    transcription = app.to("/transcription")[0].params
    assert STANDARD <= set(transcription)
    assert transcription["TranscriptionText"] == "my bike was stolen"
    assert transcription["TranscriptionStatus"] == "completed"
    assert transcription["RecordingSid"] == saved["RecordingSid"]
    assert re.fullmatch(r"TR\w{32}", transcription["TranscriptionSid"])
    assert all(r.signed for r in app.received)


def test_max_length_defaults_to_two_minutes_when_transcribing():
    # maxLength "defaults to 3600 seconds (one hour) for a normal recording and 120 seconds
    # (two minutes) for a transcribed recording".
    long_message = " ".join(["word"] * 400)  # 160 s of speech
    app = record_app('transcribe="true"')
    dial(app, Input.say(long_message))
    saved = app.to("/saved")[0].params
    assert saved["RecordingDuration"] == "120"
    assert "Digits" not in saved
    untranscribed = record_app()
    dial(untranscribed, Input.say(long_message))
    assert untranscribed.to("/saved")[0].params["RecordingDuration"] == "160"
