"""What ``ivr twilio setup`` would change and what ``ivr twilio check`` finds.

The plan of changes, the findings, and the signed round trip to the app's own /voice URL: plain
values and pure functions, which :class:`~ivr.account.provision.TwilioAccount` builds from one
read of the account.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from .provision import QueueStatus

SLOW_ANSWER = 5.0
"""Seconds after which check warns that the app (or the tunnel) answers slowly."""

TEST_CALL_SID = "CA" + "0" * 28 + "7e57"
"""The CallSid of ``ivr twilio check``'s signed test request: obviously not a real call."""

TEST_CALLER = "+447700900101"
"""The From of the test request: Ofcom's range reserved for drama, never a real line."""

# -- what setup would change -----------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One setting to change on Twilio: ``current`` (None: absent) becomes ``new``."""

    resource: str
    """``number`` or ``queue``."""
    name: str
    """The phone number (E.164) or the queue's friendly name."""
    sid: str | None
    """The resource's SID on Twilio; None for a queue still to be created."""
    field: str
    """Twilio's parameter name, e.g. ``VoiceUrl`` or ``MaxSize``."""
    current: str | None
    new: str


@dataclass(frozen=True)
class Plan:
    """Everything ``setup`` would change, from one read of the account."""

    number: str
    number_sid: str
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    """What setup cannot fix itself, to tell the user."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def diff(self) -> str:
        """The changes as a diff of current -> new, grouped by resource."""
        notes = [f"! {note}" for note in self.notes]
        if not self.changes:
            done = f"number {self.number} and its queues are already set up: nothing to change"
            return "\n".join([done, *notes])
        lines: list[str] = []
        heading = None
        for c in self.changes:
            head = f"{c.resource} {c.name}" + ("" if c.sid else " (new)")
            if head != heading:
                lines.append(f"@@ {head} @@")
                heading = head
            if c.current is not None:
                lines.append(f"- {c.field}: {_show(c.current)}")
            lines.append(f"+ {c.field}: {_show(c.new)}")
        return "\n".join(lines + notes)


def _show(value: str) -> str:
    return value if value != "" else "(empty)"


@dataclass(frozen=True)
class Finding:
    """One line of ``ivr twilio check``: ``level`` is ok, warning or error."""

    level: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.subject}: {self.message}"


@dataclass(frozen=True)
class RoundTrip:
    """The outcome of one signed test request to our own public /voice URL."""

    url: str
    status: int | None
    twiml: bool
    detail: str
    seconds: float = 0.0


Post = Callable[..., requests.Response]


def reason_of(exc: Exception) -> str:
    text = str(exc)
    for hint in (
        "Name or service not known",
        "Temporary failure in name resolution",
        "Connection refused",
        "Network is unreachable",
        "timed out",
    ):
        if hint in text:
            return hint.lower()
    return "no network connection" if not text else text.splitlines()[0][:200]


def url_finding(subject: str, field: str, current: str, wanted: str) -> Finding:
    if not wanted:
        return Finding(
            "warning",
            subject,
            f"{field} is {current}; not wanted here (`ivr twilio setup` clears it)",
        )
    if current == wanted:
        return Finding("ok", subject, f"{field} is {wanted}")
    if not current:
        what = {
            "VoiceUrl": "no voice URL: calls get Twilio's default message",
            "VoiceFallbackUrl": "no fallback URL: if the app fails, callers hear Twilio's error",
            "StatusCallback": "no status callback: ended calls are not recorded",
        }[field]
        return Finding("error", subject, f"{what} (want {wanted})")
    if current.startswith("http://"):
        return Finding("error", subject, f"{field} is http, not https: {current} (want {wanted})")
    return Finding("error", subject, f"{field} is {current}, want {wanted}")


def queue_finding(q: QueueStatus, size: int) -> Finding:
    subject = f"queue {q.name}"
    if not q.exists:
        return Finding("error", subject, f"missing on Twilio (want max size {size})")
    if q.max_size < size:
        return Finding("error", subject, f"too small: max size {q.max_size}, the menu wants {size}")
    if q.max_size > size:
        return Finding("warning", subject, f"max size {q.max_size}, the menu asks for {size}")
    return Finding("ok", subject, f"max size {size}")


def round_trip_finding(trip: RoundTrip) -> Finding:
    subject = "signed test request"
    if trip.status == 200 and trip.twiml and trip.seconds > SLOW_ANSWER:
        return Finding(
            "warning",
            subject,
            f"POST {trip.url} -> 200 with TwiML, but in {trip.seconds:.1f} s: Twilio waits 15 s "
            "in all before it gives the caller the fallback",
        )
    if trip.status == 200 and trip.twiml:
        return Finding("ok", subject, f"POST {trip.url} -> 200 with TwiML")
    return Finding("error", subject, f"POST {trip.url} -> {trip.detail}")


def voice_params(to: str, account_sid: str = "AC" + "0" * 32) -> dict[str, str]:
    """The form a Twilio voice webhook receives for a new inbound call (test CallSid)."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": TEST_CALL_SID,
        "CallStatus": "ringing",
        "Called": to,
        "Caller": TEST_CALLER,
        "Direction": "inbound",
        "From": TEST_CALLER,
        "To": to,
    }


def signed_test_request(
    url: str,
    auth_token: str,
    to: str,
    post: Post | None = None,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> RoundTrip:
    """POST a Twilio-signed new-call request to ``url`` and say whether TwiML came back."""
    params = voice_params(to)
    signature = RequestValidator(auth_token).compute_signature(url, params)
    send = post or requests.post
    started = clock()
    try:
        response = send(
            url,
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return RoundTrip(url, None, False, f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return RoundTrip(url, None, False, f"cannot connect ({reason_of(exc)})")
    elapsed = clock() - started
    body = response.text or ""
    twiml = "xml" in response.headers.get("Content-Type", "") and "<Response" in body
    status = response.status_code
    if status == 200 and twiml:
        detail = f"200 with TwiML in {elapsed:.1f} s"
    elif status in (401, 403):
        detail = (
            f"{status}: the app rejected the signature; TWILIO_AUTH_TOKEN differs from the app's, "
            "or a proxy changes the URL (set PUBLIC_BASE_URL, or IVR_TRUSTED_PROXIES)"
        )
    elif 300 <= status < 400:
        detail = (
            f"{status} redirect to {response.headers.get('Location', '?')}: Twilio signs the "
            "URL it was given, so a redirect fails the signature; use the final URL as "
            "PUBLIC_BASE_URL"
        )
    elif status == 200:
        detail = "200 but no TwiML came back (is PUBLIC_BASE_URL pointing at this app?)"
    else:
        detail = f"{status}: {_first_line(body)}"
    return RoundTrip(url, status, twiml, detail, elapsed)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(empty body)"
    return line[:120]
