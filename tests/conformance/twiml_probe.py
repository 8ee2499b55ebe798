"""Probe apps for the conformance suite: tiny TwiML apps that answer fixed documents and keep
every request they receive, as the application sees it, with its Twilio signature checked.

Each conformance test dials one with the simulator and compares what the app received with
what Twilio's documentation says it receives (the test cites the page).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Request, Response

from ivr.caller import Call, CallRecord, Input, ScriptedCaller, WSGITransport

TOKEN = "conformance-auth-token"
BASE = "http://probe.test"


@dataclass(frozen=True)
class Received:
    """One request as the probe app received it."""

    method: str
    path: str
    params: dict[str, str]
    """The form (POST) or the query string (GET)."""
    signed: bool
    """Whether X-Twilio-Signature checks out against the URL and form, with TOKEN."""
    authorization: str | None = None


Answer = str | tuple[int, dict[str, str], str]
Page = Answer | Callable[[Received], Answer]


@dataclass
class TwimlApp:
    """Answers ``pages`` by path: a string is TwiML (wrapped in <Response> unless it is a
    whole document), a tuple is (status, headers, body), a function computes either from the
    request. Unknown paths get 404."""

    pages: dict[str, Page]
    received: list[Received] = field(default_factory=list)

    def __call__(self, environ, start_response):
        request = Request(environ)
        query = environ.get("QUERY_STRING", "")
        url = request.base_url + ("?" + query if query else "")
        form = dict(request.form) if request.method == "POST" else {}
        params = form if request.method == "POST" else dict(parse_qsl(query))
        signature = request.headers.get("X-Twilio-Signature", "")
        got = Received(
            request.method,
            request.path,
            params,
            RequestValidator(TOKEN).validate(url, form, signature),
            request.headers.get("Authorization"),
        )
        self.received.append(got)
        page = self.pages.get(request.path)
        if page is None:
            return Response("not found", 404)(environ, start_response)
        answer = page(got) if callable(page) else page
        if isinstance(answer, tuple):
            status, headers, body = answer
            return Response(body, status, headers)(environ, start_response)
        if not answer.lstrip().startswith(("<?xml", "<Response")):
            answer = f"<Response>{answer}</Response>"
        return Response(answer, 200, {"Content-Type": "text/xml"})(environ, start_response)

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, in order."""
        return [(r.method, r.path) for r in self.received]

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def dial(app: TwimlApp, *steps: Input, path: str = "/voice", **options) -> CallRecord:
    """Place a simulated call to ``app`` with ``steps``; other options go to ScriptedCaller
    (queue, queue_waits, dial, barge_in) or to :class:`~ivr.caller.Call`."""
    scripted = {
        k: options.pop(k) for k in ("queue", "queue_waits", "dial", "barge_in") if k in options
    }
    caller = ScriptedCaller(steps, **scripted)
    return Call(WSGITransport(app), BASE + path, caller, auth_token=TOKEN, **options).run()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


STANDARD = frozenset(
    {"CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "Direction"}
    | {"ApiVersion"}
)
"""Twilio's standard voice request parameters (https://www.twilio.com/docs/voice/twiml,
"Twilio's request to your application"), present on every webhook request."""
