"""<Enqueue> (https://www.twilio.com/docs/voice/twiml/enqueue): hold music, wait documents and
every QueueResult, as the action and the waitUrl receive them."""

from __future__ import annotations

import pytest
from twiml_probe import TwimlApp, dial


def queue_app(enqueue: str, wait: str = "<Say>Please hold.</Say>") -> TwimlApp:
    return TwimlApp(
        {
            "/voice": enqueue,
            "/wait": wait,
            "/after": "<Say>After the queue.</Say><Hangup/>",
        }
    )


def test_an_empty_wait_url_holds_in_silence():
    # "If you don't wish anything to be played while the caller is waiting in the queue, set
    # waitUrl to an empty string."
    app = queue_app('<Enqueue waitUrl="" action="/after">support</Enqueue>')
    record = dial(app, queue_waits=3)
    assert app.requests() == [("POST", "/voice"), ("POST", "/after")]
    assert not record.of_kind("play")
    assert [e.detail for e in record.of_kind("pause")] == [{"silent_hold": True}] * 3


def test_without_a_wait_url_twilio_gets_its_default_playlist_with_get():
    # waitUrlMethod: "POST if waitUrl is specified, otherwise GET to Twilio's default
    # classical playlist".
    app = queue_app('<Enqueue action="/after">support</Enqueue>')
    record = dial(app)
    assert app.requests() == [("POST", "/voice"), ("POST", "/after")]
    (music,) = record.of_kind("play")
    assert (music.method, music.url) == (
        "GET",
        "https://s3.amazonaws.com/com.twilio.sounds.music/index.xml",
    )
    assert record.of_kind("enqueue")[0].detail["waitUrlMethod"] == "GET"


@pytest.mark.parametrize(
    ("outcome", "enqueued"),
    [
        ("redirected", True),
        ("redirected-from-bridged", True),
        ("bridging-in-process", True),
        ("system-error", False),
    ],
)
def test_every_queue_result_reaches_the_action(outcome, enqueued):
    # The QueueResult values Twilio documents beyond bridged, hangup, leave, queue-full and
    # error (tests/test_caller.py); QueueSid and QueueTime are "only available if the call
    # was actually enqueued".
    app = queue_app('<Enqueue waitUrl="/wait" action="/after">support</Enqueue>')
    dial(app, queue=outcome)
    params = app.to("/after")[0].params
    assert params["QueueResult"] == outcome
    assert ("QueueSid" in params) is enqueued
    assert ("QueueTime" in params) is enqueued
    assert len(app.to("/wait")) == (1 if enqueued else 0)


def test_music_that_loops_forever_is_not_requested_again():
    # A waitUrl document is requested again "once [it] runs out of verbs": a loop="0" Play
    # never runs out.
    app = queue_app(
        '<Enqueue waitUrl="/wait" action="/after">support</Enqueue>',
        '<Say>Please hold.</Say><Play loop="0">https://probe.test/music.mp3</Play>',
    )
    record = dial(app, queue_waits=4)
    assert len(app.to("/wait")) == 1
    assert [e.detail.get("repeats") for e in record.of_kind("play")] == [None, True, True, True]
    assert app.to("/after")[0].params["QueueResult"] == "bridged"


def test_an_invalid_wait_url_method_is_queue_result_error():
    # https://www.twilio.com/docs/api/errors/14206 (ERROR): "Enqueue: Invalid waitUrlMethod
    # value"; QueueResult error: "The TwiML contained an error ... in the <Enqueue> verb".
    app = queue_app('<Enqueue waitUrl="/wait" waitUrlMethod="PUT" action="/after">q</Enqueue>')
    record = dial(app)
    assert app.requests() == [("POST", "/voice"), ("POST", "/after")]
    assert app.to("/after")[0].params["QueueResult"] == "error"
    assert record.outcome.error is None
    assert "14206" in record.warnings[0]


def test_a_wait_url_that_fails_is_queue_result_error():
    app = queue_app('<Enqueue waitUrl="/missing" action="/after">q</Enqueue>')
    record = dial(app)
    assert app.requests() == [("POST", "/voice"), ("POST", "/missing"), ("POST", "/after")]
    assert app.to("/after")[0].params["QueueResult"] == "error"
    assert record.of_kind("say")[-1].text == "After the queue."
