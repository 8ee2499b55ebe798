"""How the simulated caller reaches a webhook: in-process over WSGI, or over real HTTP.

A transport sends exactly one request and hands back exactly what came back, redirects
included: Twilio has its own rules for following them (which codes, which method, which
parameters), so the interpreter follows them, not the transport.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..errors import TransportFailure

WSGIApp = Callable[..., Any]

__all__ = ["HTTPTransport", "Response", "Transport", "TransportFailure", "WSGITransport"]


@dataclass(frozen=True)
class Response:
    """What a webhook answered (``location``: the Location header of a redirect)."""

    status: int
    content_type: str
    body: bytes
    location: str | None = None

    @property
    def mimetype(self) -> str:
        """The content type without parameters, lower case (``text/xml``)."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Transport(Protocol):
    """Sends one webhook request and never follows a redirect.

    For GET the interpreter has already put the parameters in ``url`` and passes ``params``
    empty; for POST they are sent as an ``application/x-www-form-urlencoded`` body. Raises
    :class:`~ivr.errors.TransportFailure` when no HTTP answer came back.
    """

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response: ...


class WSGITransport:
    """Call any WSGI app in-process, as Twilio would over HTTP (cookies kept).

    An exception escaping the app becomes a 500 answer, which is what a real server sends.
    """

    def __init__(self, app: WSGIApp) -> None:
        # Imported here: `ivr paths` and `ivr validate` reach this package for the clock, and
        # need no WSGI client (nor `requests`, below).
        from werkzeug.test import Client

        self.client = Client(app)

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response:
        parts = urlsplit(url)
        try:
            resp = self.client.open(
                urlunsplit(("", "", parts.path or "/", parts.query, "")),
                # Werkzeug drops the host of an absolute URL: give it as the base, so the app
                # sees the host (and signs against the URL) the request was made to.
                base_url=f"{parts.scheme or 'http'}://{parts.netloc or 'localhost'}",
                method=method,
                data=dict(params) if method == "POST" else None,
                headers=dict(headers),
                follow_redirects=False,
            )
        except Exception as exc:  # the app crashed: a real server would answer 500
            return Response(500, "text/plain", f"{type(exc).__name__}: {exc}".encode())
        try:
            return Response(
                resp.status_code,
                resp.headers.get("Content-Type", ""),
                resp.get_data(),
                resp.headers.get("Location"),
            )
        finally:
            resp.close()


def _reason(exc: Exception, url: str) -> str:
    """One short line for a failed connection, in the words of Twilio's 11205 family."""
    where = urlsplit(url).netloc or url
    text = str(exc).lower()
    if "timed out" in text or "timeout" in type(exc).__name__.lower():
        return f"could not reach {where}: timed out"
    if "refused" in text:
        return f"could not reach {where}: connection refused"
    if any(s in text for s in ("name or service", "nodename", "getaddrinfo", "resolve")):
        return f"could not reach {where}: unknown host name"
    if "ssl" in text or "certificate" in text:
        return f"could not reach {where}: TLS handshake failed"
    return f"could not reach {where}: {type(exc).__name__}"


class HTTPTransport:
    """Call a webhook over real HTTP with ``requests``; Twilio gives up after 15 seconds."""

    def __init__(self, timeout: float = 15.0) -> None:
        import requests

        self._requests = requests
        self.session = requests.Session()
        # One attempt per request, as Twilio makes (its retries are opt-in URL fragments).
        self.session.mount("http://", requests.adapters.HTTPAdapter(max_retries=0))
        self.session.mount("https://", requests.adapters.HTTPAdapter(max_retries=0))
        self.timeout = timeout

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response:
        try:
            resp = self.session.request(
                method,
                url,
                data=dict(params) if method == "POST" else None,
                headers=dict(headers),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except self._requests.RequestException as exc:
            raise TransportFailure(_reason(exc, url)) from exc
        with resp:
            return Response(
                resp.status_code,
                resp.headers.get("Content-Type", ""),
                resp.content,
                resp.headers.get("Location"),
            )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HTTPTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
