"""Signature checks: 403 unless Twilio signed exactly the URL it requested."""

from __future__ import annotations

import logging

import pytest
from conftest import TOKEN, Twilio
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ivr import create_app

ROUTES = [
    "/voice",
    "/node/main",
    "/menu/main?attempt=1",
    "/queue/crime_queue/wait?cycle=0",
    "/queue/crime_queue/result",
    "/transfer/transfer_report_fraud/result",
    "/status",
    "/fallback",
    "/handler",
]


@pytest.mark.parametrize("path", ROUTES)
def test_unsigned_requests_are_refused(client, path):
    response = client.post(path, data={"CallSid": "CA1", "Digits": "1"})
    assert response.status_code == 403
    assert b"Traceback" not in response.data


@pytest.mark.parametrize("path", ROUTES)
def test_forged_signatures_are_refused(client, path):
    forger = Twilio(client, token="not-the-real-token")
    assert forger.post(path, Digits="1").status_code == 403


@pytest.mark.parametrize("path", ROUTES)
def test_signed_requests_are_served(twilio, path):
    assert twilio.post(path, Digits="1", QueueResult="bridged").status_code in (200, 204)


def test_tampered_parameters_break_the_signature(client, twilio):
    form = {"CallSid": twilio.call_sid, "Digits": "1"}
    signature = twilio.validator.compute_signature("http://localhost/menu/main?attempt=1", form)
    response = client.post(
        "/menu/main?attempt=1",
        data={**form, "Digits": "2"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    # ...and so does a changed query string (the call state lives there).
    response = client.post(
        "/menu/main?attempt=3", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_no_auth_token_means_every_webhook_refuses(config, caplog):
    config["TWILIO_AUTH_TOKEN"] = ""
    app = create_app(config)
    assert "every webhook will answer 403" in caplog.text
    twilio = Twilio(app.test_client())
    assert twilio.post("/voice").status_code == 403
    assert "TWILIO_AUTH_TOKEN is not set" in caplog.text


def test_allow_unsigned_is_explicit_and_loud(config, caplog):
    caplog.set_level(logging.WARNING, "ivr")
    config["IVR_ALLOW_UNSIGNED"] = True
    client = create_app(config).test_client()
    assert "IVR_ALLOW_UNSIGNED is on" in caplog.text
    assert client.post("/voice", data={"CallSid": "CA1"}).status_code == 200


def test_behind_a_tunnel_the_public_base_url_is_what_twilio_signed(config):
    config["PUBLIC_BASE_URL"] = "https://abc123.ngrok-free.app"
    client = create_app(config).test_client()
    assert Twilio(client, base="https://abc123.ngrok-free.app").post("/voice").status_code == 200
    # What the app sees locally is not what Twilio signed.
    assert Twilio(client, base="http://localhost").post("/voice").status_code == 403


def test_public_base_url_with_a_path_prefix(config):
    """A proxy serving the app at https://police.example/ivr/ and stripping the prefix."""
    config["PUBLIC_BASE_URL"] = "https://police.example/ivr/"
    client = create_app(config).test_client()
    twilio = Twilio(client, base="https://police.example/ivr")
    root = twilio.twiml("/voice")
    # The next URLs keep the prefix, so Twilio asks the proxy for the right place...
    assert root.find("Gather").get("action") == "/ivr/menu/main?attempt=1"
    root = twilio.twiml("/menu/main?attempt=1", Digits="3")
    assert root.find("Gather").get("action") == "/ivr/menu/cyber?attempt=1"
    # ...and the app, seeing /node/main, checks the signature over the public URL.
    assert twilio.post("/node/main").status_code == 200


def test_query_strings_are_checked_raw_not_decoded(twilio):
    # Werkzeug decodes %C3%A9 and %2D in request.url; Twilio signed the encoded form.
    assert twilio.post("/node/main?lang=en%2DGB&note=caf%C3%A9&x=a+b").status_code == 200
    assert twilio.post("/menu/main?attempt=1&empty=&flag", Digits="1").status_code == 200


def test_encoded_slash_in_the_path(twilio):
    # A node name can never hold '/', but the check must still be over the raw path.
    response = twilio.post("/node/main%2Fx")
    assert response.status_code in (200, 404)
    assert response.status_code != 403


def test_port_in_the_signed_url(config):
    config["PUBLIC_BASE_URL"] = "https://police.example:8443"
    client = create_app(config).test_client()
    assert Twilio(client, base="https://police.example:8443").post("/voice").status_code == 200


def test_trusted_proxy_headers_rebuild_the_public_url(config):
    config["IVR_TRUSTED_PROXIES"] = 1
    client = create_app(config).test_client()
    twilio = Twilio(client, base="https://police.example")
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "police.example"}
    assert twilio.post("/voice", headers=headers).status_code == 200
    assert twilio.post("/voice").status_code == 403


def test_proxy_headers_are_ignored_unless_trusted(twilio):
    # Without IVR_TRUSTED_PROXIES a client cannot choose the URL the signature is checked on.
    forged = Twilio(twilio.client, base="https://police.example")
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "police.example"}
    assert forged.post("/voice", headers=headers).status_code == 403


def test_rejections_are_logged_with_a_hint(client, caplog):
    client.post("/voice", data={"CallSid": "CA42"}, headers={"X-Twilio-Signature": "bad"})
    assert "invalid signature" in caplog.text and "CA42" in caplog.text
    assert "PUBLIC_BASE_URL" in caplog.text


def test_unsigned_mode_is_refused_with_a_public_base_url(config):
    from ivr.errors import ConfigError

    config.update(IVR_ALLOW_UNSIGNED=True, PUBLIC_BASE_URL="https://abc123.ngrok-free.app")
    with pytest.raises(ConfigError, match="IVR_ALLOW_UNSIGNED"):
        create_app(config)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_ivr_run_refuses_unsigned_mode_off_localhost(host, monkeypatch):
    from click.testing import CliRunner

    from ivr.cli import cli

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("IVR_ALLOW_UNSIGNED", "0")  # restored after `ivr run` sets it
    monkeypatch.setattr("flask.Flask.run", lambda *a, **k: pytest.fail("must not serve"))
    result = CliRunner().invoke(cli, ["run", "--host", host, "--allow-unsigned"])
    assert result.exit_code == 1
    assert "only for localhost" in result.output


def test_ivr_run_serves_unsigned_on_localhost(monkeypatch):
    from click.testing import CliRunner

    from ivr.cli import cli

    served = {}
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("IVR_ALLOW_UNSIGNED", "0")  # restored after `ivr run` sets it
    monkeypatch.setattr("flask.Flask.run", lambda self, host, port, debug: served.update(host=host))
    result = CliRunner().invoke(cli, ["run", "--host", "127.0.0.1", "--allow-unsigned"])
    assert result.exit_code == 0, result.output
    assert served == {"host": "127.0.0.1"}
    assert "Signatures are NOT checked" in result.output


def test_ivr_serve_never_runs_unsigned(monkeypatch):
    from click.testing import CliRunner

    from ivr.cli import cli

    monkeypatch.setenv("IVR_ALLOW_UNSIGNED", "1")
    monkeypatch.setattr("ivr.webhooks.serve.Server.run", lambda self: pytest.fail("must not serve"))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "never accepts unsigned" in result.output


# -- every route of the app, present and future, generated from its URL map ---------------

# Values for the URL map's arguments: real ones, so that a route missing its check would do
# real work (store a callback, take a caller) rather than 404.
ARGUMENTS = {"node_id": "crime_queue", "step": "number", "name": "phone.js"}
# The softphone's routes are for a person with a browser, not for Twilio: no Twilio signature
# opens them (or is needed); its token does. Without it they answer 401 or 403.
TOKEN_PROTECTED = "phone."


def _every_route(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        path = rule.build({name: ARGUMENTS[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, path))
    return routes


@pytest.fixture
def whole_app(config):
    """The app with every optional part on: the softphone, the handler line, the journey log."""
    config.update(
        IVR_PHONE=True,
        IVR_PHONE_TOKEN="phone-token-0123456789abcdef0123",
        IVR_HANDLER_NUMBERS="+447700900001",
        IVR_HANDLER_PIN="123456",
        DATABASE_URL="sqlite://",
    )
    return create_app(config)


def test_the_url_map_holds_every_route_kind(whole_app):
    """So that the generated tests below really cover them (today's routes; new ones join in)."""
    endpoints = {endpoint for endpoint, _, _ in _every_route(whole_app)}
    assert {
        "voice.voice",
        "voice.announcement",
        "voice.queue_callback",
        "handler.door",
        "handler.take",
        "phone.start_call",
    } <= endpoints
    assert len(endpoints) >= 25


def _call(client, method: str, path: str, signature: str | None):
    form = {"CallSid": "CA" + "9" * 32, "From": "+447700900001", "Digits": "07700900123#"}
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    if method == "GET":
        return client.get(path, headers=headers)
    return client.open(path, method=method, data=form, headers=headers)


def test_every_route_refuses_unsigned_requests(whole_app):
    client = whole_app.test_client()
    for endpoint, method, path in _every_route(whole_app):
        status = _call(client, method, path, None).status_code
        allowed = (401, 403) if endpoint.startswith(TOKEN_PROTECTED) else (403,)
        assert status in allowed, f"{method} {path} ({endpoint}) answered {status} unsigned"


def test_every_route_refuses_forged_signatures(whole_app):
    client = whole_app.test_client()
    forger = RequestValidator("not-the-real-token")
    for endpoint, method, path in _every_route(whole_app):
        form = {"CallSid": "CA" + "9" * 32, "From": "+447700900001", "Digits": "07700900123#"}
        forged = forger.compute_signature("http://localhost" + path, form)
        status = _call(client, method, path, forged).status_code
        allowed = (401, 403) if endpoint.startswith(TOKEN_PROTECTED) else (403,)
        assert status in allowed, f"{method} {path} ({endpoint}) answered {status} forged"


# -- unsigned mode: this machine only, whatever serves the app ---------------------------


@pytest.fixture
def unsigned(config):
    config.update(IVR_ALLOW_UNSIGNED=True, TWILIO_AUTH_TOKEN="")
    return create_app(config).test_client()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_unsigned_mode_answers_clients_on_this_machine(unsigned, address):
    answer = unsigned.post("/voice", data={"CallSid": "CA1"}, environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == 200


@pytest.mark.parametrize("address", ["192.0.2.10", "10.0.0.7", "2001:db8::1", "", "unix"])
def test_unsigned_mode_refuses_other_machines(unsigned, address, caplog):
    answer = unsigned.post("/voice", data={"CallSid": "CA1"}, environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == 403
    assert "unsigned mode (IVR_ALLOW_UNSIGNED) answers only this machine" in caplog.text


@pytest.mark.parametrize(
    "header",
    ["X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host", "CF-Connecting-IP"],
)
def test_unsigned_mode_refuses_what_a_local_proxy_or_tunnel_relays(unsigned, header, caplog):
    # ngrok, cloudflared and nginx connect from 127.0.0.1 and say whom they relay.
    answer = unsigned.post("/voice", data={"CallSid": "CA1"}, headers={header: "198.51.100.7"})
    assert answer.status_code == 403
    assert "relayed by a proxy or tunnel" in caplog.text


def test_unsigned_mode_is_refused_behind_trusted_proxies(config):
    from ivr.errors import ConfigError

    config.update(IVR_ALLOW_UNSIGNED=True, IVR_TRUSTED_PROXIES=1)
    with pytest.raises(ConfigError, match="IVR_TRUSTED_PROXIES"):
        create_app(config)


# -- proxies: what gunicorn and the app believe agree; a stripped prefix ------------------


def test_a_prefix_stripped_by_a_trusted_proxy_is_in_the_signed_url(config):
    """nginx ``location /ivr/ { proxy_pass http://127.0.0.1:8000/; }`` with X-Forwarded-Prefix:
    Twilio signed https://police.example/ivr/voice; the app sees /voice."""
    config["IVR_TRUSTED_PROXIES"] = 1
    client = create_app(config).test_client()
    twilio = Twilio(client, base="https://police.example/ivr")
    headers = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "police.example",
        "X-Forwarded-Prefix": "/ivr",
    }
    assert twilio.post("/voice", headers=headers).status_code == 200
    assert twilio.post("/menu/main?attempt=1", headers=headers, Digits="1").status_code == 200
    # A trailing slash on the prefix is the same prefix.
    slash = headers | {"X-Forwarded-Prefix": "/ivr/"}
    assert twilio.post("/voice", headers=slash).status_code == 200
    # Without the header the URL has no prefix, so the signature (over /ivr/voice) fails.
    assert twilio.post("/voice", headers=headers | {"X-Forwarded-Prefix": ""}).status_code == 403


def test_a_stripped_prefix_without_public_base_url_is_named_once(config, caplog):
    """The URLs handed to Twilio take their prefix from PUBLIC_BASE_URL: say how to fix it."""
    config["IVR_TRUSTED_PROXIES"] = 1
    twilio = Twilio(create_app(config).test_client(), base="http://localhost/ivr-once")
    for _ in range(3):
        twilio.post("/voice", headers={"X-Forwarded-Prefix": "/ivr-once"})
    hints = [r for r in caplog.records if "X-Forwarded-Prefix" in r.getMessage()]
    assert len(hints) == 1
    assert "set PUBLIC_BASE_URL=https://<host>/ivr-once" in hints[0].getMessage()


def test_a_prefix_stripped_with_public_base_url_set(config):
    config.update(IVR_TRUSTED_PROXIES=1, PUBLIC_BASE_URL="https://police.example/ivr")
    client = create_app(config).test_client()
    twilio = Twilio(client, base="https://police.example/ivr")
    root = twilio.twiml("/voice", headers={"X-Forwarded-Prefix": "/ivr"})
    assert root.find("Gather").get("action") == "/ivr/menu/main?attempt=1"


def test_a_prefix_header_is_ignored_unless_proxies_are_trusted(config):
    client = create_app(config).test_client()
    forged = Twilio(client, base="http://localhost/ivr")
    assert forged.post("/voice", headers={"X-Forwarded-Prefix": "/ivr"}).status_code == 403
    assert Twilio(client).post("/voice", headers={"X-Forwarded-Prefix": "/ivr"}).status_code == 200


# -- the port variants Twilio's validator accepts -------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.sampled_from(["localhost", "police.example", "127.0.0.1", "abc.ngrok-free.app"]),
    port=st.one_of(st.none(), st.sampled_from([80, 443, 5000, 8443])),
    path=st.sampled_from(["/voice", "/menu/main", "/ivr/node/a%2Fb", "/"]),
    query=st.sampled_from(["", "attempt=1", "lang=en%2DGB&x=a+b"]),
    signed_with_port=st.booleans(),
)
def test_port_variants_match_twilio_python(scheme, host, port, path, query, signed_with_port):
    """``valid_signature`` accepts exactly what ``RequestValidator.validate`` accepts."""
    from ivr.webhooks.security import valid_signature

    netloc = host if port is None else f"{host}:{port}"
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    validator = RequestValidator(TOKEN)
    params = {"CallSid": "CA1", "Digits": "1"}
    default = 443 if scheme == "https" else 80
    signed_url = url
    if signed_with_port and port is None:
        signed_url = f"{scheme}://{host}:{default}{path}" + (f"?{query}" if query else "")
    elif not signed_with_port and port is not None:
        signed_url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    signature = validator.compute_signature(signed_url, params)
    assert valid_signature(TOKEN, url, params, signature) == validator.validate(
        url, params, signature
    )
    assert valid_signature(TOKEN, url, params, signature)


def test_port_variants_of_an_ipv6_host():
    """twilio-python cuts ``[::1]:8080`` at its first colon; ours keeps the address."""
    from ivr.webhooks.security import _url_variants

    assert _url_variants("http://[::1]:8080/voice") == (
        "http://[::1]:8080/voice",
        "http://[::1]/voice",
    )
    assert _url_variants("https://[2001:db8::1]/voice?a=1") == (
        "https://[2001:db8::1]/voice?a=1",
        "https://[2001:db8::1]:443/voice?a=1",
    )
