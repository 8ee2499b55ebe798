"""The app's logging: values from requests cannot forge lines, and refusals cannot flood."""

from __future__ import annotations

import io
import logging
import re

import pytest

from ivr import create_app
from ivr.logs import FORMAT, EscapeControl, Throttle, escape
from ivr.webhooks.security import THROTTLE

FORGED = "1999-01-01 00:00:00,000 ERROR ivr.voice: call CA666: forged"
LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@pytest.mark.parametrize(
    "text, escaped",
    [
        ("CA123", "CA123"),
        ("a\nb", "a\\nb"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("\x1b[2Jred\x1b[1A", "\\x1b[2Jred\\x1b[1A"),
        ("nul\x00del\x7fc1\x85", "nul\\x00del\\x7fc1\\x85"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("café £5 ☎", "café £5 ☎"),
    ],
)
def test_escape(text, escaped):
    assert escape(text) == escaped


def _record(msg, *args) -> logging.LogRecord:
    return logging.LogRecord("ivr.test", logging.WARNING, __file__, 1, msg, args or None, None)


def test_arguments_are_escaped_and_the_message_keeps_its_own_lines():
    record = _record("refused.\n%s (%r, %d)", "CA1\nERROR x", "a\nb", 5)
    EscapeControl().filter(record)
    assert record.getMessage() == "refused.\nCA1\\nERROR x ('a\\nb', 5)"


def test_a_traceback_keeps_its_lines_but_cannot_start_one():
    try:
        raise ValueError("bad node\n" + FORGED)
    except ValueError:
        import sys

        record = logging.LogRecord("ivr", 40, __file__, 1, "failed", None, sys.exc_info())
    EscapeControl().filter(record)
    text = logging.Formatter(FORMAT).format(record)
    lines = text.splitlines()
    assert lines[1] == "  Traceback (most recent call last):"
    # The exception message's second line stays a line, indented like the rest.
    assert lines[-2:] == ["  ValueError: bad node", "  " + FORGED]


def test_objects_and_messages_without_arguments_are_escaped():
    class Line:
        def __str__(self) -> str:
            return "call=CA1\nstep=forged"

    record = _record("%s", Line())
    EscapeControl().filter(record)
    assert record.getMessage() == "call=CA1\\nstep=forged"
    alone = _record(f"built from a request: {'x' + chr(10) + 'y'}")
    EscapeControl().filter(alone)
    assert alone.getMessage() == "built from a request: x\\ny"
    mapping = logging.LogRecord("ivr", 30, __file__, 1, "%(sid)s", ({"sid": "a\rb"},), None)
    EscapeControl().filter(mapping)
    assert mapping.getMessage() == "a\\rb"


@pytest.fixture
def written(config, monkeypatch):
    """Everything the app logs, as a handler configured by the host process writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])
    app = create_app(config)
    yield app, stream
    handler.flush()


def test_a_newline_in_a_callsid_or_a_path_forges_no_line(written):
    app, stream = written
    client = app.test_client()
    client.post("/voice", data={"CallSid": "CA1\n" + FORGED}, headers={"X-Twilio-Signature": "x"})
    app.extensions[THROTTLE] = Throttle(seconds=0)  # log every refusal in this test
    client.post("/node/main%0A" + FORGED.replace(" ", "%20"), data={"CallSid": "CA2"})
    client.post("/voice", data={"CallSid": "CA3\r" + FORGED}, headers={"X-Twilio-Signature": "x"})
    lines = stream.getvalue().splitlines()
    refusals = [line for line in lines if "403 " in line]
    assert len(refusals) == 3, lines
    for line in lines:
        assert LINE.match(line) or line.startswith(("!!", "  ")), line
        assert not line.startswith(FORGED[:5]), line
    assert "CA1\\n" + FORGED in refusals[0]
    assert "/node/main\\n" + FORGED in refusals[1]
    assert "CA3\\r" + FORGED in refusals[2]


def test_the_call_log_escapes_what_a_signed_request_carries(config, caplog):
    caplog.set_level(logging.INFO, "ivr.calls")
    from conftest import Twilio

    twilio = Twilio(create_app(config).test_client())
    assert twilio.post("/voice", CallSid="CA1\n" + FORGED).status_code == 200
    # A terminal escape (here "hide what follows") is written out too, not obeyed.
    assert twilio.post("/voice", CallSid="CA2\x1b[8mhidden").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr.calls"]
    assert lines and lines[0].startswith("call=CA1\\n" + FORGED + " step=call-start")
    assert any(line.startswith("call=CA2\\x1b[8mhidden step=call-start") for line in lines)
    assert not any("\n" in line or "\x1b" in line for line in lines)


def test_refusals_are_one_line_per_source_per_minute_with_a_count(config, caplog):
    now = [1000.0]
    app = create_app(config)
    app.extensions[THROTTLE] = Throttle(clock=lambda: now[0])
    client = app.test_client()
    for _ in range(30):
        assert client.post("/voice", data={"CallSid": "CA1"}).status_code == 403
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.post("/voice", data={"CallSid": "CA2"}, environ_base=other).status_code == 403
    refusals = [r.getMessage() for r in caplog.records if r.name == "ivr.security"]
    assert len(refusals) == 2
    assert "(call CA1, from 127.0.0.1)" in refusals[0]
    assert "(call CA2, from 192.0.2.7)" in refusals[1]
    now[0] += 59
    client.post("/voice", data={"CallSid": "CA3"})
    assert len([r for r in caplog.records if r.name == "ivr.security"]) == 2
    now[0] += 1
    client.post("/voice", data={"CallSid": "CA4"})
    last = [r.getMessage() for r in caplog.records if r.name == "ivr.security"][-1]
    assert "(call CA4, from 127.0.0.1)" in last
    assert last.endswith("; 30 more refused from 127.0.0.1 in the last minute were not logged")


def test_throttle_forgets_the_oldest_sources_first():
    now = [0.0]
    throttle = Throttle(seconds=60, max_keys=2, clock=lambda: now[0])
    assert [throttle("a"), throttle("b"), throttle("a"), throttle("c")] == [0, 0, None, 0]
    assert throttle("a") == 0  # "a" was forgotten (with its count) when "c" came
    assert throttle("c") is None


def test_only_werkzeugs_own_colours_are_kept_and_every_other_escape_is_written_out() -> None:
    # Werkzeug's development server colours whole access-line arguments: those are kept...
    assert escape("\x1b[32mGET /voice\x1b[0m", styled=True) == "\x1b[32mGET /voice\x1b[0m"
    assert escape("\x1b[31m\x1b[1mGET /\x1b[0m", styled=True) == "\x1b[31m\x1b[1mGET /\x1b[0m"
    # ...but what is inside them came from the request, and is escaped,
    assert escape("\x1b[33mGET /\x1b[8mhid\x1b[0m", styled=True) == (
        "\x1b[33mGET /\\x1b[8mhid\x1b[0m"
    )
    # and anywhere else a colour is request data too: "\x1b[8m" would hide what follows.
    assert escape("CAesc\x1b[8mhidden") == "CAesc\\x1b[8mhidden"
    assert escape("\x1b[8mhidden\x1b[0m") == "\\x1b[8mhidden\\x1b[0m"
    # Clearing the screen or moving the cursor could hide or forge what a reader sees.
    assert escape("a\x1b[2Jb\x1b[1Ac\x1b]0;title\x07") == "a\\x1b[2Jb\\x1b[1Ac\\x1b]0;title\\x07"
