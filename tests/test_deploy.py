"""The deployment guide's claims, tested in-process: tunnels, TLS proxies, `ivr twilio check`."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from ivr import create_app
from ivr.account.provision import signed_test_request, voice_params

MENU = str(Path(__file__).resolve().parent.parent / "menus.json")
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
