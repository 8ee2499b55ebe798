"""The caller simulator against small TwiML apps written in several styles."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ivr.caller import (
    Call,
    CallRecord,
    Clock,
    DialResult,
    HTTPTransport,
    Input,
    InteractiveCaller,
    ScriptedCaller,
    TransportFailure,
    WSGITransport,
    offered_keys,
    parse_input,
    transcript,
)
from ivr.caller.clock import LOOP_CAP
from ivr.errors import (
    ContentTypeError,
    HTTPStatusError,
    IVRError,
    RedirectLoopError,
    TransportError,
    TwiMLParseError,
    TwiMLRootError,
)

TOKEN = "test-auth-token"
BASE = "http://localhost"


def xml(body: str) -> tuple[str, int, dict[str, str]]:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        200,
        {"Content-Type": "text/xml"},
    )


def signed_url() -> str:
    """The URL Twilio signed, rebuilt from the raw query string (werkzeug decodes request.url)."""
    query = request.query_string.decode()
    return request.base_url + ("?" + query if query else "")


def flask_app(routes: dict[str, Callable[[], object]]) -> Flask:
    """A Flask app that checks every signature, then answers from ``routes``."""
    app = Flask("twiml-test")

    @app.route("/<path:path>", methods=["GET", "POST"])
    def any_route(path: str):
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(TOKEN).validate(signed_url(), request.form, signature):
            return "bad signature", 403
        handler = routes.get("/" + path)
        if handler is None:
            return "not found", 404
        return handler()

    return app


def call(app, *steps: Input, url: str = BASE + "/voice", **options) -> CallRecord:
    caller = options.pop("caller", None) or ScriptedCaller(
        steps,
        **{k: options.pop(k) for k in ("queue", "queue_waits", "dial", "barge_in") if k in options},
    )
    return Call(WSGITransport(app), url, caller, auth_token=TOKEN, **options).run()


def kinds(record: CallRecord) -> list[str]:
    return [e.kind for e in record.events if e.kind != "request"]


def assert_all_signed(record: CallRecord) -> None:
    validator = RequestValidator(TOKEN)
    for sent in record.requests:
        body = {} if sent.method == "GET" else sent.params
        assert validator.validate(sent.url, body, sent.headers["X-Twilio-Signature"])


# -- parameters and signatures ------------------------------------------------------------


def test_standard_parameters_are_sent_and_signed():
    app = flask_app(
        {
            "/voice": lambda: xml(
                '<Gather numDigits="1" action="/menu"><Say>Press 1</Say></Gather>'
            ),
            "/menu": lambda: xml(f"<Say>You pressed {request.form['Digits']}</Say><Hangup/>"),
        }
    )
    record = call(app, Input.press("1"), from_number="+447700900555")

    first, second = record.requests
    assert re.fullmatch(r"CA[0-9a-f]{32}", record.call_sid)
    assert re.fullmatch(r"AC[0-9a-f]{32}", record.account_sid)
    assert first.params == {
        "CallSid": record.call_sid,
        "AccountSid": record.account_sid,
        "From": "+447700900555",
        "To": "+441632960101",
        "Caller": "+447700900555",
        "Called": "+441632960101",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromCountry": "GB",
        "CallerCountry": "GB",
        "ToCountry": "GB",
        "CalledCountry": "GB",
    }
    assert second.params["CallStatus"] == "in-progress"
    assert second.params["Digits"] == "1"
    assert second.url == BASE + "/menu"
    assert [r.status for r in record.requests] == [200, 200]
    assert_all_signed(record)
    assert record.outcome.kind == "message"
    assert record.outcome.heard == ("You pressed 1",)


def test_without_a_token_requests_are_unsigned():
    app = Flask("plain")
    app.post("/voice")(lambda: xml("<Say>Hi</Say>"))
    record = Call(WSGITransport(app), BASE + "/voice").run()
    assert "X-Twilio-Signature" not in record.requests[0].headers
    assert record.outcome.kind == "message"


def test_a_fresh_call_sid_per_call():
    app = flask_app({"/voice": lambda: xml("<Hangup/>")})
    assert call(app).call_sid != call(app).call_sid


# -- a plain WSGI app: relative URLs and GET -------------------------------------------------


def wsgi_app(environ, start_response):
    """A TwiML app in another style: no framework, GET everywhere, relative URLs."""
    req = Request(environ)
    query = req.query_string.decode()
    url = req.base_url + ("?" + query if query else "")
    params = dict(parse_qsl(query)) if req.method == "GET" else dict(req.form)
    ok = RequestValidator(TOKEN).validate(
        url, {} if req.method == "GET" else params, req.headers.get("X-Twilio-Signature", "")
    )
    if not ok:
        return Response("bad signature", 403)(environ, start_response)
    pages = {
        "/ivr/start": '<Gather action="step/two?lang=en" method="GET" numDigits="2">'
        '<Say loop="0">Enter two digits</Say></Gather>',
        "/ivr/step/two": "<Say>Got {Digits} in {lang}</Say>"
        "<Redirect method='GET'>../end</Redirect>",
        "/ivr/end": "<Say>Goodbye from {CallStatus}</Say>",
    }
    page = pages.get(req.path)
    if page is None:
        return Response("no", 404)(environ, start_response)
    body = "<Response>" + page.format_map(params) + "</Response>"
    return Response(body, content_type="application/xml")(environ, start_response)


def test_relative_urls_and_get_methods():
    record = Call(
        WSGITransport(wsgi_app),
        BASE + "/ivr/start",
        ScriptedCaller([Input.press("42")]),
        auth_token=TOKEN,
        method="GET",
    ).run()

    assert [r.method for r in record.requests] == ["GET", "GET", "GET"]
    paths = [urlsplit(r.url).path for r in record.requests]
    assert paths == ["/ivr/start", "/ivr/step/two", "/ivr/end"]
    second = dict(parse_qsl(urlsplit(record.requests[1].url).query))
    assert second["lang"] == "en" and second["Digits"] == "42"
    assert second["CallSid"] == record.call_sid
    assert_all_signed(record)
    says = [e.text for e in record.of_kind("say")]
    assert says == ["Enter two digits", "Got 42 in en", "Goodbye from in-progress"]
    assert record.of_kind("say")[0].loop == 0
    assert record.outcome.kind == "message"


# -- Gather ---------------------------------------------------------------------------------


def gather_app(gather: str, after: str = "<Say>No input</Say>") -> Flask:
    return flask_app(
        {
            "/voice": lambda: xml(gather + after),
            "/action": lambda: xml(f"<Say>action {sorted(request.form.items())!r}</Say>"),
        }
    )


def last_params(record: CallRecord) -> dict[str, str]:
    return record.requests[-1].params


def test_say_loop_inside_gather_is_heard_then_the_caller_answers():
    app = gather_app(
        '<Gather action="/action" input="dtmf speech">'
        '<Say loop="3" voice="Polly.Amy" language="en-GB">Press 1</Say><Pause length="2"/>'
        '<Play loop="2">/audio/menu.mp3</Play></Gather>'
    )
    record = call(app, Input.press("1"))
    say, pause, play = (
        record.of_kind("say")[0],
        record.of_kind("pause")[0],
        record.of_kind("play")[0],
    )
    assert (say.text, say.voice, say.language, say.loop) == ("Press 1", "Polly.Amy", "en-GB", 3)
    assert say.detail == {"in": "Gather"}
    assert pause.seconds == 2.0
    assert (play.url, play.loop) == (BASE + "/audio/menu.mp3", 2)
    gather = record.of_kind("gather")[0]
    assert gather.detail["input"] == "dtmf speech"
    assert gather.url == BASE + "/action"
    assert last_params(record)["Digits"] == "1"


def test_silence_falls_through_to_the_next_verb():
    app = gather_app('<Gather action="/action"><Say>Press 1</Say></Gather>')
    record = call(app, Input.silence())
    assert len(record.requests) == 1
    assert kinds(record) == ["say", "gather", "input", "say", "hangup"]
    assert record.of_kind("say")[-1].text == "No input"
    assert record.outcome.kind == "message"


def test_action_on_empty_result_posts_without_digits():
    app = gather_app('<Gather action="/action" actionOnEmptyResult="true"/>')
    record = call(app, Input.silence())
    assert len(record.requests) == 2
    assert "Digits" not in last_params(record)


def test_gather_action_defaults_to_the_current_document():
    app = flask_app(
        {"/voice": lambda: xml("<Say>Thanks</Say>" if "Digits" in request.form else "<Gather/>")}
    )
    record = call(app, Input.press("5"))
    assert [r.url for r in record.requests] == [BASE + "/voice", BASE + "/voice"]
    assert last_params(record)["Digits"] == "5"


@pytest.mark.parametrize(
    ("attrs", "keys", "digits"),
    [
        ("", "123#", "123"),
        ('finishOnKey="*"', "12*9", "12"),
        ('numDigits="1"', "12", "1"),
        ('finishOnKey=""', "12#", "12#"),
        ("", "7", "7"),
    ],
)
def test_digits_follow_num_digits_and_finish_on_key(attrs, keys, digits):
    app = gather_app(f'<Gather action="/action" {attrs}/>')
    assert last_params(call(app, Input.press(keys)))["Digits"] == digits


def test_only_the_finish_key_is_an_empty_result():
    app = gather_app('<Gather action="/action"/>')
    record = call(app, Input.press("#"))
    assert len(record.requests) == 1
    assert record.of_kind("say")[-1].text == "No input"


def test_speech_posts_speech_result_and_confidence():
    app = gather_app('<Gather action="/action" input="speech"/>')
    params = last_params(call(app, Input.say("report a crime")))
    assert params["SpeechResult"] == "report a crime"
    assert float(params["Confidence"]) > 0
    assert "Digits" not in params


def test_speech_to_a_keys_only_gather_is_silence():
    app = gather_app('<Gather action="/action"/>')
    record = call(app, Input.say("hello"))
    assert len(record.requests) == 1


def test_caller_hanging_up_in_a_gather_ends_the_call_without_a_request():
    app = gather_app('<Gather action="/action"/>')
    record = call(app, Input.hangup())
    assert len(record.requests) == 1
    assert record.outcome.kind == "caller-hangup"


def test_a_script_that_runs_out_hangs_up():
    app = gather_app('<Gather action="/action"/>')
    assert call(app).outcome.kind == "caller-hangup"


# -- Redirect -------------------------------------------------------------------------------


def test_redirect_chain():
    app = flask_app(
        {
            "/voice": lambda: xml("<Redirect>/a</Redirect><Say>never</Say>"),
            "/a": lambda: xml('<Redirect method="GET">b?from=a</Redirect>'),
            "/b": lambda: xml("<Say>At b</Say>"),
        }
    )
    record = call(app)
    assert [(r.method, urlsplit(r.url).path) for r in record.requests] == [
        ("POST", "/voice"),
        ("POST", "/a"),
        ("GET", "/b"),
    ]
    assert "from=a&" in record.requests[-1].url
    assert [e.text for e in record.of_kind("say")] == ["At b"]
    assert_all_signed(record)


def test_redirect_loop_is_an_application_error():
    app = flask_app({"/voice": lambda: xml("<Redirect/>".replace("/>", ">/voice</Redirect>"))})
    record = call(app)
    error = record.outcome.error
    assert isinstance(error, RedirectLoopError)
    assert len(record.requests) == 20
    assert len(error.urls) == 21 and set(error.urls) == {BASE + "/voice"}
    assert record.outcome.kind == "error"
    assert record.events[-1].kind == "error"


def test_caller_input_resets_the_loop_bound():
    # A menu that re-asks forever is fine as long as the caller keeps answering.
    app = gather_app('<Gather action="/voice"/>', after="<Redirect>/voice</Redirect>")
    record = call(app, *[Input.silence()] * 30)
    assert record.outcome.kind == "caller-hangup"
    assert len(record.requests) == 31


# -- Dial -----------------------------------------------------------------------------------


def test_dial_without_action_goes_on_with_the_next_verb():
    app = flask_app({"/voice": lambda: xml("<Dial>+441632960999</Dial><Say>After dial</Say>")})
    record = call(app)
    dial = record.of_kind("dial")[0]
    assert dial.targets == [{"kind": "number", "value": "+441632960999"}]
    assert dial.seconds == 30.0
    assert record.of_kind("dial-result")[0].result == "completed"
    assert record.of_kind("say")[0].text == "After dial"
    assert len(record.requests) == 1
    assert record.outcome.kind == "dialled"
    assert record.outcome.dialled == ("+441632960999",)


def test_dial_with_action_posts_the_status_and_skips_the_rest():
    app = flask_app(
        {
            "/voice": lambda: xml(
                '<Dial action="/dialled" timeout="10"><Number>+441632960111</Number>'
                "<Client>alice</Client><Sip>sip:desk@example.com</Sip><Queue>crime</Queue></Dial>"
                "<Say>unreachable</Say>"
            ),
            "/dialled": lambda: xml(f"<Say>Status {request.form['DialCallStatus']}</Say>"),
        }
    )
    record = call(app, dial=DialResult("busy", 0))
    assert [t["kind"] for t in record.of_kind("dial")[0].targets] == [
        "number",
        "client",
        "sip",
        "queue",
    ]
    params = last_params(record)
    assert params["DialCallStatus"] == "busy"
    assert re.fullmatch(r"CA[0-9a-f]{32}", params["DialCallSid"])
    assert "DialCallDuration" not in params
    assert [e.text for e in record.of_kind("say")] == ["Status busy"]
    assert record.outcome.kind == "message"
    assert record.outcome.dial_status == "busy"


def test_completed_dial_posts_its_duration():
    app = flask_app(
        {
            "/voice": lambda: xml('<Dial action="/d">999</Dial><Say>never</Say>'),
            "/d": lambda: xml("<Say>Thanks</Say><Hangup/>"),
        }
    )
    record = call(app, dial=DialResult("completed", 42))
    sent = record.requests[-1]
    assert sent.url == BASE + "/d"
    assert (sent.params["DialCallStatus"], sent.params["DialCallDuration"]) == ("completed", "42")
    assert sent.params["CallStatus"] == "in-progress"
    # The action's answer runs; the verb after <Dial> does not.
    assert [e.text for e in record.of_kind("say")] == ["Thanks"]
    assert record.of_kind("say")[0].at == 42


# -- Enqueue --------------------------------------------------------------------------------


def queue_app(wait: str, enqueue_attrs: str = 'action="/after"') -> Flask:
    return flask_app(
        {
            "/voice": lambda: xml(
                f'<Enqueue waitUrl="/wait" {enqueue_attrs}>crime</Enqueue><Say>next verb</Say>'
            ),
            "/wait": lambda: xml(wait.format_map(request.form)),
            "/pressed": lambda: xml("<Leave/>" if request.form.get("Digits") == "1" else ""),
            "/after": lambda: xml(f"<Say>Queue result {request.form['QueueResult']}</Say>"),
        }
    )


def test_wait_url_is_polled_with_queue_parameters_until_a_handler_answers():
    app = queue_app("<Say>You are number {QueuePosition}</Say><Pause length='5'/>")
    record = call(app, queue_waits=3)
    waits = [r for r in record.requests if r.url.endswith("/wait")]
    assert len(waits) == 3
    positions = [w.params["QueuePosition"] for w in waits]
    times = [int(w.params["QueueTime"]) for w in waits]
    assert positions == ["3", "2", "1"]
    assert times[0] == 0 and times[0] < times[1] < times[2]
    for w in waits:
        assert re.fullmatch(r"QU[0-9a-f]{32}", w.params["QueueSid"])
        assert {"AvgQueueTime", "CurrentQueueSize", "MaxQueueSize"} <= set(w.params)
    assert record.of_kind("queue-result")[0].result == "bridged"
    assert record.outcome.kind == "enqueued"
    assert (record.outcome.queue, record.outcome.queue_result) == ("crime", "bridged")
    assert_all_signed(record)


def test_after_a_bridged_call_twilio_requests_the_action_and_runs_its_answer():
    # Twilio: "dequeued via <Dial>: the action URL is hit once the bridged parties disconnect".
    app = queue_app("<Say>Hold</Say><Pause length='5'/>")
    record = call(app, queue_waits=2, handler_seconds=90)
    sent = record.requests[-1]
    assert sent.url == BASE + "/after"
    queue_sid = record.requests[1].params["QueueSid"]
    wait_times = [int(r.params["QueueTime"]) for r in record.requests if r.url.endswith("/wait")]
    assert {k: sent.params[k] for k in ("QueueResult", "QueueSid", "QueueTime", "CallStatus")} == {
        "QueueResult": "bridged",
        "QueueSid": queue_sid,
        "QueueTime": str(record.of_kind("queue-result")[0].seconds),
        "CallStatus": "in-progress",  # the handler hung up; the caller is still on the line
    }
    assert int(sent.params["QueueTime"]) > wait_times[-1]
    assert not {"QueuePosition", "AvgQueueTime"} & set(sent.params)
    assert [e.text for e in record.of_kind("say")][-1] == "Queue result bridged"
    # The conversation counts in the call's time, not in the queue time.
    assert record.of_kind("request")[-1].at >= 90 + int(sent.params["QueueTime"])
    assert_all_signed(record)


def test_after_a_bridged_call_without_action_the_next_verb_runs():
    app = queue_app("<Say>Hold</Say>", enqueue_attrs="")
    record = call(app)
    assert record.of_kind("say")[-1].text == "next verb"
    assert record.outcome.queue_result == "bridged"
    assert len(record.requests) == 2


def test_leave_from_a_gather_in_the_wait_url():
    app = queue_app('<Gather action="/pressed" numDigits="1"><Say>Press 1 to leave</Say></Gather>')
    record = call(app, Input.press("1"), queue_waits=5)
    assert [urlsplit(r.url).path for r in record.requests] == [
        "/voice",
        "/wait",
        "/pressed",
        "/after",
    ]
    # The gather's action is the next wait document: one cycle later, one place nearer.
    assert [r.params["QueuePosition"] for r in record.requests[1:3]] == ["3", "2"]
    assert last_params(record)["QueueResult"] == "leave"
    assert "QueueTime" in last_params(record)
    assert [e.text for e in record.of_kind("say")][-1] == "Queue result leave"
    assert "leave" in kinds(record)


def test_a_wait_document_that_redirects_to_itself_is_not_a_loop():
    # A handler may answer at every wait document, however the caller got to it.
    app = queue_app("<Say>Hold, position {QueuePosition}</Say><Redirect>/wait</Redirect>")
    record = call(app, queue_waits=25)
    waits = [r for r in record.requests if r.url.endswith("/wait")]
    assert len(waits) == 25
    assert [w.params["QueuePosition"] for w in waits[:4]] == ["3", "2", "1", "1"]
    assert record.outcome.queue_result == "bridged"


def test_leave_without_action_runs_the_next_verb():
    app = queue_app("<Leave/>", enqueue_attrs="")
    record = call(app)
    assert record.of_kind("say")[-1].text == "next verb"
    assert record.outcome.queue_result == "leave"


def test_silence_in_a_wait_gather_keeps_waiting():
    app = queue_app('<Gather action="/pressed" numDigits="1"><Say>Hold</Say></Gather>')
    record = call(app, queue_waits=2)
    assert [e.result for e in record.of_kind("input")] == ["silence", "silence"]
    assert record.outcome.queue_result == "bridged"


def test_a_forbidden_verb_in_the_wait_url_is_queue_result_error_not_an_application_error():
    # https://www.twilio.com/docs/voice/twiml/enqueue: QueueResult "error: The TwiML
    # contained an error, either in the <Enqueue> verb itself or in the TwiML retrieved from
    # a waitUrl". The call goes on with the action; it is not an application error.
    app = queue_app("<Say>Hold</Say><Dial>999</Dial>")
    record = call(app)
    assert record.outcome.error is None
    assert last_params(record)["QueueResult"] == "error"
    assert "QueueSid" in last_params(record)  # the call was in the queue
    assert not [e for e in record.of_kind("say") if e.text == "Hold"]  # refused as a whole
    assert record.of_kind("say")[-1].text == "Queue result error"
    (warning,) = record.warnings
    assert "<Dial> is not allowed in a waitUrl document" in warning


def test_queue_full_goes_to_the_action():
    app = queue_app("<Say>Hold</Say>")
    record = call(app, queue="queue-full")
    params = last_params(record)
    assert params["QueueResult"] == "queue-full"
    assert "QueueSid" not in params
    assert not [r for r in record.requests if r.url.endswith("/wait")]


def test_caller_hanging_up_in_the_queue_tells_the_action_then_ends():
    app = queue_app("<Say>Hold</Say>")
    record = call(app, queue="hangup", queue_waits=1)
    params = last_params(record)
    assert (params["QueueResult"], params["CallStatus"]) == ("hangup", "completed")
    assert not [e for e in record.of_kind("say") if e.text.startswith("Queue result")]
    assert record.outcome.kind == "enqueued"
    assert record.outcome.queue_result == "hangup"


def test_hangup_in_the_wait_url():
    app = queue_app("<Hangup/>")
    record = call(app)
    assert last_params(record)["QueueResult"] == "hangup"


def test_no_wait_url_plays_hold_music():
    app = flask_app({"/voice": lambda: xml("<Enqueue>general</Enqueue>")})
    record = call(app)
    assert record.of_kind("play")[0].detail == {"hold_music": True}
    assert record.outcome.queue == "general"


# -- Record, Reject, Hangup, plain text -----------------------------------------------------


def test_record_posts_the_recording():
    app = flask_app(
        {
            "/voice": lambda: xml('<Record action="/saved" maxLength="30"/><Say>nothing</Say>'),
            "/saved": lambda: xml("<Say>Saved</Say>"),
        }
    )
    params = last_params(call(app, Input.say("my bike was stolen from the station")))
    assert params["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/Accounts/AC")
    assert int(params["RecordingDuration"]) >= 1
    assert re.fullmatch(r"RE[0-9a-f]{32}", params["RecordingSid"])


def test_an_empty_recording_goes_on_with_the_next_verb():
    app = flask_app({"/voice": lambda: xml('<Record action="/saved"/><Say>No message</Say>')})
    record = call(app, Input.silence())
    assert len(record.requests) == 1
    assert record.of_kind("say")[0].text == "No message"


def test_reject():
    app = flask_app({"/voice": lambda: xml('<Reject reason="busy"/>')})
    record = call(app)
    assert (record.outcome.kind, record.outcome.reason) == ("rejected", "busy")


def test_hangup_without_words():
    app = flask_app({"/voice": lambda: xml("<Hangup/><Say>never</Say>")})
    record = call(app)
    assert record.outcome.kind == "hangup"
    assert not record.of_kind("say")


def test_plain_text_is_read_out_then_the_call_ends():
    app = flask_app({"/voice": lambda: ("Lines are closed", 200, {"Content-Type": "text/plain"})})
    record = call(app)
    assert record.of_kind("say")[0].text == "Lines are closed"
    assert record.outcome.kind == "message"


def test_unsimulated_verbs_are_noted_and_skipped():
    app = flask_app({"/voice": lambda: xml("<Start><Stream url='wss://x'/></Start><Say>Hi</Say>")})
    record = call(app)
    assert kinds(record)[:2] == ["unsupported", "say"]


# -- application errors ---------------------------------------------------------------------


def error_of(answer) -> tuple[CallRecord, Exception]:
    app = flask_app({"/voice": lambda: answer})
    record = call(app)
    assert record.outcome.kind == "error"
    return record, record.outcome.error


def test_http_500_is_an_application_error():
    record, error = error_of(("Internal Server Error: boom", 500, {"Content-Type": "text/plain"}))
    assert isinstance(error, HTTPStatusError)
    assert (error.code, error.status, error.url) == (11200, 500, BASE + "/voice")
    assert "boom" in error.excerpt
    event = record.events[-1]
    assert (event.kind, event.status, event.detail["code"]) == ("error", 500, 11200)
    assert "application error" in event.detail["twilio_says"]


def test_an_html_page_is_a_parse_error():
    _, error = error_of(("<!doctype html><html><body><p>Hello<br></body></html>", 200, {}))
    assert isinstance(error, TwiMLParseError)
    assert error.content_type.startswith("text/html")
    assert "<!doctype html>" in error.excerpt


def test_json_is_a_content_type_error():
    _, error = error_of(({"say": "hi"}, 200))
    assert isinstance(error, ContentTypeError)
    assert error.code == 12300


@pytest.mark.parametrize(
    ("body", "error_type", "code", "words"),
    [
        # https://www.twilio.com/docs/api/errors/12100 (ERROR)
        ("<Say>unclosed", TwiMLParseError, 12100, "not well-formed"),
        # https://www.twilio.com/docs/api/errors/12102 (ERROR)
        ("<Respond><Say>x</Say></Respond>", TwiMLRootError, 12102, "root element"),
    ],
)
def test_what_twilio_refuses_is_an_application_error(body, error_type, code, words):
    _, error = error_of((body, 200, {"Content-Type": "text/xml"}))
    assert type(error) is error_type
    assert error.code == code
    assert words in error.message


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        # https://www.twilio.com/docs/api/errors/12200 (WARNING): misspelt or wrongly-cased
        # verbs, unknown attributes, unexpected nested elements are ignored.
        ("<say>x</say>", 12200, "case-sensitive: <Say>"),
        ("<Speak>x</Speak>", 12200, "unknown verb <Speak>"),
        ('<Say voise="alice">x</Say>', 12200, "unknown attribute 'voise'"),
        # https://www.twilio.com/docs/api/errors/13320 (WARNING)
        ("<Gather><Dial>999</Dial></Gather>", 13320, "<Dial> cannot be nested in <Gather>"),
        ("<Gather><Gather/></Gather>", 13320, "<Gather> cannot be nested in <Gather>"),
        # https://www.twilio.com/docs/api/errors/13215 (WARNING)
        ("<Dial>999<Say>x</Say></Dial>", 13215, "<Say> cannot be nested in <Dial>"),
        # https://www.twilio.com/docs/api/errors/13314 (WARNING)
        ('<Gather numDigits="one"/>', 13314, 'numDigits="one"'),
        # https://www.twilio.com/docs/api/errors/13710 (WARNING)
        ('<Redirect method="PUT">/after</Redirect>', 13710, 'method="PUT"'),
    ],
)
def test_what_twilio_only_warns_about_is_logged_and_the_call_goes_on(body, code, words):
    app = flask_app(
        {
            "/voice": lambda: xml(body + "<Say>still running</Say>"),
            "/after": lambda: xml("<Say>still running</Say>"),
        }
    )
    record = call(app, Input.silence())
    assert record.outcome.error is None, record.outcome.summary()
    assert record.of_kind("say")[-1].text == "still running"
    (warning,) = record.warnings
    assert warning.startswith(f"warning {code}: ")
    assert words in warning
    (event,) = record.of_kind("warning")
    assert event.detail["code"] == code
    assert f"! warning {code}" in transcript(record)


def test_an_app_that_raises_is_a_500():
    def crash():
        raise RuntimeError("database is down")

    app = flask_app({"/voice": crash})
    app.testing = True  # let the exception escape, as a bare WSGI app's would
    record = call(app)
    assert isinstance(record.outcome.error, HTTPStatusError)
    assert "database is down" in record.outcome.error.excerpt


def test_an_error_after_some_speech_keeps_what_was_heard():
    app = flask_app({"/voice": lambda: xml("<Say>Welcome</Say><Redirect>/missing</Redirect>")})
    record = call(app)
    assert record.outcome.heard == ("Welcome",)
    assert record.outcome.error.status == 404
    assert "HTTP 404" in transcript(record)


# -- the status callback --------------------------------------------------------------------


def status_app(status: int = 204, **routes: Callable[[], object]) -> Flask:
    def status_route():
        return ("", status)

    return flask_app({"/status": status_route} | {f"/{k}": v for k, v in routes.items()})


def status_request(record: CallRecord):
    (sent,) = [r for r in record.requests if urlsplit(r.url).path == "/status"]
    assert sent is record.requests[-1]
    return sent


def test_the_status_callback_closes_every_call_signed_with_its_duration():
    app = status_app(
        voice=lambda: xml(
            '<Gather action="/menu" numDigits="1"><Say>one two three four five</Say></Gather>'
        ),
        menu=lambda: xml("<Say>six seven</Say><Pause length='3'/><Hangup/>"),
    )
    record = call(app, Input.press("1"), status_callback="/status")
    sent = status_request(record)
    assert sent.method == "POST"
    assert sent.url == BASE + "/status"
    assert sent.status == 204
    params = dict(sent.params)
    timestamp = params.pop("Timestamp")
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} (\+0000|GMT)", timestamp)
    # 5 words at 2.5 a second, 2 words, a 3 s pause: 5.8 s, rounded up.
    assert params == record.requests[0].params | {
        "CallStatus": "completed",
        "CallDuration": "6",
        "CallbackSource": "call-progress-events",
        "SequenceNumber": "0",
    }
    assert_all_signed(record)
    (event,) = record.of_kind("status-callback")
    assert (event.result, event.seconds, event.status) == ("completed", 6.0, 204)
    assert record.warnings == []
    assert record.outcome.kind == "message"
    assert "status callback: CallStatus=completed, CallDuration=6s" in transcript(record)


@pytest.mark.parametrize(
    ("document", "steps", "status", "duration"),
    [
        ("<Gather><Say>Hello there</Say></Gather>", [Input.hangup()], "completed", "1"),
        ('<Reject reason="busy"/>', [], "busy", "0"),
        ("<Reject/>", [], "no-answer", "0"),
        ("<Say>Hello there</Say><Reject/>", [], "completed", "1"),
        ("<Say>Hello there</Say>", [], "completed", "1"),
    ],
)
def test_status_callback_for_each_way_a_call_ends(document, steps, status, duration):
    app = status_app(voice=lambda: xml(document))
    record = call(app, *steps, status_callback=BASE + "/status")
    params = status_request(record).params
    assert (params["CallStatus"], params["CallDuration"]) == (status, duration)
    assert_all_signed(record)


def test_an_application_error_still_gets_its_status_callback():
    app = status_app(voice=lambda: ("<html>oops</html>", 500, {"Content-Type": "text/html"}))
    record = call(app, status_callback="/status")
    assert isinstance(record.outcome.error, HTTPStatusError)
    params = status_request(record).params
    # Twilio answers the call to say its application-error message (9 words, 3.6 s).
    assert (params["CallStatus"], params["CallDuration"]) == ("completed", "4")
    assert_all_signed(record)


def test_a_failing_status_callback_is_a_warning_not_an_application_error():
    app = status_app(500, voice=lambda: xml("<Say>Bye</Say>"))
    record = call(app, status_callback="/status")
    assert record.outcome.kind == "message" and record.outcome.error is None
    assert record.warnings == [f"status callback {BASE}/status answered HTTP 500"]
    assert record.as_dict()["warnings"] == record.warnings
    assert record.of_kind("status-callback")[0].detail == {"warning": record.warnings[0]}


def test_an_unreachable_status_callback_is_a_warning():
    server = make_server("127.0.0.1", 0, Flask("closed"))
    port = server.server_port
    server.server_close()
    app = flask_app({"/voice": lambda: xml("<Say>Bye</Say>")})

    class Split:
        """Webhooks in-process, the status callback over HTTP to a closed port."""

        def __init__(self) -> None:
            self.local, self.http = WSGITransport(app), HTTPTransport(timeout=2)

        def request(self, method, url, params, headers):
            side = self.http if url.startswith("http://127.0.0.1") else self.local
            return side.request(method, url, params, headers)

    transport = Split()
    status_url = f"http://127.0.0.1:{port}/status"
    record = Call(transport, BASE + "/voice", auth_token=TOKEN, status_callback=status_url).run()
    transport.http.close()
    assert record.outcome.error is None
    (warning,) = record.warnings
    assert warning.startswith(f"status callback {status_url} failed: could not reach")


def test_status_callback_with_get_and_no_callback_by_default():
    app = status_app(voice=lambda: xml("<Say>Bye</Say>"))
    assert not call(app).of_kind("status-callback")
    record = call(app, status_callback="/status", status_callback_method="GET")
    sent = record.requests[-1]
    assert sent.method == "GET" and urlsplit(sent.url).path == "/status"
    assert dict(parse_qsl(urlsplit(sent.url).query))["CallStatus"] == "completed"
    assert_all_signed(record)


def test_the_status_callback_does_not_count_towards_the_redirect_loop_guard():
    app = status_app(voice=lambda: xml("<Redirect>/a</Redirect>"), a=lambda: xml("<Say>Done</Say>"))
    record = call(app, status_callback="/status", max_requests_without_input=2)
    assert record.outcome.error is None
    assert record.of_kind("status-callback")[0].status == 204


# -- real HTTP ------------------------------------------------------------------------------


@pytest.fixture
def live_server() -> Iterator[str]:
    app = flask_app(
        {
            "/voice": lambda: xml('<Gather action="/menu" numDigits="1"><Say>Hi</Say></Gather>'),
            "/menu": lambda: xml(f"<Dial>{request.form['Digits']}01</Dial>"),
        }
    )
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_transport_against_a_local_server(live_server):
    with HTTPTransport() as transport:
        record = Call(
            transport,
            live_server + "/voice",
            ScriptedCaller([Input.press("1")]),
            auth_token=TOKEN,
        ).run()
    assert [r.status for r in record.requests] == [200, 200]
    assert record.outcome.kind == "dialled"
    assert record.outcome.dialled == ("101",)


def test_http_transport_failure_is_an_application_error():
    server = make_server("127.0.0.1", 0, Flask("closed"))
    port = server.server_port
    server.server_close()
    with HTTPTransport(timeout=2) as transport:
        record = Call(transport, f"http://127.0.0.1:{port}/voice").run()
    assert isinstance(record.outcome.error, TransportError)
    assert record.outcome.error.code == 11205


# -- interactive caller ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1", Input.press("1")),
        (" 1 2 # ", Input.press("12#")),
        ("", Input.silence()),
        ("hangup", Input.hangup()),
        ("report a crime", Input.say("report a crime")),
    ],
)
def test_parse_input(line, expected):
    assert parse_input(line) == expected


def test_interactive_caller_answers_from_typed_lines():
    app = queue_app("<Say>Hold</Say>")
    lines = iter(["", "a"])  # keep waiting once, then a handler answers
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(lines)

    record = Call(
        WSGITransport(app), BASE + "/voice", InteractiveCaller(ask), auth_token=TOKEN
    ).run()
    assert record.outcome.queue_result == "bridged"
    assert "queue full" in prompts[0] and "queue full" not in prompts[1]


def test_interactive_end_of_input_hangs_up():
    def ask(prompt: str) -> str:
        raise EOFError

    app = gather_app('<Gather action="/action"/>')
    record = Call(
        WSGITransport(app), BASE + "/voice", InteractiveCaller(ask), auth_token=TOKEN
    ).run()
    assert record.outcome.kind == "caller-hangup"


def test_events_and_outcome_are_json_ready():
    import json

    app = gather_app('<Gather action="/action"><Say>Press</Say></Gather>')
    record = call(app, Input.press("3"))
    data = json.loads(json.dumps(record.as_dict()))
    assert data["call_sid"] == record.call_sid
    assert data["events"][0]["kind"] == "request"
    assert data["outcome"]["kind"] == "message"


# -- the project's own 101 app --------------------------------------------------------------


@pytest.fixture
def ivr_app():
    from ivr import create_app

    return create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": None,
            "IVR_ALLOW_UNSIGNED": False,
            "IVR_LOG_LEVEL": "WARNING",
        }
    )


def test_the_101_menu_by_keys_reaches_a_queue(ivr_app):
    # "Report a crime", pressed in the main menu that answers the call.
    record = call(ivr_app, Input.press("1"), queue_waits=2)
    assert all(r.status == 200 for r in record.requests)  # every signature accepted
    assert record.outcome.kind == "enqueued"
    assert record.outcome.queue_result == "bridged"
    says = [s for s in record.of_kind("say") if "Gymraeg" not in s.text]
    assert all(s.language == "en-GB" for s in says)
    assert says[0].text.endswith("hang up and dial 999.")  # the 999 warning first


def test_the_101_menu_survives_silence_and_wrong_keys(ivr_app):
    record = call(ivr_app, Input.press("8"), Input.silence(), Input.silence(), Input.silence())
    assert record.outcome.kind != "error", transcript(record, verbose=True)
    assert all(r.status == 200 for r in record.requests)


def test_a_bad_attribute_is_a_warning_and_its_default_is_used():
    # https://www.twilio.com/docs/api/errors/13322 "Gather->Say: Invalid loop value" is a
    # WARNING: Twilio says it once and carries on.
    app = flask_app(
        {"/voice": lambda: xml('<Say>Hello</Say><Gather><Say loop="x">Hi</Say></Gather>')}
    )
    record = call(app, Input.silence())
    assert [(e.text, e.loop) for e in record.of_kind("say")] == [("Hello", 1), ("Hi", 1)]
    assert record.warnings == [
        'warning 13322: <Gather><Say> loop="x" is not valid: Twilio uses "1"'
    ]
    assert record.outcome.error is None


def test_ssml_inside_say_is_heard_as_its_text():
    app = flask_app(
        {
            "/voice": lambda: xml(
                '<Say voice="Polly.Joanna">Hello <break time="1s"/>'
                '<amazon:effect name="whispered">quietly</amazon:effect> '
                '<say-as interpret-as="digits">101</say-as></Say>'
            )
        }
    )
    record = call(app)
    assert record.outcome.kind == "message", transcript(record)
    assert record.of_kind("say")[0].text == "Hello quietly 101"


def test_twilio_failing_to_queue_the_call_goes_to_the_action():
    app = queue_app("<Say>Hold</Say>")
    record = call(app, queue="error")
    assert last_params(record)["QueueResult"] == "error"
    assert record.of_kind("say")[-1].text == "Queue result error"


# -- the one clock (ivr.caller.clock) -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("For English, press 1.", {"1"}),
        ("I barhau yn Gymraeg, pwyswch 2.", {"2"}),
        ("To hear these options again, press star.", {"*"}),
        ("I glywed y dewisiadau hyn eto, pwyswch seren.", {"*"}),
        ("To go back, press hash.", {"#"}),
        # Twilio's sample IVR: two offers in one Say, no space after the full stop.
        ("Please press 1 for directions.Press 2 for a list of planets to call.", {"1", "2"}),
        ("To go back to the main menu  press the star key.", {"*"}),
        ("Press 1, 2 or 3 to choose a day.", {"1", "2", "3"}),
        ("For sales press one.", {"1"}),
        ("In an emergency, hang up and dial 999.", set()),
        ("Please enter your account number, then press hash.", {"#"}),
        ("Thank you for calling.", set()),
    ],
)
def test_which_keys_a_prompt_offers(text, keys):
    assert offered_keys(text) == keys


def gather(body: str, attrs: str = 'numDigits="1"') -> ET.Element:
    return ET.fromstring(f"<Gather {attrs}>{body}</Gather>")


def test_a_barge_in_caller_presses_at_the_end_of_the_say_that_offers_the_key():
    menu = gather(
        "<Say>Welcome to the police.</Say>"  # 4 words, 1.6 s
        '<Say loop="2">For lost property, press 3.</Say>'  # 5 words, 2 s a time
        '<Pause length="2"/>'
        "<Play>https://example.com/jingle.mp3</Play>"
    )
    clock = Clock()
    assert clock.press_offset(menu, "3") == pytest.approx(3.6)  # its first repetition
    # Not offered by any nested verb: once every one has played.
    assert clock.press_offset(menu, "9") == pytest.approx(1.6 + 4 + 2 + 10)
    assert clock.heard_seconds(menu) == pytest.approx(17.6)
    assert clock.input_offset(menu, "3") == pytest.approx(3.6)  # numDigits reached
    assert clock.input_offset(menu, "3", barge_in=False) == pytest.approx(17.6)
    assert clock.verb_seconds(menu) == pytest.approx(17.6 + 5)  # silence: the timeout too


def test_the_timeout_follows_the_first_key_when_the_keys_do_not_complete_the_input():
    entry = gather(
        "<Say>Enter your number, then press hash.</Say>"  # 6 words
        "<Say>Or stay on the line.</Say>",  # 5 words
        'timeout="3"',
    )
    clock = Clock(words_per_minute=120)  # half a second a word
    # "1" is not offered: pressed once the prompt has played; "#" is, in the first Say.
    assert clock.input_offset(entry, "123#") == pytest.approx(5.5)
    assert clock.input_offset(entry, "123") == pytest.approx(5.5 + 3)
    assert clock.input_offset(entry, "#") == pytest.approx(3.0)


def test_loop_zero_is_heard_once_by_a_caller_who_acts_and_capped_for_silence():
    hold = gather('<Say loop="0">Press 1 to leave a message.</Say>')
    clock = Clock()
    assert clock.heard_seconds(hold) == pytest.approx(2.4)
    assert clock.verb_seconds(hold) == pytest.approx(2.4 * LOOP_CAP + 5)
    assert clock.verb_seconds(ET.fromstring('<Play loop="0">x.mp3</Play>')) == 10 * LOOP_CAP
    # What follows a loop="0" verb plays only after Twilio's cap: a caller acts before it.
    longer = gather('<Say loop="0">Press 1 to leave a message.</Say><Say>Or press 2.</Say>')
    assert clock.heard_seconds(longer) == pytest.approx(2.4)
    assert clock.press_offset(longer, "2") == pytest.approx(2.4)
    assert clock.press_offset(longer, "1") == pytest.approx(2.4)


def test_barge_in_reaches_each_destination_at_the_time_ivr_paths_gives(ivr_app):
    """The one clock: a caller who knows the menu reaches each destination of the 101 menu
    at the listening time `ivr paths` reports for the same keys."""
    from ivr.authoring.paths import walk_paths
    from ivr.menu import load_menu

    keyed = [r for r in walk_paths(load_menu("menus.json")).routes if r.by_keys_only]
    assert len(keyed) >= 10
    for route in keyed:
        caller = ScriptedCaller([Input.press(k) for k in route.keys], barge_in=True)
        record = call(ivr_app, caller=caller)
        kind = route.label.split()[0]
        reached = {"queue": "enqueue", "transfer": "dial"}.get(kind)
        at = record.of_kind(reached)[0].at if reached else record.events[-1].at
        assert at == pytest.approx(route.seconds, abs=0.05), (route.keys, route.label)


def test_report_a_crime_reaches_the_queue_at_16_8_seconds(ivr_app):
    record = call(ivr_app, Input.press("1"), barge_in=True)
    assert record.of_kind("enqueue")[0].at == 16.8  # what `ivr paths` says for key 1
    assert record.outcome.queue == "call-handlers"
    # The caller cut in: the 999 warning and the Welsh offer before option 1 were heard, the
    # other options of the main menu and the repeat phrase went unheard.
    said = [e.text for e in record.of_kind("say")]
    assert any("999" in t for t in said) and any("Gymraeg" in t for t in said)
    assert not [t for t in said if "press 2" in t or "press star" in t]
    assert [e.detail["unheard"] for e in record.of_kind("input")] == [4]


def test_a_step_can_opt_out_of_the_callers_barge_in():
    app = gather_app(
        '<Gather action="/action" numDigits="1"><Say>Press 1.</Say><Say>Or 2.</Say></Gather>'
    )
    caller = ScriptedCaller([Input.press("1", barge_in=False)], barge_in=True)
    record = call(app, caller=caller)
    assert [e.text for e in record.of_kind("say")][:2] == ["Press 1.", "Or 2."]
    assert "barge_in" not in record.of_kind("input")[0].detail


def test_an_interactive_caller_cuts_in_when_the_offering_prompt_has_been_heard():
    app = gather_app(
        '<Gather action="/action" numDigits="1">'
        "<Say>For sales, press 1.</Say><Say>For support, press 2.</Say></Gather>"
    )
    shown: list[str] = []
    record = Call(
        WSGITransport(app),
        BASE + "/voice",
        InteractiveCaller(lambda prompt: "1"),
        auth_token=TOKEN,
        on_event=lambda e: shown.append(e.kind),
    ).run()
    # The person saw the whole menu before typing; the record keeps what was heard.
    assert shown[:4] == ["request", "say", "say", "gather"]
    assert [e.text for e in record.of_kind("say")][:1] == ["For sales, press 1."]
    assert record.of_kind("request")[-1].at == 1.6
    assert last_params(record)["Digits"] == "1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("my bike was stolen #", Input.say("my bike was stolen", then="#")),
        ("my bike was stolen h", Input.say("my bike was stolen", then="hangup")),
        ("my bike was stolen", Input.say("my bike was stolen")),
        ("#", Input.press("#")),
    ],
)
def test_parse_input_at_a_record_prompt(line, expected):
    assert parse_input(line, record=True) == expected


def test_the_in_process_app_sees_the_host_it_was_called_at():
    hosts: list[str] = []

    def app(environ, start_response):
        hosts.append(Request(environ).host_url)
        return Response("<Response/>", content_type="text/xml")(environ, start_response)

    Call(WSGITransport(app), "https://ivr.example.org:8443/voice?x=1").run()
    assert hosts == ["https://ivr.example.org:8443/"]


def test_transport_failure_is_part_of_the_one_error_tree():
    assert issubclass(TransportFailure, IVRError)


def test_hangup_parameters_are_valid_twiml_and_a_stray_child_is_a_warning():
    app = flask_app(
        {
            "/voice": lambda: xml(
                '<Pause length="1"><Say>x</Say></Pause>'
                '<Hangup><Parameter name="reason" value="done"/></Hangup>'
            )
        }
    )
    record = call(app)
    assert record.warnings == ["warning 12200: <Say> cannot be nested in <Pause>: ignored"]
    assert record.outcome.kind == "hangup"
