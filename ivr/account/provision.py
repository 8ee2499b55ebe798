"""Setting up a Twilio number and its queues for the menu, and checking the set-up.

Everything goes through one injectable twilio ``Client`` (tests pass one whose ``http_client``
is a recording fake), and every Twilio failure leaves as an :class:`~ivr.errors.IVRError`.
No Flask here: the CLI (``ivr twilio``) and the call-handler line both use this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ..errors import (
    BadCredentials,
    CredentialsMissing,
    NumberNotFound,
    SetupError,
    TwilioError,
    TwilioUnreachable,
)
from ..numbers import to_e164
from .findings import (
    Change,
    Finding,
    Plan,
    Post,
    queue_finding,
    reason_of,
    round_trip_finding,
    signed_test_request,
    url_finding,
)

log = logging.getLogger("ivr.provision")

API_TIMEOUT = 15.0
"""Seconds to wait for Twilio's REST API before giving up (the library default is forever)."""

# The number's fields ``ivr twilio setup`` owns, in the order they are shown and sent.
NUMBER_FIELDS = (
    "VoiceUrl",
    "VoiceMethod",
    "VoiceFallbackUrl",
    "VoiceFallbackMethod",
    "StatusCallback",
    "StatusCallbackMethod",
    "VoiceApplicationSid",
)
_ATTRIBUTE = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid",
}


def client_from_settings(
    settings: Mapping[str, str | None], timeout: float = API_TIMEOUT
) -> Client:
    """Build a REST client from an auth token, or an API key and secret, plus the account SID."""
    sid = settings.get("TWILIO_ACCOUNT_SID") or ""
    token = settings.get("TWILIO_AUTH_TOKEN") or ""
    key = settings.get("TWILIO_API_KEY") or ""
    secret = settings.get("TWILIO_API_SECRET") or ""
    if not sid:
        raise CredentialsMissing(["TWILIO_ACCOUNT_SID"] + ([] if key else ["TWILIO_AUTH_TOKEN"]))
    http = TwilioHttpClient(timeout=timeout)
    if key and secret:
        return Client(key, secret, sid, http_client=http)
    if key and not secret:
        raise CredentialsMissing(["TWILIO_API_SECRET"])
    if not token:
        raise CredentialsMissing(["TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"])
    return Client(sid, token, http_client=http)


def webhook_urls(base_url: str, handler_line: bool = False) -> dict[str, str]:
    """The number's settings that serve the menu (or the handler line) from ``base_url``."""
    base = _base(base_url)
    return {
        "VoiceUrl": f"{base}/handler" if handler_line else f"{base}/voice",
        "VoiceMethod": "POST",
        # /fallback apologises to a 101 caller and restarts the menu: not for call handlers.
        "VoiceFallbackUrl": "" if handler_line else f"{base}/fallback",
        "VoiceFallbackMethod": "POST",
        "StatusCallback": f"{base}/status",
        "StatusCallbackMethod": "POST",
        # An application on the number overrides every voice URL, so setup takes it off.
        "VoiceApplicationSid": "",
    }


def _base(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SetupError(
            "PUBLIC_BASE_URL",
            f"{base_url!r} is not an absolute http(s) URL, e.g. https://ivr.example.org",
        )
    if parts.query or parts.fragment:
        raise SetupError("PUBLIC_BASE_URL", f"{base_url!r} must not have a query or fragment")
    return base_url.strip().rstrip("/")


@dataclass(frozen=True)
class NumberConfig:
    """How a Twilio number is set up today."""

    sid: str
    phone_number: str
    settings: dict[str, str]
    """Current value of every field in :data:`NUMBER_FIELDS` (empty string for unset)."""
    trunk_sid: str = ""


@dataclass(frozen=True)
class QueueStatus:
    """One Twilio queue, live."""

    name: str
    sid: str | None
    """None: the queue does not exist on Twilio."""
    max_size: int = 0
    current_size: int = 0
    average_wait: int = 0
    """Average wait of the callers in the queue now, in seconds."""

    @property
    def exists(self) -> bool:
        return self.sid is not None


@dataclass(frozen=True)
class QueueMember:
    """One caller waiting in a queue."""

    call_sid: str
    wait: int
    """Seconds in the queue so far."""
    position: int = 1


class TwilioAccount:
    """A Twilio account seen through one REST client: its numbers and queues."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def account_sid(self) -> str:
        return str(self.client.account_sid)

    # -- reading --------------------------------------------------------------------

    def number(self, number: str) -> NumberConfig:
        """Find ``number`` (any format a UK caller would write) among the account's numbers."""
        try:
            e164 = to_e164(number)
        except ValueError as exc:
            raise SetupError("--number", str(exc)) from None
        with self._errors():
            # Twilio's PhoneNumber filter also matches parts of numbers: keep the exact one.
            found = [
                n
                for n in self.client.incoming_phone_numbers.list(phone_number=e164)
                if n.phone_number == e164
            ]
        if not found:
            raise NumberNotFound(e164, self.account_sid)
        n = found[0]
        settings = {f: getattr(n, _ATTRIBUTE[f]) or "" for f in NUMBER_FIELDS}
        return NumberConfig(n.sid, e164, settings, getattr(n, "trunk_sid", None) or "")

    def numbers_pointing_at(self, base_url: str) -> list[str]:
        """The account's numbers whose voice URL is this app's ``/voice`` under ``base_url``."""
        voice = webhook_urls(base_url)["VoiceUrl"]
        with self._errors():
            numbers = self.client.incoming_phone_numbers.list()
        return [n.phone_number for n in numbers if n.voice_url == voice]

    def queues(self, names: list[str] | None = None) -> list[QueueStatus]:
        """Live size and average wait of the named queues (missing ones too), or of all."""
        with self._errors():
            live = {
                q.friendly_name: QueueStatus(
                    q.friendly_name,
                    q.sid,
                    int(q.max_size or 0),
                    int(q.current_size or 0),
                    int(q.average_wait_time or 0),
                )
                for q in self.client.queues.list()
            }
        if names is None:
            return [live[name] for name in sorted(live)]
        return [live.get(name, QueueStatus(name, None)) for name in names]

    def front(self, queue: QueueStatus) -> QueueMember | None:
        """The caller at the front of ``queue`` (who a handler would take), if any."""
        if queue.sid is None:
            return None
        with self._errors():
            members = self.client.queues(queue.sid).members.list(limit=20)
        if not members:
            return None
        first = min(members, key=lambda m: m.position or 0)
        return QueueMember(str(first.call_sid), int(first.wait_time or 0), int(first.position or 1))

    # -- setup ------------------------------------------------------------------------

    def plan_setup(
        self, number: str, base_url: str, queues: Mapping[str, int], handler_line: bool = False
    ) -> Plan:
        """What must change so ``number`` serves the menu at ``base_url`` with ``queues``.

        With ``handler_line``, the number is the staff line instead: its voice URL is /handler.
        """
        wanted = webhook_urls(base_url, handler_line)
        config = self.number(number)
        changes: list[Change] = []
        for field in NUMBER_FIELDS:
            current, new = config.settings[field], wanted[field]
            same = current.upper() == new if field.endswith("Method") else current == new
            if not same:
                changes.append(
                    Change("number", config.phone_number, config.sid, field, current, new)
                )
        for q in self.queues(list(queues)) if queues else []:
            size = queues[q.name]
            if not q.exists:
                changes.append(Change("queue", q.name, None, "MaxSize", None, str(size)))
            elif q.max_size != size:
                changes.append(
                    Change("queue", q.name, q.sid, "MaxSize", str(q.max_size), str(size))
                )
        notes: tuple[str, ...] = ()
        if config.trunk_sid:
            notes = (
                f"{config.phone_number} belongs to SIP trunk {config.trunk_sid}, which overrides "
                "its voice URLs: remove it from the trunk in the console",
            )
        return Plan(config.phone_number, config.sid, tuple(changes), notes)

    def apply(self, plan: Plan) -> None:
        """Make the plan's changes on Twilio: one request per number or queue."""
        number = {c.field: c.new for c in plan.changes if c.resource == "number"}
        with self._errors():
            if number:
                self.client.incoming_phone_numbers(plan.number_sid).update(
                    **{_ATTRIBUTE[f]: v for f, v in number.items()}
                )
            for c in plan.changes:
                if c.resource != "queue":
                    continue
                if c.sid is None:
                    self.client.queues.create(friendly_name=c.name, max_size=int(c.new))
                else:
                    self.client.queues(c.sid).update(max_size=int(c.new))
            log.info("applied %d change(s) to %s", len(plan.changes), plan.number)

    # -- check ------------------------------------------------------------------------

    def check(
        self,
        number: str,
        base_url: str,
        queues: Mapping[str, int],
        auth_token: str | None,
        post: Post | None = None,
        handler_line: bool = False,
    ) -> list[Finding]:
        """Compare the number and queues with what the menu expects; prove a signed request.

        With ``handler_line``, check the staff number's /handler URL only.
        """
        wanted = webhook_urls(base_url, handler_line)
        findings: list[Finding] = []
        if urlsplit(wanted["VoiceUrl"]).scheme != "https" and not handler_line:
            findings.append(
                Finding(
                    "error",
                    "PUBLIC_BASE_URL",
                    f"{base_url} is http, not https: callers' details would cross the internet "
                    "unencrypted (use the tunnel's or proxy's https URL)",
                )
            )
        config = self.number(number)
        subject = f"{'handler line' if handler_line else 'number'} {config.phone_number}"
        for field in ("VoiceUrl", "VoiceFallbackUrl", "StatusCallback"):
            if wanted[field] or config.settings[field]:
                findings.append(url_finding(subject, field, config.settings[field], wanted[field]))
        for field in ("VoiceMethod", "VoiceFallbackMethod", "StatusCallbackMethod"):
            current = config.settings[field].upper() or "POST"
            if current != "POST":
                findings.append(
                    Finding("error", subject, f"{field} is {current}; the webhooks expect POST")
                )
        if config.settings["VoiceApplicationSid"]:
            findings.append(
                Finding(
                    "error",
                    subject,
                    f"uses application {config.settings['VoiceApplicationSid']}, which overrides "
                    "the voice URLs (`ivr twilio setup` takes it off)",
                )
            )
        if config.trunk_sid:
            findings.append(
                Finding(
                    "error",
                    subject,
                    f"belongs to SIP trunk {config.trunk_sid}, which overrides the voice URLs "
                    "(remove it from the trunk in the console)",
                )
            )
        for q in self.queues(list(queues)) if queues else []:
            findings.append(queue_finding(q, queues[q.name]))
        if handler_line:
            return findings
        if not auth_token:
            findings.append(
                Finding(
                    "warning",
                    "signed test request",
                    "not sent: TWILIO_AUTH_TOKEN is not set (the webhooks need it too)",
                )
            )
        else:
            trip = signed_test_request(wanted["VoiceUrl"], auth_token, config.phone_number, post)
            findings.append(round_trip_finding(trip))
        return findings

    # -- errors -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn twilio-python's and requests' exceptions into ivr errors."""
        try:
            yield
        except TwilioRestException as exc:
            if exc.status == 401 or exc.code == 20003:
                raise BadCredentials(self.account_sid, exc.status, exc.code) from None
            raise TwilioError(
                f"Twilio refused {exc.method} {exc.uri} (HTTP {exc.status}, error {exc.code}): "
                f"{exc.msg}",
                exc.status,
                exc.code,
            ) from None
        except TwilioException as exc:
            # A failed page of a list arrives as a bare TwilioException(message, response);
            # newer APIs raise TwilioServiceException (RFC 9457) with status, code and title.
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(exc, "status", None) or getattr(response, "status_code", None)
            code = getattr(exc, "code", None) or _error_code(response)
            if status == 401 or code == 20003:
                raise BadCredentials(self.account_sid, status, code) from None
            what = getattr(exc, "title", None) or (exc.args[0] if exc.args else "no detail")
            raise TwilioError(f"Twilio API error (HTTP {status}): {what}", status, code) from None
        except requests.Timeout:
            raise TwilioUnreachable("https://api.twilio.com", "no answer in time") from None
        except requests.ConnectionError as exc:
            raise TwilioUnreachable("https://api.twilio.com", reason_of(exc)) from None


def _error_code(response: Any) -> int | None:
    try:
        return int(json.loads(response.text)["code"])
    except Exception:  # no body, not JSON, no code: there is no code to report
        return None
