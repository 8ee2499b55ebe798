from __future__ import annotations

import io
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
from ivr.errors import ConfigError
from ivr.settings import load as load_settings
from ivr.webhooks.serve import (
    GEVENT_WORKER,
    Server,
    default_workers,
    gunicorn_options,
    worker_description,
)


def test_defaults_follow_the_machine():
    options = gunicorn_options(config=settings(), cpus=4)
    assert options["bind"] == ["127.0.0.1:5000"]
    assert options["workers"] == 9 == default_workers(4)
    # gevent: a connection waiting on a slow client costs a greenlet, not a thread.
    assert options["worker_class"] == GEVENT_WORKER == "ivr.webhooks.serve.WebhookWorker"
    assert (options["threads"], options["worker_connections"]) == (1, 1000)
    assert options["keepalive"] == 5  # the gevent worker's deadline for a request's headers
    assert options["timeout"] == 30
    assert options["preload_app"] is False
    assert "accesslog" not in options
    assert worker_description(options) == "9 gevent workers (up to 1000 connections each)"


def settings(**environ: str) -> dict:
    """Settings read from exactly this environment (no .env, no os.environ)."""
    return load_settings(environ=environ)


def test_environment_then_flags():
    env = {
        "HOST": "0.0.0.0",
        "PORT": "8080",
        "IVR_WORKERS": "3",
        "IVR_THREADS": "1",
        "IVR_WORKER_CLASS": "gthread",
    }
    options = gunicorn_options(config=settings(**env), cpus=4)
    assert options["bind"] == ["0.0.0.0:8080"]
    assert (options["workers"], options["threads"]) == (3, 1)
    assert options["worker_class"] == "sync"
    flags = gunicorn_options("::1", 9000, 5, 4, access_log=True, config=settings(**env))
    assert flags["bind"] == ["[::1]:9000"]
    assert (flags["workers"], flags["threads"], flags["worker_class"]) == (5, 4, "gthread")
    assert flags["accesslog"] == "-"
    assert worker_description(flags) == "5 workers x 4 threads (gthread)"
    # The flag beats the environment; threads mean nothing to gevent.
    gevent = gunicorn_options(threads=4, config=settings(**env), worker_class="gevent")
    assert (gevent["worker_class"], gevent["threads"]) == (GEVENT_WORKER, 1)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"IVR_WORKERS": "many"}, "IVR_WORKERS: must be a whole number, not 'many'"),
        ({"IVR_THREADS": "0"}, "IVR_THREADS: must be at least 1, not 0"),
        ({"PORT": "http"}, "PORT: must be a whole number"),
        ({"IVR_WORKER_CLASS": "eventlet"}, "IVR_WORKER_CLASS: must be one of gevent, gthread"),
    ],
)
def test_bad_environment_is_named(env, message):
    with pytest.raises(ConfigError, match=message):
        gunicorn_options(config=settings(**env))


def test_gunicorn_gets_the_settings():
    options = gunicorn_options("127.0.0.1", 8123, 3, 4, config=settings(), worker_class="gthread")
    server = Server(options, factory=lambda: "app")
    assert server.cfg.bind == ["127.0.0.1:8123"]
    assert (server.cfg.workers, server.cfg.threads) == (3, 4)
    assert server.cfg.worker_class_str == "gthread"
    assert server.cfg.timeout == 30
    assert server.load() == "app"
    gevent = Server(gunicorn_options(config=settings()), factory=lambda: "app")
    from ivr.webhooks.serve import WebhookWorker

    assert gevent.cfg.worker_class is WebhookWorker
    # Forwarded headers are the app's business (IVR_TRUSTED_PROXIES, ProxyFix), not gunicorn's.
    assert gevent.cfg.forwarded_allow_ips == []
    assert gevent.cfg.control_socket_disable is True  # one per user: instances would share it


def test_serve_refuses_a_broken_menu(tmp_path: Path):
    from click.testing import CliRunner

    bad = tmp_path / "menus.json"
    bad.write_text('{"start": "nowhere", "nodes": {}}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve"], env={"IVR_MENU_FILE": str(bad), "PORT": "1"})
    assert result.exit_code == 1
    # Both problems at once: the empty nodes, and the start that names no node.
    assert f"{bad}: 2 error(s)" in result.output  # as `ivr validate` shows them
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
    assert seen["workers"] == 1
    assert "one worker" in result.output
    assert "1 gevent workers" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env(**settings: str) -> dict[str, str]:
    """The environment a served instance gets here: this suite's token and menu, signatures
    checked, no public URL from the developer's own settings; ``settings`` on top."""
    return os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": str(MENU),
        "IVR_ALLOW_UNSIGNED": "",
        "PUBLIC_BASE_URL": "",
        **settings,
    }


def _signed_post_when_up(
    proc: subprocess.Popen, url: str, form: dict[str, str], seconds: float = 20
) -> requests.Response:
    """POST a signed request to a server that is starting, retrying until it listens."""
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    deadline = time.monotonic() + seconds
    while True:
        try:
            return requests.post(
                url, data=form, headers={"X-Twilio-Signature": signature}, timeout=5
            )
        except (requests.ConnectionError, requests.Timeout):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_a_signed_request_under_gunicorn(tmp_path: Path):
    port = _free_port()
    env = _server_env(IVR_LOG_LEVEL="WARNING")
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
        answer = _signed_post_when_up(proc, url, form)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/xml")
        assert b"<Response>" in answer.content
        # A newline in an unsigned request's CallSid cannot forge a line in the log...
        forged_sid = "CA1\n1999-01-01 00:00:00,000 ERROR ivr.voice: call CA1: forged"
        assert requests.post(url, data={"CallSid": forged_sid}, timeout=5).status_code == 403
        # ...and a flood of refusals writes one line per source per minute.
        for _ in range(20):
            unsigned = requests.post(url, data=form, timeout=5)
            assert unsigned.status_code == 403
        # IVR_TRUSTED_PROXIES=0: gunicorn must not believe X-Forwarded-Proto from 127.0.0.1
        # either, or a local client could choose the scheme the signature is checked on.
        https = RequestValidator(TOKEN).compute_signature(url.replace("http:", "https:"), form)
        forged = requests.post(
            url,
            data=form,
            headers={"X-Twilio-Signature": https, "X-Forwarded-Proto": "https"},
            timeout=5,
        )
        assert forged.status_code == 403
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")
    log = err.decode(errors="replace")
    assert not any(line.startswith("1999-") for line in log.splitlines()), log
    assert "(call CA1\\n1999-01-01 00:00:00,000 ERROR ivr.voice: call CA1: forged" in log
    assert log.count("WARNING ivr.security: 403 /voice") == 1, log


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_journey_log_writes_under_gevent_workers(tmp_path: Path, database: str):
    """The journey log's writer thread is a greenlet under gevent's monkey-patching: SQLite
    writes inline, psycopg waits cooperatively. Every answered step reaches the database."""
    from contextlib import nullcontext

    from journey_support import PG_URL, postgres_schema

    from ivr.journey import JourneyLog

    if database == "postgresql" and not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    where = (
        postgres_schema() if database == "postgresql" else nullcontext(f"sqlite:///{tmp_path}/j.db")
    )
    with where as url:
        port = _free_port()
        env = _server_env(IVR_LOG_LEVEL="WARNING", IVR_WORKER_CLASS="", DATABASE_URL=url)
        command = [sys.executable, "-m", "ivr", "serve", "--port", str(port), "-w", "2"]
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE)
        sids = [f"CA{i:032d}" for i in range(1, 5)]
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            for sid in sids:
                for path, extra in [("/voice", {}), ("/menu/main?attempt=1", {"Digits": "1"})]:
                    form = {"CallSid": sid, "From": "+447700900123", **extra}
                    signature = RequestValidator(TOKEN).compute_signature(base + path, form)
                    while True:
                        try:
                            answer = requests.post(
                                base + path,
                                data=form,
                                headers={"X-Twilio-Signature": signature},
                                timeout=5,
                            )
                            break
                        except (requests.ConnectionError, requests.Timeout):
                            assert proc.poll() is None and time.monotonic() < deadline
                            time.sleep(0.2)
                    assert answer.status_code == 200
        finally:
            proc.terminate()  # SIGTERM: each worker writes what it still holds
            _, err = proc.communicate(timeout=30)
        assert b"Traceback" not in err, err.decode(errors="replace")
        # No complaint about patching (gevent's MonkeyPatchWarning, psycopg's detection).
        assert b"MonkeyPatch" not in err and b"monkey-patching" not in err, err.decode()
        log = JourneyLog(url)
        try:
            for sid in sids:
                kinds = [event.kind for event in log.journey(sid)]
                assert kinds[:2] == ["call-start", "choice"], (sid, kinds)
        finally:
            log.close()


class _Trickle(io.RawIOBase):
    """A request body arriving a byte per (gevent) second."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        import gevent

        out = b""
        while self.data and (size < 0 or len(out) < size):
            gevent.sleep(1)
            out, self.data = out + self.data[:1], self.data[1:]
        return out


def _through_whole_body(environ: dict, limit: int = 100, seconds: float = 5):
    from ivr.webhooks.serve import whole_body

    seen = {}

    def app(environ, start_response):
        seen["body"] = environ["wsgi.input"].read()
        seen["length"] = environ.get("CONTENT_LENGTH")
        start_response("200 OK", [])
        return [b"ok"]

    statuses = []
    body = b"".join(whole_body(app, limit, seconds)(environ, lambda s, h: statuses.append(s)))
    return statuses[0], body, seen


def test_the_body_is_read_whole_before_the_app_runs():
    form = b"CallSid=CA1&Digits=1"
    environ = {"CONTENT_LENGTH": str(len(form)), "wsgi.input": io.BytesIO(form + b"EXTRA")}
    assert _through_whole_body(environ) == ("200 OK", b"ok", {"body": form, "length": "20"})
    # Chunked (no Content-Length): read up to the limit, refused beyond it.
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(form)}
    assert _through_whole_body(chunked) == ("200 OK", b"ok", {"body": form, "length": "20"})
    big = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"x" * 101)}
    assert _through_whole_body(big)[0].startswith("413 ")
    # Declared over the limit: left to the app (Flask answers 413 without reading it).
    over = {"CONTENT_LENGTH": "101", "wsgi.input": io.BytesIO(b"x" * 101)}
    assert _through_whole_body(over)[2]["body"] == b"x" * 101


def test_a_body_slower_than_the_deadline_is_refused_with_408(caplog):
    slow = {"CONTENT_LENGTH": "20", "wsgi.input": _Trickle(b"CallSid=CA1&Digits=1")}
    status, body, seen = _through_whole_body(slow, seconds=2.5)
    assert (status, body, seen) == ("408 Request Timeout", b"", {})
    assert "sent its body too slowly" in caplog.text


def test_serve_chooses_the_worker_class(monkeypatch):
    from click.testing import CliRunner

    seen = {}
    monkeypatch.setattr(Server, "run", lambda self: seen.update(self.options))
    env = {"IVR_MENU_FILE": str(MENU), "IVR_WORKERS": "", "IVR_WORKER_CLASS": "", "IVR_PHONE": ""}
    result = CliRunner().invoke(cli, ["serve", "-w", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert seen["worker_class"] == GEVENT_WORKER
    assert "2 gevent workers (up to 1000 connections each)" in result.output
    result = CliRunner().invoke(cli, ["serve", "-w", "2", "-k", "gthread", "-t", "4"], env=env)
    assert result.exit_code == 0, result.output
    assert (seen["worker_class"], seen["threads"]) == ("gthread", 4)
    assert "2 workers x 4 threads (gthread)" in result.output


def test_ivr_run_stopped_with_sigterm_writes_what_is_waiting(tmp_path: Path):
    """``ivr run`` stopped by SIGTERM (systemd, docker stop) closes the journey log as Ctrl-C
    does: the call is in the database, and nothing is left for the next command to replay."""
    port = _free_port()
    env = _server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'journeys.db'}", IVR_SPOOL_DIR=str(tmp_path / "spool")
    )
    command = [sys.executable, "-m", "ivr", "run", "--port", str(port)]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    sid = "CA" + "5" * 32
    try:
        url = f"http://127.0.0.1:{port}/voice"
        form = {"CallSid": sid, "From": "+447700900123", "To": "+441632960101"}
        assert _signed_post_when_up(proc, url, form).status_code == 200
    finally:
        proc.terminate()  # SIGTERM
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert b"Traceback" not in err, err.decode(errors="replace")
    after = subprocess.run(
        [sys.executable, "-m", "ivr", "journey", sid],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0, after.stderr
    assert "replayed" not in after.stderr, after.stderr
    assert "call-start" in after.stdout, after.stdout
