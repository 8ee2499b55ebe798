"""`ivr call`: the simulator from the command line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask import Flask, request
from werkzeug.serving import make_server

from ivr.cli import _scan_steps, cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_scripted_call_to_the_101_menu_reaches_a_queue(runner):
    result = runner.invoke(cli, ["call", "--press", "1"])
    assert result.exit_code == 0, result.output
    assert "CallSid CA" in result.output
    assert "> caller presses 1" in result.output
    assert "Outcome: enqueued in" in result.output


def test_json_prints_the_events_and_outcome(runner):
    result = runner.invoke(cli, ["call", "--say", "report a crime", "--queue-full", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["call_sid"].startswith("CA")
    inputs = [e for e in data["events"] if e["kind"] == "input"]
    assert inputs[0] == {
        "kind": "input",
        "at": inputs[0]["at"],
        "result": "speech",
        "speech": "report a crime",
    }
    results = [e["result"] for e in data["events"] if e["kind"] == "queue-result"]
    assert results == ["queue-full"]


def test_steps_keep_their_command_line_order():
    args = ["--say", "hello", "--press=1", "--silence", "--json", "--press", "2", "--hangup"]
    assert _scan_steps(args) == [
        ("say", "hello"),
        ("press", "1"),
        ("silence", ""),
        ("press", "2"),
        ("hangup", ""),
    ]


def test_silence_then_hangup(runner):
    result = runner.invoke(cli, ["call", "--silence", "--hangup"])
    assert result.exit_code == 0, result.output
    assert "> caller stays silent" in result.output
    assert result.output.rstrip().endswith("Outcome: the caller hung up")


def test_bad_keys_are_a_usage_error(runner):
    result = runner.invoke(cli, ["call", "--press", "12a"])
    assert result.exit_code == 2
    assert "keys are 0-9" in result.output


def test_interactive_by_default(runner):
    result = runner.invoke(cli, ["call"], input="1\n\na\n")
    assert result.exit_code == 0, result.output
    assert "listening for keys" in result.output
    assert "Outcome: enqueued" in result.output


def test_help_has_an_example(runner):
    result = runner.invoke(cli, ["call", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "--press" in result.output


@pytest.fixture
def foreign_app_url() -> Iterator[str]:
    """A TwiML app nobody here wrote, served on localhost, with a bug behind key 2."""
    app = Flask("foreign")

    @app.post("/incoming")
    def incoming():
        return (
            "<Response><Gather action='/pick' numDigits='1'><Say>Press 1 or 2</Say></Gather>"
            "</Response>",
            200,
            {"Content-Type": "text/xml"},
        )

    @app.post("/pick")
    def pick():
        if request.form["Digits"] == "1":
            return (
                "<Response><Dial>+441632960000</Dial></Response>",
                200,
                {"Content-Type": "application/xml"},
            )
        raise KeyError("digits")

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/incoming"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_any_webhook_url(runner, foreign_app_url):
    result = runner.invoke(cli, ["call", "--url", foreign_app_url, "--press", "1"])
    assert result.exit_code == 0, result.output
    assert "DIAL number +441632960000" in result.output
    assert "Outcome: dialled +441632960000 (DialCallStatus=completed)" in result.output


def test_an_application_error_exits_non_zero(runner, foreign_app_url):
    result = runner.invoke(cli, ["call", "--url", foreign_app_url, "--press", "2"])
    assert result.exit_code == 1
    assert "application error (11200)" in result.output
    assert "500" in result.output
    assert foreign_app_url.replace("/incoming", "/pick") in result.output
