"""`ivr call`: the simulator from the command line."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask, request
from werkzeug.serving import make_server

from ivr.cli import cli
from ivr.cli.call import _scan_steps


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_scripted_call_to_the_101_menu_reaches_a_queue(runner):
    result = runner.invoke(cli, ["call", "--press", "1", "--press", "1"])
    assert result.exit_code == 0, result.output
    assert "CallSid CA" in result.output
    assert "> caller presses 1" in result.output
    # The handler hangs up; Twilio asks the Enqueue action, which hangs up; then /status.
    assert (
        "queue result: bridged\n  (the app hangs up)\n  (status callback: CallStatus=completed"
        in (result.output)
    )
    assert "Outcome: enqueued in" in result.output


def test_in_process_the_status_callback_goes_to_the_apps_status_route(runner):
    result = runner.invoke(cli, ["call", "--press", "4", "--json", "-v"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    requests = [e for e in data["events"] if e["kind"] == "request"]
    assert [urlsplit(r["url"]).path for r in requests[-2:]] == [
        "/queue/general_queue/result",
        "/status",
    ]
    assert requests[-2]["params"]["QueueResult"] == "bridged"
    assert requests[-1]["status"] == 204  # signed with the in-process token: accepted
    assert requests[-1]["params"]["CallStatus"] == "completed"
    assert int(requests[-1]["params"]["CallDuration"]) > 60  # menus, hold, a conversation
    assert data["warnings"] == []


def test_no_status_callback(runner):
    result = runner.invoke(cli, ["call", "--press", "4", "--no-status-callback", "--json"])
    assert result.exit_code == 0, result.output
    assert "status-callback" not in [e["kind"] for e in json.loads(result.output)["events"]]


def test_a_scripted_call_is_in_the_journey_log_and_the_report(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'journeys.db'}")
    called = runner.invoke(cli, ["call", "--press", "1"])  # a crime
    assert called.exit_code == 0, called.output
    (call_sid,) = re.findall(r"CallSid (CA[0-9a-f]{32})", called.output)
    duration = re.search(r"CallDuration=(\d+)s", called.output).group(1)

    journey = runner.invoke(cli, ["journey", call_sid])
    assert journey.exit_code == 0, journey.output
    assert f"Call {call_sid} from +44*******123" in journey.output
    assert f", completed after {duration}s" in journey.output
    steps = [line.split("s  ", 1)[1] for line in journey.output.splitlines()[1:]]
    assert [step.split(" ", 1)[0] for step in steps] == [
        "call-start",
        "choice",  # the queue is in the same answer as the choice: no arrival of its own
        "queue-wait",
        "queue-result",
        "status",
    ]
    assert "key 1 -> crime_queue" in steps[1]
    assert steps[3].startswith("queue-result at crime_queue [bridged]")
    assert steps[4] == f"status [completed] duration={duration}"

    report = runner.invoke(cli, ["report", "--format", "json"])
    assert report.exit_code == 0, report.output
    figures = json.loads(report.output)
    assert figures["calls"]["total"] == 1
    assert figures["calls"]["by_status"] == {"completed": 1}
    assert figures["calls"]["outcomes"] == {"answered": 1}
    assert figures["calls"]["duration"]["median"] == int(duration)
    assert [(c["node"], c["key"], c["option"], c["count"]) for c in figures["choices"]] == [
        ("main", "1", "crime_queue", 1),
    ]
    (queue,) = figures["queues"]
    assert (queue["node"], queue["reached"], queue["results"]) == (
        "crime_queue",
        1,
        {"bridged": 1},
    )


def test_json_prints_the_events_and_outcome(runner):
    args = ["call", "--say", "report a crime", "--queue-full", "--json"]
    result = runner.invoke(cli, args)
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
    assert "status callback" not in result.output  # none by default: the app may have none


def test_a_failing_status_callback_is_only_a_warning(runner, foreign_app_url):
    result = runner.invoke(
        cli, ["call", "--url", foreign_app_url, "--press", "1", "--status-callback", "/status"]
    )
    assert result.exit_code == 0, result.output
    status_url = foreign_app_url.replace("/incoming", "/status")
    assert "(status callback: CallStatus=completed, CallDuration=" in result.stdout
    # The only other line: the call went unsigned (this test gives no token).
    assert result.stderr.splitlines() == [
        "Warning: no auth token (--auth-token or TWILIO_AUTH_TOKEN): requests go unsigned, "
        "but Twilio always signs them (X-Twilio-Signature)",
        f"Warning: status callback {status_url} answered HTTP 404",
    ]


def test_an_application_error_exits_non_zero(runner, foreign_app_url):
    result = runner.invoke(cli, ["call", "--url", foreign_app_url, "--press", "2"])
    assert result.exit_code == 1
    assert "application error (11200)" in result.output
    assert "500" in result.output
    assert foreign_app_url.replace("/incoming", "/pick") in result.output


# -- issue 15: barge-in, every QueueResult, status events, the time limit, 11205 -----------


def test_barge_in_reaches_the_crime_queue_at_the_ivr_paths_time(runner):
    result = runner.invoke(cli, ["call", "--barge-in", "--press", "1", "--json"])
    assert result.exit_code == 0, result.output
    events = json.loads(result.output)["events"]
    assert [e["at"] for e in events if e["kind"] == "enqueue"] == [16.8]
    assert [e["detail"]["barge_in"] for e in events if e["kind"] == "input"] == [True]


def test_any_queue_result_can_be_chosen(runner):
    args = ["call", "--press", "1", "--press", "1", "--queue-result", "system-error", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    events = json.loads(result.output)["events"]
    # The app apologises and routes on (defaults.error_node): the general queue, in error too.
    results = [e["result"] for e in events if e["kind"] == "queue-result"]
    assert results == ["system-error", "system-error"]
    (action,) = [
        e for e in events if e["kind"] == "request" and "/queue/crime_queue/result" in e["url"]
    ]
    assert action["params"]["QueueResult"] == "system-error"
    assert "QueueSid" not in action["params"]  # never enqueued


def test_status_events(runner):
    args = ["call", "--press", "4", "--status-events", "initiated,ringing,answered", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    events = json.loads(result.output)["events"]
    callbacks = [e for e in events if e["kind"] == "status-callback"]
    assert [c["result"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(c["status"] == 204 for c in callbacks)
    bad = runner.invoke(cli, ["call", "--press", "4", "--status-events", "dialled"])
    assert bad.exit_code == 2 and "--status-events" in bad.output


def test_max_seconds_ends_the_call_and_says_which_limit(runner):
    result = runner.invoke(cli, ["call", "--press", "1", "--press", "1", "--max-seconds", "30"])
    assert result.exit_code == 0, result.output
    assert "Outcome: Twilio ended the call: the call reached its time limit of 30 s" in (
        result.stdout
    )
    assert "the --max-seconds limit, 30 s, ended the call" in result.stderr


def test_an_unreachable_url_is_one_line(runner):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(cli, ["call", "--url", f"http://127.0.0.1:{port}/voice"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "could not reach" in line]
    assert lines == [
        f"Error: application error (11205): could not reach 127.0.0.1:{port}: connection "
        "refused (HTTP connection failure)"
    ]
    assert "Max retries" not in result.output


def test_the_status_callback_setting_names_it_once_for_url_calls(
    runner, foreign_app_url, monkeypatch
):
    monkeypatch.setenv("IVR_CALL_STATUS_CALLBACK", "/status")
    result = runner.invoke(cli, ["call", "--url", foreign_app_url, "--press", "1"])
    assert result.exit_code == 0, result.output
    assert "(status callback: CallStatus=completed" in result.stdout


def test_record_and_dial_end_steps(runner, foreign_app_url):
    assert _scan_steps(["--speak", "my bike #", "--press", "1"]) == [
        ("record", "my bike #"),
        ("press", "1"),
    ]
    args = ["call", "--url", foreign_app_url, "--press", "1", "--dial-ends", "caller", "--json"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)["events"]
    (dialled,) = [e for e in events if e["kind"] == "dial-result"]
    assert dialled["detail"]["ended_by"] == "caller"
