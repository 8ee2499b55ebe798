"""The deployment guide's claims, tested in-process: tunnels, TLS proxies, `ivr twilio check`."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.account.findings import signed_test_request, voice_params

ROOT = Path(__file__).resolve().parent.parent
MENU = str(ROOT / "menus.json")
TOKEN = "deploy-token"
PUBLIC = "https://ivr.example.org"


def make_app(**config):
    return create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_MENU_FILE": MENU,
            "IVR_ALLOW_UNSIGNED": False,
            "PUBLIC_BASE_URL": None,
            "IVR_TRUSTED_PROXIES": 0,
            **config,
        }
    )


def signed(url: str) -> tuple[dict[str, str], str]:
    params = voice_params("+442079460101")
    return params, RequestValidator(TOKEN).compute_signature(url, params)


def test_behind_a_tls_proxy_trusting_one_proxy_validates_the_public_url():
    app = make_app(IVR_TRUSTED_PROXIES=1)
    params, signature = signed(f"{PUBLIC}/voice")
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ivr.example.org",
        "X-Forwarded-For": "54.172.60.1",
    }
    response = app.test_client().post(
        "/voice", data=params, headers={"X-Twilio-Signature": signature, **forwarded}
    )
    assert response.status_code == 200
    assert b"<Response>" in response.data


def test_behind_a_proxy_without_trusting_it_the_signature_fails():
    app = make_app()
    params, signature = signed(f"{PUBLIC}/voice")
    response = app.test_client().post(
        "/voice",
        data=params,
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "ivr.example.org",
        },
    )
    assert response.status_code == 403


def test_through_a_tunnel_public_base_url_is_what_is_signed():
    app = make_app(PUBLIC_BASE_URL="https://abcd-1234.ngrok-free.app")
    params, signature = signed("https://abcd-1234.ngrok-free.app/voice")
    response = app.test_client().post(
        "/voice", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200


def via(app):
    """A `requests.post` that delivers into the Flask app, as a tunnel would."""

    def post(url, data, headers, timeout, allow_redirects):
        path = url.split("://", 1)[1].split("/", 1)[1]
        r = app.test_client().post("/" + path, data=data, headers=headers)
        response = requests.Response()
        response.status_code = r.status_code
        response.headers.update(dict(r.headers))
        response._content = r.data
        return response

    return post


@pytest.mark.parametrize(("app_token", "ok"), [(TOKEN, True), ("a-different-token", False)])
def test_ivr_twilio_check_round_trip_against_the_real_app(app_token, ok):
    app = make_app(PUBLIC_BASE_URL=PUBLIC, TWILIO_AUTH_TOKEN=app_token)
    trip = signed_test_request(f"{PUBLIC}/voice", TOKEN, "+442079460101", post=via(app))
    assert (trip.status == 200 and trip.twiml) is ok
    if not ok:
        assert trip.status == 403
        assert "rejected the signature" in trip.detail


# -- plain `gunicorn webhooks:app` from the checkout, as in the systemd recipe ----------------


@pytest.fixture
def plain_gunicorn(tmp_path):
    """``gunicorn webhooks:app`` run from the checkout (so it reads ./gunicorn.conf.py)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    processes = []

    def start(**env: str) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        environ = os.environ | {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_MENU_FILE": MENU,
            "IVR_ALLOW_UNSIGNED": "",
            "PUBLIC_BASE_URL": "",
            "IVR_TRUSTED_PROXIES": "0",
            "IVR_LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'journeys.db'}",
            **env,
        }
        command = [sys.executable, "-m", "gunicorn", "webhooks:app", "-b", f"127.0.0.1:{port}"]
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            command + ["-w", "1"], env=environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        processes.append((proc, log))
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.post(f"http://127.0.0.1:{port}/status", timeout=5)
                return port
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)

    yield start
    for proc, log in processes:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    for path in tmp_path.glob("gunicorn-*.log"):
        text = path.read_text(errors="replace")
        assert "Traceback" not in text, text


def test_plain_gunicorn_runs_our_workers_and_trusts_no_forwarded_header(plain_gunicorn, tmp_path):
    port = plain_gunicorn()
    url = f"http://127.0.0.1:{port}/voice"
    params, signature = signed(url)
    assert requests.post(url, data=params, headers={"X-Twilio-Signature": signature}).ok
    # gunicorn's own default trusts X-Forwarded-Proto from 127.0.0.1; gunicorn.conf.py does not.
    _, https = signed(url.replace("http:", "https:"))
    headers = {"X-Twilio-Signature": https, "X-Forwarded-Proto": "https"}
    assert requests.post(url, data=params, headers=headers).status_code == 403
    log = next(tmp_path.glob("gunicorn-*.log")).read_text()
    assert "Using worker: ivr.webhooks.serve.WebhookWorker" in log


def test_plain_gunicorn_in_unsigned_mode_answers_only_this_machine(plain_gunicorn):
    """The issue's ``IVR_ALLOW_UNSIGNED=1 gunicorn webhooks:app``: a request relayed from
    elsewhere (by a tunnel or proxy on this machine) is refused; this machine is served."""
    port = plain_gunicorn(IVR_ALLOW_UNSIGNED="1", TWILIO_AUTH_TOKEN="")
    url = f"http://127.0.0.1:{port}/voice"
    assert requests.post(url, data={"CallSid": "CA1"}).status_code == 200
    relayed = {"X-Forwarded-For": "198.51.100.7"}
    assert requests.post(url, data={"CallSid": "CA1"}, headers=relayed).status_code == 403


def test_plain_gunicorn_refuses_a_short_pin_with_one_line_and_stops(tmp_path):
    """A setting the app refuses stops plain ``gunicorn webhooks:app`` with the reason on one
    line: no traceback, no worker restarted for ever. gunicorn.conf.py (read first, from the
    checkout) and webhooks.py (for a gunicorn started elsewhere) both refuse it that way."""
    import os
    import subprocess
    import sys

    environ = os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": MENU,
        "IVR_HANDLER_PIN": "1234",
        "IVR_HANDLER_NUMBERS": "+447700900001",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'journeys.db'}",
    }
    command = [sys.executable, "-m", "gunicorn", "webhooks:app", "-b", "127.0.0.1:0", "-w", "1"]
    done = subprocess.run(
        command, env=environ, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "ivr101: IVR_HANDLER_PIN: must be 6 or more digits" in done.stderr
    assert done.stderr.count("IVR_HANDLER_PIN") == 1, done.stderr


def test_plain_gunicorn_outside_the_checkout_refuses_a_broken_menu_plainly(tmp_path):
    """Started from another folder (no gunicorn.conf.py read), webhooks.py itself refuses: the
    menu's problems, located, then gunicorn stops; no traceback."""
    import os
    import subprocess
    import sys

    broken = tmp_path / "menus.json"
    broken.write_text('{"start": "nowhere", "nodes": {}}', encoding="utf-8")
    environ = os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": str(broken),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'journeys.db'}",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "gunicorn", "webhooks:app", "-b", "127.0.0.1:0", "-w", "1"]
    done = subprocess.run(
        command, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"ivr101: {broken}:" in done.stderr and "nowhere" in done.stderr
    assert "Worker failed to boot" in done.stderr
