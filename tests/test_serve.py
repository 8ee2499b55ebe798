from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import MENU, TOKEN
from twilio.request_validator import RequestValidator

from ivr.cli import cli
from ivr.webhooks.serve import Server, default_workers, gunicorn_options


def test_defaults_follow_the_machine():
    options = gunicorn_options(env={}, cpus=4)
    assert options["bind"] == ["127.0.0.1:5000"]
    assert options["workers"] == 9 == default_workers(4)
    assert options["threads"] == 2
    assert options["worker_class"] == "gthread"
    assert options["timeout"] == 30
    assert options["preload_app"] is False
    assert "accesslog" not in options


def test_environment_then_flags():
    env = {"HOST": "0.0.0.0", "PORT": "8080", "IVR_WORKERS": "3", "IVR_THREADS": "1"}
    options = gunicorn_options(env=env, cpus=4)
    assert options["bind"] == ["0.0.0.0:8080"]
    assert (options["workers"], options["threads"]) == (3, 1)
    assert options["worker_class"] == "sync"
    flags = gunicorn_options("::1", 9000, 5, 4, access_log=True, env=env)
    assert flags["bind"] == ["[::1]:9000"]
    assert (flags["workers"], flags["threads"], flags["worker_class"]) == (5, 4, "gthread")
    assert flags["accesslog"] == "-"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"IVR_WORKERS": "many"}, "IVR_WORKERS must be a whole number, not 'many'"),
        ({"IVR_THREADS": "0"}, "IVR_THREADS must be at least 1, not 0"),
        ({"PORT": "http"}, "PORT must be a whole number"),
    ],
)
def test_bad_environment_is_named(env, message):
    with pytest.raises(ValueError, match=message):
        gunicorn_options(env=env)


def test_gunicorn_gets_the_settings():
    server = Server(gunicorn_options("127.0.0.1", 8123, 3, 4, env={}), factory=lambda: "app")
    assert server.cfg.bind == ["127.0.0.1:8123"]
    assert (server.cfg.workers, server.cfg.threads) == (3, 4)
    assert server.cfg.worker_class_str == "gthread"
    assert server.cfg.timeout == 30
    assert server.load() == "app"


def test_serve_refuses_a_broken_menu(tmp_path: Path):
    from click.testing import CliRunner

    bad = tmp_path / "menus.json"
    bad.write_text('{"start": "nowhere", "nodes": {}}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve"], env={"IVR_MENU_FILE": str(bad), "PORT": "1"})
    assert result.exit_code == 1
    # Both problems at once: the empty nodes, and the start that names no node.
    assert f"{bad}: 2 problem(s)" in result.output
    assert "start (line 1, column 11): refers to node 'nowhere'" in result.output
    assert "nodes (line 1, column 31)" in result.output
    assert "Traceback" not in result.output


def test_serve_keeps_the_softphone_in_one_worker(monkeypatch):
    from click.testing import CliRunner

    seen = {}
    monkeypatch.setattr(Server, "run", lambda self: seen.update(self.options))
    result = CliRunner().invoke(
        cli, ["serve"], env={"IVR_PHONE": "1", "IVR_MENU_FILE": str(MENU), "IVR_WORKERS": ""}
    )
    assert result.exit_code == 0, result.output
    assert (seen["workers"], seen["threads"]) == (1, 8)
    assert "one worker" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_a_signed_request_under_gunicorn(tmp_path: Path):
    port = _free_port()
    env = os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": str(MENU),
        "IVR_ALLOW_UNSIGNED": "",
        "PUBLIC_BASE_URL": "",
        "IVR_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "ivr", "serve", "--port", str(port), "-w", "1", "-t", "2"]
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/voice"
        form = {"CallSid": "CA" + "0" * 32, "From": "+447700900123", "To": "+441632960101"}
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.post(
                    url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5
                )
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/xml")
        assert b"<Response>" in answer.content
        unsigned = requests.post(url, data=form, timeout=5)
        assert unsigned.status_code == 403
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")
