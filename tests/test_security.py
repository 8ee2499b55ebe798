"""Signature checks: 403 unless Twilio signed exactly the URL it requested."""

from __future__ import annotations

import logging

import pytest
from conftest import Twilio

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
