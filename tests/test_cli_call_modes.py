"""`ivr call` from a script or at a terminal, and URLs with credentials in what it prints.

A tester's script (CI, a probe, a pipe) has no terminal on stdin: the call is scripted and every
option that says how the call goes is honoured, steps or not. At a terminal with none of them,
a person answers the prompts. The apps below record the requests they receive, which is what
Twilio's documentation describes:
https://www.twilio.com/docs/voice/twiml/dial#dialcallstatus-values and
https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action-parameters
"""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask, request
from werkzeug.serving import make_server

from ivr.cli import cli

ROOT = Path(__file__).resolve().parent.parent
XML = {"Content-Type": "text/xml"}


@dataclass
class Scenario:
    """A TwiML app on localhost that dials, or queues, at once; ``received`` is every request
    it answered, as (path, form)."""

    base: str
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def forms(self, path: str) -> list[dict[str, str]]:
        return [form for p, form in self.received if p == path]


@pytest.fixture
def scenario() -> Iterator[Scenario]:
    app = Flask("scenario")
    seen: list[tuple[str, dict[str, str]]] = []

    @app.before_request
    def record() -> None:
        seen.append((request.path, request.form.to_dict()))

    @app.post("/dial")
    def dial():
        return "<Response><Dial action='/dialled'>+441632960000</Dial></Response>", 200, XML

    @app.post("/queue")
    def queue():
        return (
            "<Response><Enqueue action='/left' waitUrl='/wait'>help</Enqueue></Response>",
            200,
            XML,
        )

    @app.post("/wait")
    def wait():
        return "<Response><Say>Please hold.</Say></Response>", 200, XML

    @app.post("/dialled")
    @app.post("/left")
    def done():
        return "<Response><Hangup/></Response>", 200, XML

    @app.post("/menu")
    def menu():
        # Absolute URLs with credentials, as Twilio allows (HTTP basic authentication).
        base = f"http://bob:hunter2@{request.host}"
        return (
            f"<Response><Gather action='{base}/chosen' numDigits='1'><Say>Press 1</Say>"
            f"</Gather></Response>",
            200,
            XML,
        )

    @app.post("/chosen")
    def chosen():
        base = f"http://bob:hunter2@{request.host}"
        return (
            f"<Response><Play>{base}/music.mp3</Play><Redirect>{base}/broken</Redirect></Response>",
            200,
            XML,
        )

    @app.post("/broken")
    def broken():
        return "boom", 500, {"Content-Type": "text/plain"}

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Scenario(f"http://127.0.0.1:{server.server_port}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_at_terminal(args: list[str], typed: str = "", timeout: float = 60) -> str:
    """Run ``ivr ARGS`` with a terminal (a pty) on stdin, as a person would, and type."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivr", *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(slave)
    try:
        os.write(master, typed.encode())
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"ivr {' '.join(args)} still waiting after {timeout}s:\n{out.decode()}")
    finally:
        os.close(master)
    assert proc.returncode == 0, out.decode()
    return out.decode()


# -- without a terminal (a script, CI, a probe): scripted, every option honoured ------------


def test_without_a_terminal_the_dial_status_is_honoured_without_steps(scenario):
    args = ["call", "--url", f"{scenario.base}/dial", "--dial-status", "busy", "--json"]
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code == 0, result.output
    assert [f["DialCallStatus"] for f in scenario.forms("/dialled")] == ["busy"]
    assert json.loads(result.stdout)["outcome"]["dial_status"] == "busy"
    assert "[dialling" not in result.output  # nobody was asked


@pytest.mark.parametrize(
    "options,queue_result,waits",
    [
        (["--queue-full"], "queue-full", 0),
        (["--queue-error"], "error", 0),
        (["--queue-result", "system-error"], "system-error", 0),
        (["--waits", "3", "--queue-result", "redirected"], "redirected", 3),
        (["--waits", "2"], "bridged", 2),
    ],
)
def test_without_a_terminal_the_queue_options_are_honoured_without_steps(
    scenario, options, queue_result, waits
):
    args = ["call", "--url", f"{scenario.base}/queue", *options, "--json"]
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code == 0, result.output
    assert [f["QueueResult"] for f in scenario.forms("/left")] == [queue_result]
    assert len(scenario.forms("/wait")) == waits
    assert "[in queue" not in result.output


def test_without_a_terminal_and_without_steps_the_caller_hangs_up_at_the_first_prompt():
    result = CliRunner().invoke(cli, ["call"], input="1\n1\n")
    assert result.exit_code == 0, result.output
    assert "[keys 0-9" not in result.output  # no prompt: the typed lines are not read
    assert "> caller hangs up (end of script)" in result.stdout
    assert result.stdout.rstrip().endswith("Outcome: the caller hung up")


# -- at a terminal: a person answers, unless options say how the call goes ------------------


def test_at_a_terminal_a_person_answers_the_prompts():
    out = run_at_terminal(["call"], typed="1\n1\n\na\n")
    assert "[keys 0-9 * # or words to say; Enter = silence; h = hang up]" in out
    assert "> caller presses 1 (barge-in" in out
    assert "Outcome: enqueued in" in out


def test_at_a_terminal_scenario_options_make_the_call_scripted(scenario):
    # Nothing is typed: a call that asked would wait for ever (the timeout fails the test).
    out = run_at_terminal(["call", "--url", f"{scenario.base}/queue", "--queue-full"], timeout=30)
    assert [f["QueueResult"] for f in scenario.forms("/left")] == ["queue-full"]
    assert "[in queue" not in out


# -- credentials in URLs are never printed ------------------------------------------------


def test_credentials_in_urls_are_masked_in_the_transcript_errors_and_warnings(scenario):
    target = scenario.base.replace("http://", "http://alice:s3cret@") + "/menu"
    with socket.socket() as s:  # a port nothing listens on: the status callback fails
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    status = f"http://carol:pw9@127.0.0.1:{closed}/status"
    args = ["call", "--url", target, "--press", "1", "-v", "--status-callback", status]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1  # /broken answers 500: an application error
    for secret in ("s3cret", "hunter2", "pw9"):
        assert secret not in result.output
    masked = scenario.base.replace("http://", "http://alice:***@")
    assert f"Calling {masked}/menu as " in result.stdout
    bob = scenario.base.replace("http://", "http://bob:***@")
    assert f"  [audio {bob}/music.mp3]" in result.stdout
    assert f"  -> redirect to {bob}/broken" in result.stdout
    assert "Error: application error (11200)" in result.stderr
    assert f"Warning: status callback http://carol:***@127.0.0.1:{closed}/status failed" in (
        result.stderr
    )
    # The credentials still went where Twilio sends them: basic authentication.
    assert [p for p, _ in scenario.received][:3] == ["/menu", "/chosen", "/broken"]


def test_credentials_in_urls_are_masked_in_json(scenario):
    target = scenario.base.replace("http://", "http://alice:s3cret@") + "/menu"
    result = CliRunner().invoke(cli, ["call", "--url", target, "--press", "1", "--json"])
    assert "s3cret" not in result.output and "hunter2" not in result.output
    data = json.loads(result.stdout)
    plays = [e["url"] for e in data["events"] if e["kind"] == "play"]
    assert plays == [scenario.base.replace("http://", "http://bob:***@") + "/music.mp3"]


@pytest.mark.parametrize(
    "text,shown",
    [
        ("http://alice:s3cret@host/voice", "http://alice:***@host/voice"),
        ("https://a:p@ss@host:8443/x?y=1", "https://a:***@host:8443/x?y=1"),
        (
            '"url": "http://u:p@h/a", then ftp://v:q@g',
            '"url": "http://u:***@h/a", then ftp://v:***@g',
        ),
        ("http://token@host/voice", "http://token@host/voice"),  # no password to hide
        ("mail me at a@b.example", "mail me at a@b.example"),
        ("postgresql+psycopg://ivr:pw@db/ivr", "postgresql+psycopg://ivr:***@db/ivr"),
    ],
)
def test_mask_url(text, shown):
    from ivr.cli.terminal import mask_url

    assert mask_url(text) == shown
