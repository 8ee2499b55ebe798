"""A recording fake of Twilio's REST API, plugged into twilio-python as its ``http_client``.

It keeps an account's numbers and queues, answers the few requests ``ivr`` makes the way
Twilio does (JSON bodies, 401 with error 20003 for bad credentials, 404 for unknown SIDs),
changes its state on writes, and records every request so tests can assert them exactly.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import requests
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "test-auth-token"
API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"

_NUMBER_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid",
}


@dataclass(frozen=True)
class Call:
    """One request the client made."""

    method: str
    url: str
    params: dict[str, Any]
    data: dict[str, Any]


@dataclass
class FakeTwilio(HttpClient):
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    offline: bool = False
    failures: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """(method, path under the account) -> (status, JSON body) answered instead."""
    credentials: tuple[str, str] = (ACCOUNT_SID, AUTH_TOKEN)

    def __post_init__(self) -> None:
        super().__init__(logging.getLogger("tests.twilio_fake"), is_async=False)

    # -- building state -------------------------------------------------------------

    def add_number(self, phone_number: str, **fields: Any) -> str:
        sid = "PN" + f"{len(self.numbers) + 1:032x}"
        self.numbers[sid] = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "phone_number": phone_number,
            "friendly_name": phone_number,
            # A new Twilio number answers with Twilio's demo URL and no fallback.
            "voice_url": "https://demo.twilio.com/welcome/voice/",
            "voice_method": "POST",
            "voice_fallback_url": None,
            "voice_fallback_method": "POST",
            "status_callback": "",
            "status_callback_method": "POST",
            "voice_application_sid": None,
            "trunk_sid": None,
            **fields,
        }
        return sid

    def add_queue(self, name: str, max_size: int = 100, current_size: int = 0, wait: int = 0):
        sid = "QU" + f"{len(self.queues) + 1:032x}"
        self.queues[sid] = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "friendly_name": name,
            "max_size": max_size,
            "current_size": current_size,
            "average_wait_time": wait,
        }
        return sid

    def add_caller(self, queue_sid: str, call_sid: str, wait: int) -> None:
        """Put a caller in a queue (Twilio's Enqueue), keeping current_size in step."""
        members = self.members.setdefault(queue_sid, [])
        members.append(
            {
                "call_sid": call_sid,
                "queue_sid": queue_sid,
                "position": len(members) + 1,
                "wait_time": wait,
                "date_enqueued": "Sun, 29 Nov 2026 10:00:00 +0000",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Queues/{queue_sid}/Members/"
                f"{call_sid}.json",
            }
        )
        self.queues[queue_sid]["current_size"] = len(members)

    @property
    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    # -- the HttpClient interface -----------------------------------------------------

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.calls.append(Call(method, uri, dict(params or {}), dict(data or {})))
        if self.offline:
            raise requests.ConnectionError(
                "HTTPSConnectionPool(host='api.twilio.com', port=443): Max retries exceeded "
                "(Caused by NameResolutionError: Temporary failure in name resolution)"
            )
        if auth != self.credentials:
            return _error(401, 20003, "Authenticate")
        path = uri.removeprefix(API)
        if (method, path) in self.failures:
            status, body = self.failures[(method, path)]
            return Response(status, json.dumps(body))
        if method == "GET" and path == "/IncomingPhoneNumbers.json":
            wanted = (params or {}).get("PhoneNumber")
            found = [n for n in self.numbers.values() if not wanted or wanted in n["phone_number"]]
            return _page("incoming_phone_numbers", found)
        if method == "GET" and path == "/Queues.json":
            return _page("queues", list(self.queues.values()))
        m = re.fullmatch(r"/Queues/(\w+)/Members\.json", path)
        if method == "GET" and m:
            return _page("queue_members", self.members.get(m[1], []))
        if method == "POST" and path == "/Queues.json":
            form = data or {}
            sid = self.add_queue(str(form["FriendlyName"]), int(form.get("MaxSize", 100)))
            return Response(201, json.dumps(self.queues[sid]))
        m = re.fullmatch(r"/(IncomingPhoneNumbers|Queues)/(\w+)\.json", path)
        if method == "POST" and m:
            store = self.numbers if m[1] == "IncomingPhoneNumbers" else self.queues
            if m[2] not in store:
                return _error(404, 20404, f"The requested resource {path} was not found")
            record = store[m[2]]
            for key, value in (data or {}).items():
                if m[1] == "Queues":
                    record[{"MaxSize": "max_size", "FriendlyName": "friendly_name"}[key]] = (
                        int(value) if key == "MaxSize" else value
                    )
                else:
                    record[_NUMBER_FIELDS[key]] = value
            return Response(200, json.dumps(record))
        return _error(404, 20404, f"The requested resource {path} was not found")


def _page(key: str, records: list[dict[str, Any]]) -> Response:
    return Response(
        200,
        json.dumps(
            {
                key: records,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": max(len(records) - 1, 0),
                "first_page_uri": "/",
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": "/",
            }
        ),
    )


def _error(status: int, code: int, message: str) -> Response:
    return Response(
        status,
        json.dumps(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
        ),
    )


def client_for(fake: FakeTwilio, token: str = AUTH_TOKEN) -> Client:
    """A real twilio-python client whose every request goes to ``fake``."""
    return Client(ACCOUNT_SID, token, http_client=fake)
