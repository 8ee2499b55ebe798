"""The call status callback with its progress events
(https://www.twilio.com/docs/voice/api/call-resource#statuscallbackevent): initiated,
ringing, answered and completed, each signed, numbered in order."""

from __future__ import annotations

from twiml_probe import STANDARD, TwimlApp, dial

from ivr.caller import Input


def test_each_requested_event_is_sent_in_order_with_its_call_status():
    app = TwimlApp(
        {
            "/voice": '<Pause length="2"/><Gather action="/menu" numDigits="1">'
            "<Say>Press 1.</Say></Gather>",
            "/menu": "<Say>Goodbye.</Say><Hangup/>",
            "/status": (204, {}, ""),
        }
    )
    dial(
        app,
        Input.press("1"),
        status_callback="/status",
        status_events=("initiated", "ringing", "answered"),
    )
    assert app.requests() == [
        ("POST", "/status"),
        ("POST", "/status"),
        ("POST", "/voice"),
        ("POST", "/status"),  # answered after the leading pause, before the Gather
        ("POST", "/menu"),
        ("POST", "/status"),
    ]
    callbacks = app.to("/status")
    assert [c.params["CallStatus"] for c in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [c.params["SequenceNumber"] for c in callbacks] == ["0", "1", "2", "3"]
    assert all(c.params["CallbackSource"] == "call-progress-events" for c in callbacks)
    assert all(STANDARD <= set(c.params) and c.signed for c in callbacks)
    assert ["CallDuration" in c.params for c in callbacks] == [False, False, False, True]
    # Answered at 2 s; "Press 1." and "Goodbye." take 1.2 s: two seconds, rounded up.
    assert callbacks[-1].params["CallDuration"] == "2"
