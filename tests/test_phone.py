"""The softphone (ivr.phone): its token, its JSON API, and the route it shows on the menu."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from conftest import MENU, ROOT, bilingual_menu, write_menu
from werkzeug.serving import make_server

from ivr import create_app
from ivr.authoring.graph import to_mermaid
from ivr.authoring.paths import walk_paths
from ivr.cli import cli
from ivr.errors import ConfigError
from ivr.menu import load_menu
from ivr.scripts.loader import load_text
from ivr.scripts.runner import Runner, Target
from ivr.softphone.access import COOKIE, CSP

PHONE_TOKEN = "phone-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {PHONE_TOKEN}"}


@pytest.fixture
def phone_app(config: dict[str, Any]) -> Any:
    app = create_app(
        {**config, "IVR_PHONE": True, "IVR_PHONE_TOKEN": PHONE_TOKEN, "IVR_LOG_LEVEL": "WARNING"}
    )
    yield app
    app.extensions["ivr_phone"].sessions.close()


@pytest.fixture
def phone(phone_app: Any) -> Any:
    return phone_app.test_client()


class Softphone:
    """The page's side of the API, with the token."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.call: str | None = None

    def post(self, action: str, expect: int = 200, **data: Any) -> dict[str, Any]:
        if self.call is not None:
            data.setdefault("call", self.call)
        response = self.client.post(f"/phone/api/{action}", json=data, headers=BEARER)
        assert response.status_code == expect, response.get_data(as_text=True)
        body = response.get_json()
        if expect == 200:
            self.call = body["call"]
        return body


@pytest.fixture
def softphone(phone: Any) -> Softphone:
    return Softphone(phone)


def said(step: dict[str, Any]) -> list[str]:
    return [e["text"] for e in step["events"] if e["kind"] == "say"]


# -- off unless enabled, and never without its token ---------------------------------------


def test_off_by_default(client):
    assert client.get("/phone").status_code == 404
    assert client.get("/static/phone.js").status_code == 404
    assert client.post("/phone/api/call", json={}).status_code == 404


@pytest.mark.parametrize("token", ["", "short-token"])
def test_refuses_to_start_without_a_long_token(config, token):
    with pytest.raises(ConfigError, match="IVR_PHONE_TOKEN"):
        create_app({**config, "IVR_PHONE": True, "IVR_PHONE_TOKEN": token})


def test_says_loudly_that_it_is_on(config, caplog):
    with caplog.at_level(logging.WARNING, logger="ivr.phone"):
        app = create_app({**config, "IVR_PHONE": True, "IVR_PHONE_TOKEN": PHONE_TOKEN})
    assert "IVR_PHONE is on" in caplog.text
    app.extensions["ivr_phone"].sessions.close()


def routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("phone."):
            path = rule.rule.replace("<name>", "phone.js")
            found.extend((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    return sorted(found)


SIGN_IN = ("POST", "/phone/session")
"""Where the page's form brings the token: it takes the token rather than wanting it."""


def test_every_route_wants_the_token(phone_app, phone):
    found = routes(phone_app)
    assert ("GET", "/phone") in found
    assert ("POST", "/phone/api/press") in found
    assert SIGN_IN in found
    assert len(found) == 11
    for method, path in found:
        response = phone.open(path, method=method, json={})
        response.close()
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        if (method, path) == SIGN_IN:
            continue
        response = phone.open(
            path, method=method, json={}, headers={"Authorization": f"Bearer {PHONE_TOKEN}x"}
        )
        assert response.status_code == 403, (method, path)


def test_a_forged_cookie_is_refused(phone):
    phone.set_cookie(COOKIE, "0" * 64, path="/phone")
    assert phone.get("/phone").status_code == 403
    assert phone.post("/phone/api/call", json={}).status_code == 403


def sign_in(phone: Any, token: str = PHONE_TOKEN) -> Any:
    return phone.post("/phone/session", data={"token": token})


def test_the_sign_in_form_swaps_the_token_for_a_cookie(phone):
    page = phone.get("/phone")
    assert page.status_code == 401
    html = page.get_data(as_text=True)
    assert '<form method="post" action="/phone/session">' in html
    assert '<input id="token" name="token" type="password"' in html

    wrong = sign_in(phone, PHONE_TOKEN + "x")
    assert wrong.status_code == 403
    assert "That is not the softphone&#39;s token." in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers

    response = sign_in(phone)
    assert response.status_code == 303
    assert response.headers["Location"] == "/phone"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert PHONE_TOKEN not in cookie
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/phone", "Max-Age=43200"):
        assert flag in cookie
    page = phone.get("/phone")
    assert page.status_code == 200
    assert 'id="call"' in page.get_data(as_text=True)
    with phone.get("/phone/static/phone.js") as script:
        assert script.status_code == 200
    assert phone.post("/phone/api/call", json={}).status_code == 200


def test_token_in_the_address_becomes_a_cookie_once(phone):
    response = phone.get(f"/phone?token={PHONE_TOKEN}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/phone"  # the token leaves the address bar
    cookie = response.headers["Set-Cookie"]
    assert PHONE_TOKEN not in cookie
    page = phone.get("/phone")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert phone.get(f"/phone?token={PHONE_TOKEN}x").status_code == 403


def test_two_sign_ins_get_two_cookies(phone):
    first = sign_in(phone).headers["Set-Cookie"].split(";")[0]
    second = sign_in(phone).headers["Set-Cookie"].split(";")[0]
    assert first != second


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/phone/api/call"),
        ("POST", "/phone/api/press"),
        ("GET", "/phone/static/phone.js"),
        ("POST", "/phone/session"),
    ],
)
def test_the_token_in_a_url_is_refused_anywhere_but_the_page(phone, method, path):
    for token in (PHONE_TOKEN, "wrong-token-0123456789abcdef"):
        response = phone.open(
            f"{path}?token={token}", method=method, json={"keys": "1"}, headers=BEARER
        )
        assert response.status_code == 400, (path, token)
        assert "never put the token in a URL" in response.get_json()["error"]
        assert "Set-Cookie" not in response.headers


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_cookie_expires_on_the_server(phone_app, phone):
    clock = Clock()
    phone_app.extensions["ivr_phone"].access.clock = clock
    sign_in(phone)
    clock.now += 12 * 3600 - 1
    assert phone.get("/phone").status_code == 200
    assert phone.post("/phone/api/call", json={}).status_code == 200
    clock.now += 1  # twelve hours on: the same cookie, which the browser would still send
    page = phone.get("/phone")
    assert page.status_code == 401
    assert "Your sign-in has expired: sign in again." in page.get_data(as_text=True)
    assert phone.post("/phone/api/call", json={}).status_code == 401
    # Signing in again works, and a cookie from the future is no cookie.
    sign_in(phone)
    assert phone.get("/phone").status_code == 200
    clock.now -= 3600
    assert phone.get("/phone").status_code == 401


def test_the_session_length_is_a_setting(config):
    app = create_app(
        {
            **config,
            "IVR_PHONE": True,
            "IVR_PHONE_TOKEN": PHONE_TOKEN,
            "IVR_PHONE_SESSION_HOURS": 1,
        }
    )
    clock = Clock()
    app.extensions["ivr_phone"].access.clock = clock
    client = app.test_client()
    assert "Max-Age=3600" in sign_in(client).headers["Set-Cookie"]
    clock.now += 3600
    assert client.get("/phone").status_code == 401
    app.extensions["ivr_phone"].sessions.close()


def test_a_new_token_signs_everyone_out(config, phone):
    sign_in(phone)
    cookie = phone.get_cookie(COOKIE, path="/phone").value
    app = create_app(
        {**config, "IVR_PHONE": True, "IVR_PHONE_TOKEN": "another-token-0123456789abcdef"}
    )
    client = app.test_client()
    client.set_cookie(COOKIE, cookie, path="/phone")
    assert client.get("/phone").status_code == 403
    app.extensions["ivr_phone"].sessions.close()


def test_every_softphone_response_has_the_security_headers(phone):
    responses = [
        phone.get("/phone"),  # the sign-in page
        sign_in(phone, "wrong"),
        phone.get("/phone/nowhere"),  # a 404 of no route
        sign_in(phone),
        phone.get("/phone"),
        phone.get("/phone/static/phone.js"),
        phone.get("/phone/static/missing.js"),
        phone.post("/phone/api/call", json={}),
        phone.post("/phone/api/press", json={"call": "none", "keys": "1"}),
        phone.post("/phone/api/call", data="x"),
    ]
    for response in responses:
        headers = response.headers
        assert headers["Content-Security-Policy"] == CSP, response.request.path
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        response.close()
    assert "script-src 'self';" in CSP and "'unsafe-eval'" not in CSP
    assert "img-src data:;" in CSP
    # The webhooks are not the softphone's: their answers are left as they were.
    voice = phone.post("/voice", data={"CallSid": "CA" + "0" * 32})
    assert voice.status_code == 403  # unsigned
    assert "Content-Security-Policy" not in voice.headers


def test_the_page_has_no_inline_script(phone):
    html = phone.get("/phone", headers=BEARER).get_data(as_text=True)
    scripts = html.count("<script")
    assert scripts == html.count('<script src="/phone/static/') == 2
    assert " on" + "click=" not in html and "javascript:" not in html


def test_menu_text_is_text_in_the_picture(tmp_path):
    data = bilingual_menu()
    data["nodes"]["queue"]["queue"] = "<img src=x onerror=alert(1)> & co"
    menu = load_menu(write_menu(tmp_path, data))
    source = to_mermaid(menu)
    assert "<img" not in source
    assert "#lt;img src=x onerror=alert(1)#gt; #amp; co" in source


def test_the_api_takes_json_only(phone):
    response = phone.post("/phone/api/call", data={"x": "1"}, headers=BEARER)
    assert response.status_code == 415


def test_only_its_own_static_files(phone):
    with phone.get("/phone/static/phone.css", headers=BEARER) as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"
    assert phone.get("/phone/static/..%2F__init__.py", headers=BEARER).status_code == 404
    assert phone.get("/phone/static/other.js", headers=BEARER).status_code == 404
    assert phone.get("/static/phone.js").status_code == 404  # no open copy elsewhere


# -- the page ------------------------------------------------------------------------------


def test_the_page_has_the_phone_and_the_menu(phone):
    html = phone.get("/phone", headers=BEARER).get_data(as_text=True)
    for needle in (
        'id="call"',
        'id="hangup"',
        'data-key="#"',
        'aria-label="star"',
        '<label for="speech">',
        'id="transcript"',
        'aria-live="polite"',
        'data-queue="answer"',
        'data-queue="queue-full"',
        '<label for="mute">',
        'id="node-business_queue"',
        'href="#node-business_closed"',
    ):
        assert needle in html, needle
    assert "cdn" not in html.lower()
    assert 'src="/phone/static/phone.js"' in html


def test_the_mermaid_source_is_the_menu_picture(phone):
    html = phone.get("/phone", headers=BEARER).get_data(as_text=True)
    assert "<summary>Mermaid source" in html
    # ivr graph's own picture, escaped into the page: the start node and its edges.
    assert "flowchart TD" in html and "n_main" in html


def test_the_page_does_without_the_picture(phone, monkeypatch):
    def broken(menu):
        raise RuntimeError("no picture today")

    monkeypatch.setattr("ivr.authoring.graph.to_mermaid", broken)
    html = phone.get("/phone", headers=BEARER).get_data(as_text=True)
    assert "Mermaid source" not in html
    assert 'id="node-main"' in html


# -- the JSON API --------------------------------------------------------------------------


def test_dial_press_2_queue_hang_up(softphone):
    step = softphone.post("call")
    # The main menu answers the call: the 999 warning, Welsh (9), then keys or words.
    assert step["waiting"] == {
        "for": "gather",
        "input": ["dtmf", "speech"],
        "num_digits": 1,
        "finish_on_key": "",
        "timeout": 6.0,
        "language": "en-GB",
        "in_queue": False,
        "record": False,
    }
    assert step["node"] == "main"
    assert step["trail"] == ["main"]
    assert "For the business crime line, press 2." in said(step)
    say = next(e for e in step["events"] if e["kind"] == "say")
    assert (say["voice"], say["language"]) == ("Polly.Amy", "en-GB")

    step = softphone.post("press", keys="2")
    assert step["events"][0]["kind"] == "input"
    assert step["events"][0]["digits"] == "2"
    assert step["waiting"]["for"] == "queue"
    assert step["waiting"]["queue"] == "business-crime"
    assert step["waiting"]["position"] == 3
    assert step["waiting"]["can_be_full"] is True
    assert step["node"] == "business_queue"
    assert step["trail"] == ["main", "business_hours", "business_queue"]
    assert [e["queue"] for e in step["events"] if e["kind"] == "enqueue"] == ["business-crime"]

    step = softphone.post("queue", choice="wait")
    assert "You are number 3 in the queue." in said(step)
    assert step["waiting"]["for"] == "queue"
    assert step["waiting"]["can_be_full"] is False

    step = softphone.post("hangup")
    assert step["waiting"] == {"for": "ended"}
    assert step["outcome"]["queue"] == "business-crime"
    assert step["outcome"]["queue_result"] == "hangup"
    # The call is gone: another step on it is a 404.
    softphone.post("press", expect=404, keys="1")


def test_an_ended_call_is_offered_as_a_call_script_that_replays_green(softphone):
    step = softphone.post("call")
    assert step["script"] is None  # only a call that is over is a script
    softphone.post("press", keys="3")  # cyber crime and fraud
    step = softphone.post("press", keys="4")  # the cyber crime queue
    assert step["waiting"]["for"] == "queue"
    step = softphone.post("queue", choice="answer")
    assert step["waiting"]["for"] == "ended"
    (script,) = load_text(step["script"], "recorded-call.yaml", ROOT)
    assert [s.press for s in script.scenario.steps if s.press] == ["3", "4"]
    assert script.scenario.expect.queue == "call-handlers"
    with Runner(Target(menu=str(MENU))) as runner:
        result = runner.run(script)
    assert result.passed, result.message()


def test_a_handler_answers(softphone):
    softphone.post("call")
    softphone.post("press", keys="2")
    step = softphone.post("queue", choice="answer")
    assert step["waiting"]["for"] == "ended"
    assert step["outcome"]["kind"] == "enqueued"
    assert step["outcome"]["queue_result"] == "bridged"
    # As on Twilio, the call ends with a signed status callback, which the app accepts.
    (status,) = [e for e in step["events"] if e["kind"] == "status-callback"]
    assert (status["url"], status["result"], status["status"]) == (
        "http://localhost/status",
        "completed",
        204,
    )
    assert step["events"][-1]["kind"] == "status-callback"


def test_queue_full_routes_on_and_the_map_follows(softphone):
    softphone.post("call")
    softphone.post("press", keys="2")
    step = softphone.post("queue", choice="queue-full")
    menu = load_menu(MENU)
    full = menu.node("business_queue").on_full
    assert full in step["trail"]
    assert step["node"] != "business_queue"


def test_speech_and_silence(softphone):
    softphone.post("call")
    step = softphone.post("silence")
    assert step["events"][0]["result"] == "silence"
    assert step["waiting"]["for"] == "gather"
    assert step["node"] == "main"
    step = softphone.post("say", words="report a crime")
    assert step["events"][0]["speech"] == "report a crime"
    assert step["waiting"]["for"] == "queue"


@pytest.mark.parametrize(
    ("action", "data", "expect"),
    [
        ("press", {"keys": "2x"}, 400),
        ("press", {}, 400),
        ("say", {"words": "   "}, 400),
        ("say", {"words": "a" * 501}, 400),
        ("queue", {"choice": "answer"}, 409),  # not in a queue yet
        ("dial", {"status": "completed"}, 409),
        ("queue", {"choice": "maybe"}, 400),
        ("dial", {"status": "perhaps"}, 400),
    ],
)
def test_bad_steps_are_refused(softphone, action, data, expect):
    softphone.post("call")
    body = softphone.post(action, expect=expect, **data)
    assert body["error"]
    # The call is still there and still listening.
    assert softphone.post("press", keys="2")["waiting"]["for"] == "queue"


def test_an_unknown_call_is_a_404(softphone):
    softphone.call = "nope"
    assert "no such call" in softphone.post("press", expect=404, keys="1")["error"]


def test_calls_are_capped(phone_app, phone):
    phone_app.extensions["ivr_phone"].sessions.cap = 2
    first, second, third = Softphone(phone), Softphone(phone), Softphone(phone)
    first.post("call")
    second.post("call")
    assert "too many" in third.post("call", expect=503)["error"]
    first.post("hangup")
    third.post("call")


def test_idle_calls_expire(phone_app, phone):
    sessions = phone_app.extensions["ivr_phone"].sessions
    sessions.idle = 0
    softphone = Softphone(phone)
    step = softphone.post("call")
    live = sessions.get(step["call"]).live
    sessions.expire()
    assert len(sessions) == 0
    live.join(5)
    assert live.ended
    assert live.record.outcome.kind == "caller-hangup"


def test_refuses_calls_the_webhooks_would_refuse(config):
    app = create_app(
        {**config, "TWILIO_AUTH_TOKEN": "", "IVR_PHONE": True, "IVR_PHONE_TOKEN": PHONE_TOKEN}
    )
    response = app.test_client().post("/phone/api/call", json={}, headers=BEARER)
    assert response.status_code == 409
    assert "TWILIO_AUTH_TOKEN" in response.get_json()["error"]


def test_unsigned_local_testing_works_too(config):
    app = create_app(
        {
            **config,
            "TWILIO_AUTH_TOKEN": "",
            "IVR_ALLOW_UNSIGNED": True,
            "IVR_PHONE": True,
            "IVR_PHONE_TOKEN": PHONE_TOKEN,
        }
    )
    softphone = Softphone(app.test_client())
    assert softphone.post("call")["node"] == "main"
    assert softphone.post("hangup")["outcome"]["kind"] == "caller-hangup"


def test_calls_are_signed_for_the_public_url(config):
    app = create_app(
        {
            **config,
            "PUBLIC_BASE_URL": "https://ivr.example.org",
            "IVR_PHONE": True,
            "IVR_PHONE_TOKEN": PHONE_TOKEN,
        }
    )
    softphone = Softphone(app.test_client())
    assert softphone.post("call")["node"] == "main"
    assert softphone.post("press", keys="2")["waiting"]["queue"] == "business-crime"
    softphone.post("hangup")


def test_a_transfer_rings_and_is_answered(softphone):
    menu = load_menu(MENU)
    route = next(
        r for r in walk_paths(menu).routes if r.label.startswith("transfer") and r.by_keys_only
    )
    softphone.post("call")
    for key in route.keys[:-1]:
        softphone.post("press", keys=key)
    step = softphone.post("press", keys=route.keys[-1])
    assert step["waiting"]["for"] == "dial"
    assert step["waiting"]["targets"] == [{"kind": "number", "value": route.label.split()[1]}]
    step = softphone.post("dial", status="completed")
    assert step["outcome"]["kind"] == "dialled"


def test_welsh_is_spoken_in_welsh_and_offers_keys_only(config, tmp_path):
    menu = write_menu(tmp_path, bilingual_menu())
    app = create_app(
        {
            **config,
            "IVR_MENU_FILE": str(menu),
            "IVR_PHONE": True,
            "IVR_PHONE_TOKEN": PHONE_TOKEN,
        }
    )
    softphone = Softphone(app.test_client())
    softphone.post("call")
    step = softphone.post("press", keys="9")
    says = [e for e in step["events"] if e["kind"] == "say"]
    assert says
    assert {(e["voice"], e["language"]) for e in says} == {("Polly.Gwyneth", "cy-GB")}
    assert step["waiting"]["input"] == ["dtmf"]
    softphone.post("hangup")


# -- the same destinations as `ivr call --press` --------------------------------------------

KEYED_ROUTES = [r for r in walk_paths(load_menu(MENU)).routes if r.by_keys_only]


@pytest.mark.parametrize("route", KEYED_ROUTES, ids=lambda r: "-".join(r.keys) or "none")
def test_every_keyed_route_reaches_what_ivr_call_reaches(softphone, route):
    args = ["call", "--json"] + [a for k in route.keys for a in ("--press", k)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = json.loads(result.output)["outcome"]

    step = softphone.post("call")
    for key in route.keys:
        assert step["waiting"]["for"] == "gather", (route, step["waiting"])
        step = softphone.post("press", keys=key)
    if step["waiting"]["for"] == "queue":
        step = softphone.post("queue", choice="wait")  # ivr call holds one cycle
        step = softphone.post("queue", choice="answer")
    elif step["waiting"]["for"] == "dial":
        step = softphone.post("dial", status="completed")
    elif step["waiting"]["for"] == "gather":  # ivr call's script ran out: it hangs up
        step = softphone.post("hangup")
    assert step["waiting"]["for"] == "ended"
    outcome = step["outcome"]
    for name in ("kind", "queue", "queue_result", "dialled", "dial_status"):
        assert outcome.get(name) == expected.get(name), (route, name)
    assert step["node"] == route.destination
    assert route.destination in step["trail"]


# -- the token stays out of the access logs ---------------------------------------------------


def test_werkzeug_logs_the_token_request_without_the_token(phone_app, caplog):
    """Flask's development server (``ivr run``) logs each request line at INFO."""
    httpd = make_server("127.0.0.1", 0, phone_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            hop = requests.get(f"{base}/phone?token={PHONE_TOKEN}", allow_redirects=False)
            page = requests.get(f"{base}{hop.headers['Location']}", cookies=hop.cookies)
            wrong = requests.get(f"{base}/phone?x=1&token=wrong{PHONE_TOKEN}")
            api = requests.post(f"{base}/phone/api/call?token={PHONE_TOKEN}", json={})
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    assert (hop.status_code, page.status_code, wrong.status_code, api.status_code) == (
        303,
        200,
        403,
        400,
    )
    # Without the terminal colours werkzeug adds to a request line.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage()) for r in caplog.records]
    assert PHONE_TOKEN not in "\n".join(lines)
    requests_logged = [line for line in lines if "HTTP/1.1" in line]
    assert len(requests_logged) == 4
    assert '"GET /phone?token=[redacted] HTTP/1.1" 303' in requests_logged[0]
    assert '"GET /phone HTTP/1.1" 200' in requests_logged[1]
    assert '"GET /phone?x=1&token=[redacted] HTTP/1.1" 403' in requests_logged[2]


def test_gunicorn_logs_the_token_request_without_the_token(tmp_path):
    """``ivr serve --access-log``: gunicorn's access log, one line per request."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {
        "TWILIO_AUTH_TOKEN": "tok",
        "IVR_MENU_FILE": str(MENU),
        "IVR_PHONE": "1",
        "IVR_PHONE_TOKEN": PHONE_TOKEN,
        "IVR_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "ivr", "serve", "--port", str(port), "--access-log"]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                hop = requests.get(
                    f"http://127.0.0.1:{port}/phone?token={PHONE_TOKEN}",
                    allow_redirects=False,
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert hop.status_code == 303
        assert hop.headers["Content-Security-Policy"] == CSP
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    logged = out.decode() + err.decode()
    assert PHONE_TOKEN not in logged
    assert '"GET /phone?token=[redacted] HTTP/1.1" 303' in logged
