"""Twilio's side of each HTTP exchange of a simulated call.

The standard parameters, the signature, HTTP redirects followed the way Twilio follows them, and
callbacks whose answer Twilio ignores.

HTTP redirects (https://www.twilio.com/docs/api/errors/11216): Twilio follows 301, 302, 303 and
307 only; any other 3xx, or one without a Location, is error 11216, and a chain of more than
:data:`MAX_HTTP_REDIRECTS` is 11215. The request to the new location carries the standard call
parameters but not the verb's own (``Digits``, ``SpeechResult``, ``RecordingUrl``...): Twilio does
not send them again. It is a GET after 301, 302 and 303 and keeps the method after 307, as HTTP
clients do. Each hop is a request of its own in the record and the transcript.

Credentials in a URL (``https://user:pass@host/path``) are sent as HTTP basic authentication and
left out of the URL Twilio signs, as Twilio does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

from ..errors import (
    HTTPRedirectError,
    HTTPStatusError,
    RedirectLoopError,
    TooManyRedirectsError,
    TransportError,
    TransportFailure,
)
from ..numbers import country
from .control import Fetch
from .document import Document, read
from .trace import CallEventKind, SentRequest
from .transport import Response

FOLLOWED_REDIRECTS = frozenset({301, 302, 303, 307})
MAX_HTTP_REDIRECTS = 10
USER_AGENT = "TwilioProxy/1.1 (ivr101 caller simulator)"


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without ``user:pass@``, and the Authorization header those credentials make."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"


def timestamp() -> str:
    return format_datetime(datetime.now(UTC))


class Webhooks:
    """The request side of :class:`~ivr.caller.interpreter.Call` (a mixin: it uses the call's
    record, transport, validator, clock and event stream)."""

    def base_params(self) -> dict[str, str]:
        """The parameters Twilio sends with every voice webhook request."""
        params = {
            "CallSid": self.record.call_sid,
            "AccountSid": self.record.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "Caller": self.from_number,
            "Called": self.to_number,
            "CallStatus": self._status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        for role, number in (("From", self.from_number), ("To", self.to_number)):
            where = country(number)
            if where:
                params[f"{role}Country"] = where
                params[f"{'Caller' if role == 'From' else 'Called'}Country"] = where
        return params

    def _exchange(
        self, method: str, url: str, params: Mapping[str, str], **detail: object
    ) -> tuple[str, Response]:
        """One signed HTTP request, recorded and shown; returns the URL as sent."""
        url, auth = split_credentials(url)
        sent = url
        body: dict[str, str] = dict(params)
        if method == "GET":
            # Twilio appends the parameters to the query string and signs the whole URL.
            sent = url + ("&" if "?" in url else "?") + urlencode(params)
            body = {}
        headers = {"User-Agent": USER_AGENT}
        if self.validator is not None:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(sent, body)
        if auth is not None:
            headers["Authorization"] = auth
        try:
            response = self.transport.request(method, sent, body, headers)
        except TransportFailure as exc:
            self.record.requests.append(SentRequest(method, sent, dict(params), headers))
            self._emit(
                CallEventKind.REQUEST, url=sent, method=method, params=dict(params), detail=detail
            )
            raise TransportError(f"{exc} (HTTP connection failure)", url=sent) from exc
        self.record.requests.append(
            SentRequest(
                method,
                sent,
                dict(params),
                headers,
                response.status,
                response.content_type,
                response.body,
            )
        )
        self._emit(
            CallEventKind.REQUEST,
            url=sent,
            method=method,
            params=dict(params),
            status=response.status,
            detail={"content_type": response.content_type, **detail},
        )
        return sent, response

    def _send(
        self, fetch: Fetch, *, guarded: bool = True, standard: bool = True
    ) -> tuple[str, str, Response]:
        """Request ``fetch`` and follow HTTP redirects as Twilio does.

        Returns the URL as sent, the document URL (relative URLs resolve against it: the
        final location, without the parameters a GET appends) and the answer. ``guarded``
        requests count towards the redirect-loop guard; ``standard`` adds the call's standard
        parameters to ``fetch.params``.
        """
        if guarded:
            self._guard(fetch.url)
        method, doc_url = fetch.method, fetch.url
        params = (self.base_params() | fetch.params) if standard else dict(fetch.params)
        sent, response = self._exchange(method, doc_url, params)
        hops = 0
        while 300 <= response.status < 400:
            if response.status not in FOLLOWED_REDIRECTS or not response.location:
                why = (
                    "no Location header"
                    if response.status in FOLLOWED_REDIRECTS
                    else ("Twilio follows only 301, 302, 303 and 307")
                )
                raise HTTPRedirectError(
                    f"the webhook answered HTTP {response.status}: {why}",
                    url=sent,
                    status=response.status,
                    content_type=response.content_type,
                    body=response.text,
                )
            hops += 1
            if hops > MAX_HTTP_REDIRECTS:
                raise TooManyRedirectsError(
                    f"more than {MAX_HTTP_REDIRECTS} HTTP redirects in a row", url=sent
                )
            doc_url = urljoin(doc_url, response.location)
            if response.status != 307:
                method = "GET"
            # Twilio sends the standard parameters again, never the verb's own.
            params = self.base_params() if standard else {}
            sent, response = self._exchange(
                method, doc_url, params, redirected_from=sent, redirect_status=response.status
            )
        if self._status == "ringing":
            self._status = "in-progress"
        return sent, doc_url, response

    def _guard(self, url: str) -> None:
        """Stop a loop of requests that no caller input and no passing time could end."""
        if self.clock != self._guard_clock:
            self._since_input.clear()
            self._guard_clock = self.clock
        self._since_input.append(url)
        if len(self._since_input) > self.max_requests_without_input:
            urls = list(self._since_input)
            raise RedirectLoopError(
                f"{len(urls)} requests in a row with no caller input and no time passing "
                "(a redirect loop: Twilio would repeat it until the call's time limit; "
                "this is the simulator's limit)",
                url=url,
                urls=urls,
            )

    def _fetch(self, fetch: Fetch, *, wait: bool = False) -> Document:
        """Request a TwiML document; refuse it as Twilio would (an ApplicationError)."""
        sent, doc_url, response = self._send(fetch)
        if not 200 <= response.status < 300:
            raise HTTPStatusError(
                f"the webhook answered HTTP {response.status}",
                url=sent,
                status=response.status,
                content_type=response.content_type,
                body=response.text,
            )
        if fetch.then is not None:
            fetch.then()
        document = read(doc_url, sent, response, wait=wait)
        for notice in document.notices:
            self._warn(str(notice), code=notice.code, element=notice.element, url=sent)
        return document

    def _notify(self, fetch: Fetch, what: str, *, standard: bool = True) -> int | None:
        """A callback whose answer Twilio ignores; a failure is only a warning. Returns the
        HTTP status, or None when nothing answered."""
        problem: str | None = None
        status: int | None = None
        try:
            sent, _, response = self._send(fetch, guarded=False, standard=standard)
        except (TransportError, HTTPRedirectError, TooManyRedirectsError) as exc:
            sent = fetch.url
            problem = f"{what} {fetch.url} failed: {exc.message}"
        else:
            status = response.status
            if not 200 <= response.status < 300:
                problem = f"{what} {sent} answered HTTP {response.status}"
        self._emit(
            CallEventKind.CALLBACK, text=what, url=sent, status=status, params=dict(fetch.params)
        )
        if problem:
            self._warn(problem)
        return status

    def _warn(self, message: str, **detail: object) -> None:
        self.record.warnings.append(message)
        self._emit(
            CallEventKind.WARNING, text=message, detail={k: v for k, v in detail.items() if v}
        )
