"""The softphone (ivr.phone): its token, its JSON API, and the route it shows on the menu."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MENU, bilingual_menu, write_menu

from ivr import create_app
from ivr.authoring.paths import walk_paths
from ivr.cli import cli
from ivr.errors import ConfigError
from ivr.menu import load_menu
from ivr.softphone.views import COOKIE, cookie_value

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


def test_every_route_wants_the_token(phone_app, phone):
    found = routes(phone_app)
    assert ("GET", "/phone") in found
    assert ("POST", "/phone/api/press") in found
    assert len(found) == 10
    for method, path in found:
        response = phone.open(path, method=method, json={})
        response.close()
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        for bad in (
            {"headers": {"Authorization": "Bearer wrong-token-0123456789abcdef"}},
            {"query_string": {"token": PHONE_TOKEN[:-1]}},
        ):
            response = phone.open(path, method=method, json={}, **bad)
            assert response.status_code == 403, (method, path, bad)


def test_a_wrong_cookie_is_refused(phone):
    phone.set_cookie(COOKIE, "0" * 64, path="/phone")
    assert phone.get("/phone").status_code == 403


def test_token_in_the_address_becomes_a_cookie(phone):
    response = phone.get(f"/phone?token={PHONE_TOKEN}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/phone"
    cookie = response.headers["Set-Cookie"]
    assert f"{COOKIE}={cookie_value(PHONE_TOKEN)}" in cookie
    assert PHONE_TOKEN not in cookie
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/phone"):
        assert flag in cookie
    page = phone.get("/phone")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    with phone.get("/phone/static/phone.js") as script:
        assert script.status_code == 200
    assert phone.post("/phone/api/call", json={}).status_code == 200


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
