"""LiveCall: the interpreter in its own thread, one caller action at a time."""

from __future__ import annotations

import pytest
from flask import Flask

from ivr.caller import DialResult, Input, LiveCall, LiveCallError, Transport, WSGITransport


def tiny_app() -> Flask:
    app = Flask(__name__)

    @app.post("/voice")
    def voice() -> tuple[str, int, dict[str, str]]:
        return (
            '<Response><Gather action="/key" numDigits="1"><Say language="cy-GB">Croeso.</Say>'
            "</Gather><Say>Bye.</Say></Response>",
            200,
            {"Content-Type": "text/xml"},
        )

    @app.post("/key")
    def key() -> tuple[str, int, dict[str, str]]:
        from flask import request

        if request.form.get("Digits") == "1":
            body = '<Response><Enqueue waitUrl="/wait">q</Enqueue></Response>'
        else:
            body = "<Response><Dial>+441632960999</Dial><Say>After.</Say></Response>"
        return body, 200, {"Content-Type": "text/xml"}

    @app.post("/wait")
    def wait() -> tuple[str, int, dict[str, str]]:
        return "<Response><Say>Hold.</Say></Response>", 200, {"Content-Type": "text/xml"}

    return app


@pytest.fixture
def live():
    call = LiveCall(WSGITransport(tiny_app()), "http://localhost/voice", step_timeout=5)
    yield call
    call.hangup()
    call.join(5)


def test_steps_stop_where_the_caller_acts(live):
    step = live.start()
    assert step.waiting.kind == "gather"
    assert step.waiting.prompt.num_digits == 1
    say = step.events[-2]
    assert (say.kind, say.text, say.language) == ("say", "Croeso.", "cy-GB")
    step = live.act(Input.press("1"))
    assert step.waiting.kind == "queue"
    assert step.waiting.queue.queue == "q"
    step = live.act("wait")
    assert [e.text for e in step.events if e.kind == "say"] == ["Hold."]
    step = live.act("answer")
    assert step.waiting.kind == "ended"
    assert step.record.outcome.kind == "enqueued"
    assert live.ended


def test_a_ringing_transfer_waits_for_the_caller(live):
    live.start()
    step = live.act(Input.press("2"))
    assert step.waiting.kind == "dial"
    assert step.waiting.targets[0].value == "+441632960999"
    step = live.act(DialResult("busy", 0))
    assert [e.text for e in step.events if e.kind == "say"] == ["After."]
    assert step.waiting.kind == "ended"


def test_answers_must_fit_what_the_call_waits_for(live):
    live.start()
    with pytest.raises(LiveCallError, match="gather"):
        live.act("answer")
    with pytest.raises(LiveCallError):
        live.act(DialResult())
    live.act(Input.press("1"))
    with pytest.raises(LiveCallError, match="unknown queue choice"):
        live.act("later")


def test_hanging_up_ends_the_call_and_its_thread(live):
    live.start()
    step = live.hangup()
    assert step.waiting.kind == "ended"
    assert step.record.outcome.kind == "caller-hangup"
    live.join(5)
    assert not live._thread.is_alive()
    assert live.hangup().waiting.kind == "ended"  # twice is harmless


def test_nobody_there_hangs_up_after_the_idle_timeout():
    live = LiveCall(WSGITransport(tiny_app()), "http://localhost/voice", idle_timeout=0.05)
    live.start()
    live.join(5)
    assert live.ended
    assert live.record.outcome.kind == "caller-hangup"


class Exploding:
    def request(self, *args: object) -> object:
        raise RuntimeError("boom")


def test_a_crash_in_the_thread_ends_the_call_with_an_error():
    transport: Transport = Exploding()  # type: ignore[assignment]
    live = LiveCall(transport, "http://localhost/voice")
    step = live.start()
    assert step.waiting.kind == "ended"
    assert isinstance(live.crash, RuntimeError)
    assert step.events[-1].kind == "error"
    assert "boom" in step.events[-1].text


def test_a_key_from_the_page_cuts_in_and_any_queue_result_can_be_chosen():
    app = Flask(__name__)

    @app.post("/voice")
    def voice() -> tuple[str, int, dict[str, str]]:
        return (
            '<Response><Gather action="/key" numDigits="1"><Say>For the queue, press 1.</Say>'
            "<Say>For anything else, press 2.</Say></Gather></Response>",
            200,
            {"Content-Type": "text/xml"},
        )

    @app.post("/key")
    def key() -> tuple[str, int, dict[str, str]]:
        return (
            '<Response><Enqueue waitUrl="" action="/after">q</Enqueue></Response>',
            200,
            {"Content-Type": "text/xml"},
        )

    @app.post("/after")
    def after() -> tuple[str, int, dict[str, str]]:
        return "<Response><Hangup/></Response>", 200, {"Content-Type": "text/xml"}

    live = LiveCall(WSGITransport(app), "http://localhost/voice", step_timeout=5)
    try:
        live.start()
        step = live.act(Input.press("1"))
        assert step.waiting.kind == "queue"
        # The second option was never heard: the key cut in when "press 1" had been said.
        assert [e.text for e in live.record.of_kind("say")] == ["For the queue, press 1."]
        assert live.record.of_kind("input")[0].detail["barge_in"] is True
        step = live.act("redirected-from-bridged")
        assert step.waiting.kind == "ended"
        assert live.record.outcome.queue_result == "redirected-from-bridged"
    finally:
        live.hangup()
        live.join(5)
