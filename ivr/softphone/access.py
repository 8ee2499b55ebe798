"""Who may use the softphone: its token, and the signed cookie it is swapped for.

Also the headers and log filter that keep the page and the token where they belong.

The token travels in a URL at most once: ``GET /phone?token=…`` (or the page's sign-in form,
which sends it in a POST body) is answered with a cookie and a redirect to ``/phone``. The
cookie holds no part of the token, only when it was issued, signed with a key derived from the
token; every request checks its age against ``IVR_PHONE_SESSION_HOURS``, so a copied cookie
stops working on the server's say, and a new token signs everyone out. The API takes the token
as ``Authorization: Bearer`` and refuses ``?token=`` (400), so no client learns to put it where
proxies and access logs keep it; werkzeug's and gunicorn's access logs get the one request
that carried it with the token cut out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import (
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer

log = logging.getLogger("ivr.phone")

COOKIE = "ivr_phone"
MIN_TOKEN_LENGTH = 16
PREFIX = "/phone"
# The page runs only its own scripts (no inline script, no eval); Mermaid's picture needs
# inline styles (its SVG carries a <style>); images are the blank favicon only, so markup
# smuggled into the picture loads nothing; <Play> recordings and hold music are anywhere on
# the web (Twilio's own hold music is served over plain http).
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src data:",
        "media-src 'self' https: http:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"']*")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
"""Where Flask's development server and gunicorn log the requests they serve."""


@dataclass
class Access:
    """The softphone's token, and the signed, expiring cookie a browser holds instead."""

    token: str
    session_seconds: float = 12 * 3600.0
    """How long a sign-in lasts: the cookie says when it was issued, checked every request."""
    clock: Callable[[], float] = time.time
    signer: URLSafeSerializer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Keyed by the token: a new IVR_PHONE_TOKEN signs everyone out.
        key = hmac.new(self.token.encode(), b"ivr101 softphone cookie", hashlib.sha256).digest()
        self.signer = URLSafeSerializer(key, salt="ivr101 softphone session")

    def is_token(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self.token.encode())

    def cookie(self) -> str:
        """A new sign-in: when it was issued, signed (it holds no part of the token)."""
        return self.signer.dumps({"at": int(self.clock()), "n": secrets.token_urlsafe(6)})

    def cookie_state(self, value: str) -> str:
        """``ok``, ``expired`` or ``forged`` (a bad signature, or not our cookie at all)."""
        try:
            data = self.signer.loads(value)
        except BadSignature:
            return "forged"
        issued = data.get("at") if isinstance(data, dict) else None
        if not isinstance(issued, int):
            return "forged"
        age = self.clock() - issued
        # A minute's grace for a clock that stepped back; never a cookie from the future.
        return "ok" if -60 <= age < self.session_seconds else "expired"


def access() -> Access:
    return current_app.extensions["ivr_phone"].access


def credentials() -> str | None:
    """``ok``, ``wrong`` or ``expired`` for the credentials offered; None when none were."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return "ok" if access().is_token(header[7:].strip()) else "wrong"
    cookie = request.cookies.get(COOKIE)
    if cookie is not None:
        state = access().cookie_state(cookie)
        return "wrong" if state == "forged" else state
    return None


def require_token() -> Response | None:
    """Before every softphone request: 401 without credentials (the page: its sign-in form),
    403 with wrong ones, 400 for ``?token=`` anywhere but the page."""
    page = request.endpoint == "phone.page"
    if "token" in request.args:
        if not page or request.method != "GET":
            return error(
                400, "never put the token in a URL: send it as 'Authorization: Bearer <token>'"
            )
        if not access().is_token(request.args["token"]):
            _wrong()
            return sign_in_page(403, "That is not the softphone's token.")
        return signed_in()
    if request.endpoint == "phone.sign_in":
        return None  # where the token is given, in the form's body
    state = credentials()
    if state is None or state == "expired":
        if page:
            return sign_in_page(401, "Your sign-in has expired: sign in again." if state else None)
        response = error(401, "the softphone needs its token (IVR_PHONE_TOKEN)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="ivr101 softphone"'
        return response
    if state == "wrong":
        _wrong()
        return sign_in_page(403, "Wrong token.") if page else error(403, "wrong softphone token")
    if request.method == "POST" and not request.is_json:
        # JSON only: a cross-site form cannot send it without the browser asking first.
        return error(415, "send JSON (Content-Type: application/json)")
    return None


def sign_in_form() -> Response:
    """The sign-in form's POST: the token in the body, swapped for a cookie."""
    token = request.form.get("token", "").strip()
    if not token:
        return sign_in_page(401, "Enter the softphone's token.")
    if not access().is_token(token):
        _wrong()
        return sign_in_page(403, "That is not the softphone's token.")
    return signed_in()


def sign_in_page(status: int, note: str | None = None) -> Response:
    hours = f"{access().session_seconds / 3600:g}"
    response = make_response(render_template("signin.html", note=note, hours=hours), status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ivr101 softphone"'
    return response


def signed_in() -> Response:
    """The token was right: a cookie for the page, and off to the page by a clean URL."""
    response = redirect(url_for("phone.page"), code=303)
    response.set_cookie(
        COOKIE,
        access().cookie(),
        max_age=int(access().session_seconds),
        path=PREFIX,
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    return response


def _wrong() -> None:
    # The path only: a query string here could hold a token.
    log.warning("phone: wrong token from %s for %s", request.remote_addr, request.path)


def error(status: int, message: str) -> Response:
    return make_response(jsonify(error=message), status)


def secure_headers(response: Response) -> Response:
    """After every request of the app: the softphone's responses (the page, its files, its API
    and its errors, 404s included) get the policy; the webhooks are left alone."""
    path = request.path
    if path == PREFIX or path.startswith(PREFIX + "/"):
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["Cache-Control"] = "no-store"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


class RedactToken(logging.Filter):
    """Takes ``token=…`` out of access log lines: the one request that brought the token in a
    URL is logged without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "token=" not in record.getMessage():
            return True
        if isinstance(record.args, tuple) and "token=" not in str(record.msg):
            # In the arguments, keeping them arguments: the log's escaping then treats the
            # request line as Werkzeug styled it (ivr/logs.py).
            record.args = tuple(
                TOKEN_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        message = record.getMessage()
        redacted = TOKEN_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:  # still there (in the format string itself): the whole line
            record.msg, record.args = redacted, None
        return True


REDACT = RedactToken()


def redact_access_logs() -> None:
    """Filter werkzeug's and gunicorn's request loggers (once per process)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if REDACT not in logger.filters:
            logger.addFilter(REDACT)
