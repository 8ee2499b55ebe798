"""How Twilio fetches and reads documents: HTTP redirects, warnings versus errors, signing,
unreachable URLs and the call's time limit."""

from __future__ import annotations

import socket

import pytest
from twiml_probe import BASE, STANDARD, TOKEN, TwimlApp, basic, dial

from ivr.caller import Call, HTTPTransport, Input, ScriptedCaller, WSGITransport, transcript
from ivr.errors import HTTPRedirectError, TooManyRedirectsError, TransportError

MENU = '<Gather action="/menu" numDigits="1"><Say>Press 1.</Say></Gather>'


@pytest.mark.parametrize(
    ("status", "method"), [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST")]
)
def test_a_redirected_action_is_followed_without_resending_digits(status, method):
    # https://www.twilio.com/docs/api/errors/11216: "Twilio will only follow redirects for
    # status codes 301, 302, 303, and 307". The new location gets the standard parameters,
    # not Digits.
    app = TwimlApp(
        {
            "/voice": MENU,
            "/menu": (status, {"Location": "/menu/v2"}, ""),
            "/menu/v2": "<Say>Moved menu.</Say>",
        }
    )
    record = dial(app, Input.press("1"))
    assert app.requests() == [("POST", "/voice"), ("POST", "/menu"), (method, "/menu/v2")]
    assert app.to("/menu")[0].params["Digits"] == "1"
    moved = app.to("/menu/v2")[0]
    assert "Digits" not in moved.params
    assert STANDARD <= set(moved.params) and moved.signed
    assert record.of_kind("say")[-1].text == "Moved menu."
    assert f"-> HTTP {status} redirect: Twilio requests {method} {BASE}/menu/v2" in transcript(
        record
    )


@pytest.mark.parametrize(
    ("status", "headers"), [(308, {"Location": "/elsewhere"}), (302, {}), (300, {})]
)
def test_a_redirect_twilio_does_not_follow_is_error_11216(status, headers):
    app = TwimlApp({"/voice": (status, headers, ""), "/elsewhere": "<Say>x</Say>"})
    record = dial(app)
    assert isinstance(record.outcome.error, HTTPRedirectError)
    assert record.outcome.error.code == 11216
    assert app.requests() == [("POST", "/voice")]


def test_endless_http_redirects_are_error_11215():
    # https://www.twilio.com/docs/api/errors/11215: "HTTP too many redirects".
    app = TwimlApp({"/voice": (302, {"Location": "/voice"}, "")})
    record = dial(app)
    assert isinstance(record.outcome.error, TooManyRedirectsError)
    assert record.outcome.error.code == 11215
    assert len(app.received) == 11


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # https://www.twilio.com/docs/api/errors/13510 (WARNING): Say: Invalid loop value
        ('<Say loop="twice">Hello.</Say>', 13510),
        # https://www.twilio.com/docs/api/errors/13410 (WARNING): Play: Invalid loop value
        ('<Play loop="-1">https://probe.test/a.mp3</Play>', 13410),
        # https://www.twilio.com/docs/api/errors/13910 (WARNING): Pause: Invalid length value
        ('<Pause length="long"/>', 13910),
    ],
)
def test_a_warning_level_attribute_does_not_stop_the_call(body, code):
    app = TwimlApp({"/voice": body + "<Redirect>/next</Redirect>", "/next": "<Say>Next.</Say>"})
    record = dial(app)
    assert app.requests() == [("POST", "/voice"), ("POST", "/next")]
    assert record.outcome.error is None
    assert record.warnings[0].startswith(f"warning {code}: ")


def test_an_invalid_record_method_is_warning_13610_and_post_is_used():
    # https://www.twilio.com/docs/api/errors/13610 (WARNING): Record: Invalid method value.
    app = TwimlApp(
        {"/voice": '<Record action="/saved" method="PUT"/>', "/saved": "<Say>Saved.</Say>"}
    )
    record = dial(app, Input.say("hello", then="#"))
    assert app.requests() == [("POST", "/voice"), ("POST", "/saved")]
    assert record.warnings[0].startswith("warning 13610: ")


def test_credentials_in_the_url_are_sent_as_basic_auth_and_left_out_of_the_signature():
    app = TwimlApp({"/voice": "<Say>Hello.</Say>"})
    url = "http://probe:s3cret@probe.test/voice"
    Call(WSGITransport(app), url, ScriptedCaller(), auth_token=TOKEN).run()
    (received,) = app.received
    assert received.signed  # against http://probe.test/voice
    assert received.authorization == basic("probe", "s3cret")


def test_an_unreachable_url_is_one_line_of_error_11205():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with HTTPTransport(timeout=2) as transport:
        record = Call(transport, f"http://127.0.0.1:{port}/voice").run()
    error = record.outcome.error
    assert isinstance(error, TransportError) and error.code == 11205
    assert error.message == (
        f"could not reach 127.0.0.1:{port}: connection refused (HTTP connection failure)"
    )
    assert error.describe().count("\n") == 1  # the message and the URL, nothing else


def test_a_polling_loop_runs_until_the_calls_time_limit():
    # A Pause and a Redirect to itself is legal TwiML; Twilio ends every call at its time
    # limit (four hours; here, for the test, one minute of simulated time).
    app = TwimlApp({"/voice": '<Pause length="5"/><Redirect>/voice</Redirect>'})
    record = dial(app, max_seconds=60)
    assert record.outcome.kind == "time-limit"
    assert "time limit of 60 s" in record.outcome.summary()
    assert len(app.received) == 12
    assert record.outcome.error is None
