"""How the simulated caller reaches a webhook: in-process over WSGI, or over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.test import Client

WSGIApp = Callable[..., Any]


@dataclass(frozen=True)
class Response:
    """What a webhook answered."""

    status: int
    content_type: str
    body: bytes

    @property
    def mimetype(self) -> str:
        """The content type without parameters, lower case (``text/xml``)."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class TransportFailure(Exception):
    """The request never got an HTTP answer; the interpreter turns it into a TransportError."""


class Transport(Protocol):
    """Sends one webhook request.

    For GET the interpreter has already put the parameters in ``url`` and passes ``params``
    empty; for POST they are sent as an ``application/x-www-form-urlencoded`` body.
    """

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response: ...


class WSGITransport:
    """Call any WSGI app in-process, as Twilio would over HTTP (cookies kept, redirects followed).

    An exception escaping the app becomes a 500 answer, which is what a real server sends.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.client = Client(app)

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response:
        try:
            resp = self.client.open(
                url,
                method=method,
                data=dict(params) if method == "POST" else None,
                headers=dict(headers),
                follow_redirects=True,
            )
        except Exception as exc:  # the app crashed: a real server would answer 500
            return Response(500, "text/plain", f"{type(exc).__name__}: {exc}".encode())
        try:
            return Response(resp.status_code, resp.headers.get("Content-Type", ""), resp.get_data())
        finally:
            resp.close()


class HTTPTransport:
    """Call a webhook over real HTTP with ``requests``; Twilio gives up after 15 seconds."""

    def __init__(self, timeout: float = 15.0) -> None:
        import requests

        self._requests = requests
        self.session = requests.Session()
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
                allow_redirects=True,
            )
        except self._requests.RequestException as exc:
            raise TransportFailure(str(exc)) from exc
        with resp:
            return Response(resp.status_code, resp.headers.get("Content-Type", ""), resp.content)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HTTPTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
