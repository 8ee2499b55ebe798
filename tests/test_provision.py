"""ivr.provision and `ivr twilio`, against a recording fake of Twilio's REST API."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from click.testing import CliRunner
from twilio.request_validator import RequestValidator
from twilio_fake import ACCOUNT_SID, API, AUTH_TOKEN, Call, FakeTwilio, client_for

from ivr.account import findings
from ivr.account.findings import TEST_CALL_SID, signed_test_request
from ivr.account.provision import TwilioAccount, client_from_settings
from ivr.cli.twilio import twilio
from ivr.errors import (
    BadCredentials,
    CredentialsMissing,
    NumberNotFound,
    SetupError,
    TwilioError,
    TwilioUnreachable,
)

NUMBER = "+442079460101"
BASE = "https://ivr.example.org"
QUEUES = {"crime": 20, "general": 50}
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Police 101.</Say></Response>'

MENU = {
    "start": "main",
    "nodes": {
        "main": {
            "kind": "menu",
            "prompt": "Police 101.",
            "fallback": "bye",
            "options": [
                {"key": "1", "say": "To report a crime, press 1.", "goto": "crime"},
                {"key": "2", "say": "For anything else, press 2.", "goto": "general"},
            ],
        },
        "crime": {
            "kind": "queue",
            "queue": "crime",
            "max_size": 20,
            "on_full": "bye",
            "on_error": "bye",
        },
        "general": {
            "kind": "queue",
            "queue": "general",
            "max_size": 50,
            "on_full": "bye",
            "on_error": "bye",
        },
        "bye": {"kind": "hangup", "say": "Goodbye."},
    },
}


@pytest.fixture
def fake() -> FakeTwilio:
    fake = FakeTwilio()
    fake.number_sid = fake.add_number(NUMBER)  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def account(fake: FakeTwilio) -> TwilioAccount:
    return TwilioAccount(client_for(fake))


def lookup() -> Call:
    return Call("GET", f"{API}/IncomingPhoneNumbers.json", {"PhoneNumber": NUMBER}, {})


def list_queues() -> Call:
    return Call("GET", f"{API}/Queues.json", {}, {})


# -- setup ------------------------------------------------------------------------------


def test_setup_on_a_new_number_makes_exactly_these_requests(fake, account):
    plan = account.plan_setup(NUMBER, BASE + "/", QUEUES)
    account.apply(plan)

    sid = fake.number_sid
    assert fake.calls == [
        lookup(),
        list_queues(),
        Call(
            "POST",
            f"{API}/IncomingPhoneNumbers/{sid}.json",
            {},
            {
                "VoiceUrl": f"{BASE}/voice",
                "VoiceFallbackUrl": f"{BASE}/fallback",
                "StatusCallback": f"{BASE}/status",
            },
        ),
        Call("POST", f"{API}/Queues.json", {}, {"FriendlyName": "crime", "MaxSize": 20}),
        Call("POST", f"{API}/Queues.json", {}, {"FriendlyName": "general", "MaxSize": 50}),
    ]


def test_setup_twice_changes_nothing_the_second_time(fake, account):
    account.apply(account.plan_setup(NUMBER, BASE, QUEUES))
    fake.calls.clear()

    plan = account.plan_setup(NUMBER, BASE, QUEUES)
    account.apply(plan)

    assert not plan
    assert plan.changes == ()
    assert fake.writes == []
    assert fake.calls == [lookup(), list_queues()]


def test_setup_resizes_a_queue_fixes_methods_and_takes_off_an_application(fake, account):
    fake.numbers[fake.number_sid].update(
        voice_url=f"{BASE}/voice",
        voice_method="GET",
        voice_fallback_url=f"{BASE}/fallback",
        status_callback=f"{BASE}/status",
        voice_application_sid="AP" + "1" * 32,
    )
    fake.add_queue("crime", max_size=20)
    general = fake.add_queue("general", max_size=10)

    plan = account.plan_setup(NUMBER, BASE, QUEUES)
    account.apply(plan)

    assert fake.writes == [
        Call(
            "POST",
            f"{API}/IncomingPhoneNumbers/{fake.number_sid}.json",
            {},
            {"VoiceMethod": "POST", "VoiceApplicationSid": ""},
        ),
        Call("POST", f"{API}/Queues/{general}.json", {}, {"MaxSize": 50}),
    ]
    assert fake.queues[general]["max_size"] == 50


def test_dry_run_diff_shows_current_and_new_and_writes_nothing(fake, account):
    fake.add_queue("general", max_size=10)
    plan = account.plan_setup(NUMBER, BASE, QUEUES)

    assert plan.diff().splitlines() == [
        f"@@ number {NUMBER} @@",
        "- VoiceUrl: https://demo.twilio.com/welcome/voice/",
        f"+ VoiceUrl: {BASE}/voice",
        "- VoiceFallbackUrl: (empty)",
        f"+ VoiceFallbackUrl: {BASE}/fallback",
        "- StatusCallback: (empty)",
        f"+ StatusCallback: {BASE}/status",
        "@@ queue crime (new) @@",
        "+ MaxSize: 20",
        "@@ queue general @@",
        "- MaxSize: 10",
        "+ MaxSize: 50",
    ]
    assert fake.writes == []


def test_setup_says_what_it_cannot_fix(fake, account):
    fake.numbers[fake.number_sid]["trunk_sid"] = "TK" + "1" * 32
    account.apply(account.plan_setup(NUMBER, BASE, QUEUES))
    plan = account.plan_setup(NUMBER, BASE, QUEUES)
    assert not plan
    assert plan.diff().splitlines() == [
        f"number {NUMBER} and its queues are already set up: nothing to change",
        f"! {NUMBER} belongs to SIP trunk TK{'1' * 32}, which overrides its voice URLs: remove "
        "it from the trunk in the console",
    ]


def test_the_number_is_found_in_any_uk_format(fake, account):
    assert account.number("020 7946 0101").sid == fake.number_sid
    assert fake.calls == [lookup()]


def test_a_number_that_only_contains_the_wanted_one_is_not_it(fake, account):
    fake.numbers.clear()
    fake.add_number(NUMBER + "9")
    with pytest.raises(NumberNotFound):
        account.number(NUMBER)


# -- errors -------------------------------------------------------------------------


def test_unknown_number(account):
    with pytest.raises(NumberNotFound) as info:
        account.plan_setup("+442079460999", BASE, QUEUES)
    assert "+442079460999 is not a phone number on Twilio account" in str(info.value)


def test_not_a_phone_number(account):
    with pytest.raises(SetupError, match="--number"):
        account.number("not a number")


def test_bad_credentials(fake):
    account = TwilioAccount(client_for(fake, token="wrong"))
    with pytest.raises(BadCredentials) as info:
        account.plan_setup(NUMBER, BASE, QUEUES)
    assert info.value.code == 20003
    assert ACCOUNT_SID in str(info.value)


def test_bad_credentials_on_a_write(fake, account):
    plan = account.plan_setup(NUMBER, BASE, QUEUES)
    fake.credentials = (ACCOUNT_SID, "rotated")
    with pytest.raises(BadCredentials):
        account.apply(plan)


def test_no_network(fake, account):
    fake.offline = True
    with pytest.raises(TwilioUnreachable) as info:
        account.queues()
    assert str(info.value) == (
        "cannot reach https://api.twilio.com: temporary failure in name resolution"
    )


def test_twilio_refusing_a_write_is_a_clear_error(fake, account):
    plan = account.plan_setup(NUMBER, BASE, QUEUES)
    fake.failures[("POST", "/Queues.json")] = (
        400,
        {"code": 22202, "message": "Max size is too large", "status": 400},
    )
    with pytest.raises(TwilioError) as info:
        account.apply(plan)
    assert (info.value.status, info.value.code) == (400, 22202)
    assert str(info.value) == (
        f"Twilio refused POST /Accounts/{ACCOUNT_SID}/Queues.json (HTTP 400, error 22202): "
        "Unable to create record: Max size is too large"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 20003, "message": "Authenticate", "status": 401}, BadCredentials),
        (
            {
                "type": "https://www.twilio.com/docs/errors/20003",
                "title": "Authenticate",
                "status": 401,
                "code": 20003,
            },
            BadCredentials,
        ),
        (
            {
                "type": "https://www.twilio.com/docs/errors/20500",
                "title": "Internal error",
                "status": 500,
                "code": 20500,
            },
            TwilioError,
        ),
    ],
)
def test_a_failed_list_page_in_either_error_format(fake, account, body, expected):
    fake.failures[("GET", "/Queues.json")] = (body["status"], body)
    with pytest.raises(expected):
        account.queues()


@pytest.mark.parametrize("base", ["ivr.example.org", "ftp://x", "https://x/?a=1", ""])
def test_unusable_base_url(account, base):
    with pytest.raises(SetupError, match="PUBLIC_BASE_URL"):
        account.plan_setup(NUMBER, base, QUEUES)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({}, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN (or"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": "SK1"}, "TWILIO_API_SECRET"),
    ],
)
def test_missing_credentials(settings, missing):
    with pytest.raises(CredentialsMissing, match=re.escape(missing)):
        client_from_settings(settings)


def test_api_key_credentials():
    client = client_from_settings(
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": "SK1", "TWILIO_API_SECRET": "s"}
    )
    assert (client.username, client.password, client.account_sid) == ("SK1", "s", ACCOUNT_SID)


def test_api_key_requests_go_to_the_account(fake):
    fake.credentials = ("SK1", "s")
    client = client_from_settings(
        {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_KEY": "SK1", "TWILIO_API_SECRET": "s"}
    )
    client.http_client = fake
    TwilioAccount(client).queues()
    assert fake.calls == [list_queues()]


# -- queues ---------------------------------------------------------------------------


def test_queues_live_size_and_wait(fake, account):
    fake.add_queue("crime", max_size=20, current_size=3, wait=95)
    fake.add_queue("other", max_size=5)
    rows = account.queues(["crime", "general"])
    assert [(q.name, q.exists, q.current_size, q.average_wait, q.max_size) for q in rows] == [
        ("crime", True, 3, 95, 20),
        ("general", False, 0, 0, 0),
    ]
    assert [q.name for q in account.queues()] == ["crime", "other"]


# -- check ----------------------------------------------------------------------------


@pytest.fixture
def voice_app():
    """Our app's /voice behind the tunnel, as `responses` sees it: checks the signature."""
    with responses.RequestsMock() as mock:

        def answer(request):
            params = dict(parse_qsl(request.body))
            signature = request.headers.get("X-Twilio-Signature", "")
            if not RequestValidator(AUTH_TOKEN).validate(request.url, params, signature):
                return (403, {}, "invalid signature")
            return (200, {"Content-Type": "text/xml; charset=utf-8"}, TWIML)

        mock.add_callback(responses.POST, f"{BASE}/voice", callback=answer)
        yield mock


def test_check_after_setup_is_all_ok(fake, account, voice_app):
    account.apply(account.plan_setup(NUMBER, BASE, QUEUES))
    fake.calls.clear()

    findings = account.check(NUMBER, BASE, QUEUES, AUTH_TOKEN)

    assert [f.level for f in findings] == ["ok"] * len(findings)
    assert [str(f) for f in findings] == [
        f"[ok] number {NUMBER}: VoiceUrl is {BASE}/voice",
        f"[ok] number {NUMBER}: VoiceFallbackUrl is {BASE}/fallback",
        f"[ok] number {NUMBER}: StatusCallback is {BASE}/status",
        "[ok] queue crime: max size 20",
        "[ok] queue general: max size 50",
        f"[ok] signed test request: POST {BASE}/voice -> 200 with TwiML",
    ]
    assert fake.calls == [lookup(), list_queues()]
    sent = voice_app.calls[0].request
    form = dict(parse_qsl(sent.body))
    assert form["CallSid"] == TEST_CALL_SID
    assert form["To"] == NUMBER
    assert sent.headers["X-Twilio-Signature"] == RequestValidator(AUTH_TOKEN).compute_signature(
        f"{BASE}/voice", form
    )


def test_check_flags_every_mismatch(fake, account, voice_app):
    fake.numbers[fake.number_sid].update(voice_url="http://old.example.org/voice")
    fake.add_queue("crime", max_size=5)

    findings = [str(f) for f in account.check(NUMBER, BASE, QUEUES, "another-token")]

    assert findings == [
        f"[error] number {NUMBER}: VoiceUrl is http, not https: http://old.example.org/voice "
        f"(want {BASE}/voice)",
        f"[error] number {NUMBER}: no fallback URL: if the app fails, callers hear Twilio's "
        f"error (want {BASE}/fallback)",
        f"[error] number {NUMBER}: no status callback: ended calls are not recorded "
        f"(want {BASE}/status)",
        "[error] queue crime: too small: max size 5, the menu wants 20",
        "[error] queue general: missing on Twilio (want max size 50)",
        f"[error] signed test request: POST {BASE}/voice -> 403: the app rejected the signature; "
        "TWILIO_AUTH_TOKEN differs from the app's, or a proxy changes the URL (set "
        "PUBLIC_BASE_URL, or IVR_TRUSTED_PROXIES)",
    ]


def test_check_flags_an_http_base_url(account):
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST, "http://ivr.example.org/voice", body=TWIML, content_type="text/xml"
        )
        findings = account.check(NUMBER, "http://ivr.example.org", {}, AUTH_TOKEN)
    assert findings[0].level == "error"
    assert findings[0].subject == "PUBLIC_BASE_URL"
    assert "http, not https" in findings[0].message


def test_check_without_auth_token_sends_no_test_request(account):
    findings = account.check(NUMBER, BASE, {}, None)
    assert findings[-1].level == "warning"
    assert "TWILIO_AUTH_TOKEN is not set" in findings[-1].message


@pytest.mark.parametrize(
    ("kwargs", "detail"),
    [
        (
            {"body": requests.ConnectionError("Connection refused")},
            "cannot connect (connection refused)",
        ),
        ({"body": requests.ReadTimeout("slow")}, "no answer within 10 s"),
        ({"status": 502, "body": "Bad Gateway\nngrok"}, "502: Bad Gateway"),
        (
            {"status": 200, "body": "<html>hello</html>", "content_type": "text/html"},
            "200 but no TwiML came back (is PUBLIC_BASE_URL pointing at this app?)",
        ),
        (
            {"status": 301, "headers": {"Location": "https://www.example.org/voice"}},
            "301 redirect to https://www.example.org/voice: Twilio signs the URL it was given, "
            "so a redirect fails the signature; use the final URL as PUBLIC_BASE_URL",
        ),
    ],
)
def test_signed_test_request_failures(kwargs, detail):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/voice", **kwargs)
        trip = signed_test_request(f"{BASE}/voice", AUTH_TOKEN, NUMBER)
    assert (trip.twiml, trip.detail) == (False, detail)


def test_a_slow_answer_is_a_warning():
    ticks = iter([100.0, 107.5])
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/voice", body=TWIML, content_type="text/xml")
        trip = signed_test_request(f"{BASE}/voice", AUTH_TOKEN, NUMBER, clock=lambda: next(ticks))
    finding = findings.round_trip_finding(trip)
    assert finding.level == "warning"
    assert "in 7.5 s: Twilio waits 15 s in all" in finding.message


def test_signed_test_request_uses_an_injected_post():
    sent = {}

    def post(url, **kwargs):
        sent.update(url=url, **kwargs)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/xml"
        response._content = TWIML.encode()
        return response

    trip = signed_test_request(f"{BASE}/voice", AUTH_TOKEN, NUMBER, post=post)
    assert trip.status == 200 and trip.twiml
    assert sent["allow_redirects"] is False
    assert sent["data"]["CallSid"] == TEST_CALL_SID


# -- the CLI ------------------------------------------------------------------------


@pytest.fixture
def cli(fake, tmp_path, monkeypatch):
    menu = tmp_path / "menus.json"
    menu.write_text(json.dumps(MENU))
    monkeypatch.chdir(tmp_path)
    for name in (
        "TWILIO_PHONE_NUMBER",
        "TWILIO_HANDLER_NUMBER",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "IVR_MENU_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(
            twilio,
            list(args),
            obj={"account_factory": lambda settings: TwilioAccount(client_for(fake))},
        )

    return invoke


def test_cli_setup_dry_run_then_setup_then_nothing(cli, fake):
    result = cli("setup", "--number", NUMBER, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"+ VoiceUrl: {BASE}/voice" in result.output
    assert result.output.endswith("dry run: 5 change(s) not made\n")
    assert fake.writes == []

    result = cli("setup", "--number", NUMBER)
    assert result.exit_code == 0, result.output
    assert result.output.endswith("made 5 change(s)\n")
    assert len(fake.writes) == 3

    result = cli("setup", "--number", NUMBER)
    assert result.exit_code == 0
    assert result.output == (
        f"number {NUMBER} and its queues are already set up: nothing to change\n"
    )
    assert len(fake.writes) == 3


def test_cli_check_exits_1_on_problems_and_0_when_fixed(cli, fake):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/voice", body=TWIML, content_type="text/xml")
        result = cli("check", "--number", NUMBER)
        assert result.exit_code == 1
        assert "[error] queue crime: missing on Twilio" in result.output
        cli("setup", "--number", NUMBER)
        result = cli("check")  # no --number: the number whose voice URL is ours
        assert result.exit_code == 0, result.output
        assert "[error]" not in result.output


def test_cli_queues(cli, fake):
    fake.add_queue("crime", max_size=20, current_size=2, wait=130)
    result = cli("queues")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "queue    waiting  average wait  max size",
        "crime          2        2m 10s        20",
        "general  (not created: run `ivr twilio setup`)",
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            lambda fake, env: setattr(fake, "credentials", ("x", "y")),
            f"Error: Twilio rejected the credentials for account {ACCOUNT_SID}",
        ),
        (
            lambda fake, env: setattr(fake, "offline", True),
            "Error: cannot reach https://api.twilio.com: temporary failure in name resolution",
        ),
        (lambda fake, env: env.delenv("PUBLIC_BASE_URL"), "Error: PUBLIC_BASE_URL: not set"),
        (lambda fake, env: env.setenv("IVR_MENU_FILE", "nope.json"), "nope.json: 1 error(s)"),
    ],
)
def test_cli_errors_are_one_line_not_tracebacks(cli, fake, monkeypatch, setup, message):
    setup(fake, monkeypatch)
    result = cli("setup", "--number", NUMBER)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_cli_unknown_number(cli):
    result = cli("setup", "--number", "+442079460999")
    assert result.exit_code == 1
    assert result.output.startswith("Error: +442079460999 is not a phone number on Twilio")


def test_cli_credentials_from_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "menus.json").write_text(json.dumps(MENU))
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    result = CliRunner().invoke(twilio, ["queues"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no Twilio credentials: set TWILIO_ACCOUNT_SID")


def test_cli_reads_dot_env_below_the_environment(cli, fake, monkeypatch, tmp_path):
    monkeypatch.delenv("PUBLIC_BASE_URL")
    (tmp_path / ".env").write_text(
        "PUBLIC_BASE_URL=https://from-dotenv.example.org\nTWILIO_PHONE_NUMBER=+442079460101\n"
    )
    result = cli("setup", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+ VoiceUrl: https://from-dotenv.example.org/voice" in result.output
    assert "PUBLIC_BASE_URL" not in os.environ


@pytest.mark.parametrize("command", ["setup", "check", "queues"])
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(twilio, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_cli_setup_needs_a_number(cli):
    result = cli("setup")
    assert result.exit_code == 1
    assert result.output == (
        "Error: --number: name the Twilio number (or set TWILIO_PHONE_NUMBER)\n"
    )


# -- the handler line's number ----------------------------------------------------------------

STAFF = "+442079460199"


def test_setup_points_the_staff_number_at_handler(fake, account):
    staff = fake.add_number(STAFF, voice_fallback_url="https://old.example.org/fallback")
    plan = account.plan_setup(STAFF, BASE, {}, handler_line=True)
    account.apply(plan)
    assert fake.calls == [
        Call("GET", f"{API}/IncomingPhoneNumbers.json", {"PhoneNumber": STAFF}, {}),
        Call(
            "POST",
            f"{API}/IncomingPhoneNumbers/{staff}.json",
            {},
            {
                "VoiceUrl": f"{BASE}/handler",
                "VoiceFallbackUrl": "",
                "StatusCallback": f"{BASE}/status",
            },
        ),
    ]
    assert not account.plan_setup(STAFF, BASE, {}, handler_line=True)
    assert [str(f) for f in account.check(STAFF, BASE, {}, AUTH_TOKEN, handler_line=True)] == [
        f"[ok] handler line {STAFF}: VoiceUrl is {BASE}/handler",
        f"[ok] handler line {STAFF}: StatusCallback is {BASE}/status",
    ]


def test_cli_sets_up_and_checks_both_numbers(cli, fake):
    fake.add_number(STAFF)
    result = cli("setup", "--number", NUMBER, "--handler-number", STAFF)
    assert result.exit_code == 0, result.output
    assert (
        f"@@ number {STAFF} @@\n- VoiceUrl: https://demo.twilio.com/welcome/voice/\n"
        f"+ VoiceUrl: {BASE}/handler\n" in result.output
    )
    assert result.output.endswith("made 7 change(s)\n")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/voice", body=TWIML, content_type="text/xml")
        result = cli("check", "--number", NUMBER, "--handler-number", STAFF)
    assert result.exit_code == 0, result.output
    assert f"[ok] handler line {STAFF}: VoiceUrl is {BASE}/handler" in result.output


def test_cli_check_without_number_skips_the_staff_line(cli, fake):
    fake.add_number(STAFF)
    cli("setup", "--number", NUMBER, "--handler-number", STAFF)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/voice", body=TWIML, content_type="text/xml")
        result = cli("check")
    assert result.exit_code == 0, result.output
    assert STAFF not in result.output
    assert f"[ok] number {NUMBER}: VoiceUrl is {BASE}/voice" in result.output
