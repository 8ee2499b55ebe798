"""Twilio request signatures: every webhook answers 403 unless Twilio signed the request."""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable
from functools import lru_cache, wraps
from hashlib import sha1
from typing import Any, TypeVar
from urllib.parse import quote, urlparse, urlsplit

from flask import Request, abort, current_app, request
from twilio.request_validator import add_port, remove_port
from werkzeug.datastructures import MultiDict

log = logging.getLogger("ivr.security")

F = TypeVar("F", bound=Callable[..., Any])


def signed_url(req: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed: the public base (if set) plus the raw path and query.

    Werkzeug decodes ``%2F`` and ``%C3%A9`` in ``request.url``, and a tunnel or proxy changes
    scheme and host, so the URL is rebuilt from the raw request line where the server kept it.
    """
    # The path as sent (RAW_URI: gunicorn, Werkzeug; REQUEST_URI: others), else re-quoted.
    raw = req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI") or ""
    if raw.startswith(("http://", "https://")):
        raw = urlsplit(raw).path
    path = raw.split("?", 1)[0] or quote(req.script_root + req.path, safe="/:@!$&'()*+,;=-._~%")
    # QUERY_STRING is never decoded by the server, so it is exactly what Twilio signed.
    query = req.environ.get("QUERY_STRING", "")
    raw = path + (f"?{query}" if query else "")
    if not public_base_url:
        return req.host_url.rstrip("/") + raw
    base = urlsplit(public_base_url.rstrip("/"))
    origin = f"{base.scheme}://{base.netloc}"
    # A proxy may pass the public path prefix through (SCRIPT_NAME) or strip it.
    if base.path and not raw.startswith(base.path + "/"):
        return origin + base.path + raw
    return origin + raw


@lru_cache(maxsize=1024)
def _url_variants(url: str) -> tuple[str, ...]:
    """The URLs twilio-python's ``RequestValidator.validate`` tries, ``url``'s own form first.

    Twilio's back end signs some URLs with the port and some without, so both are accepted.
    """
    parsed = urlparse(url)
    variants = [remove_port(parsed), add_port(parsed)]
    if variants[1] == url:
        variants.reverse()
    return tuple(dict.fromkeys(variants))


def compute_signature(token: bytes, url: str, params: MultiDict[str, str] | dict[str, str]) -> str:
    """``RequestValidator.compute_signature`` without its per-parameter exception handling."""
    parts = [url]
    getlist = getattr(params, "getlist", None)
    for name in sorted(set(params)):
        values = getlist(name) if getlist is not None else [params[name]]
        for value in sorted(set(values)):
            parts.append(name)
            parts.append(value)
    mac = hmac.new(token, "".join(parts).encode("utf-8"), sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def valid_signature(
    token: str, url: str, params: MultiDict[str, str] | dict[str, str], signature: str
) -> bool:
    """What ``RequestValidator(token).validate(url, params, signature)`` answers (HMAC-SHA1,
    form parameters), computing one HMAC rather than two when the URL as built matches."""
    if not signature:
        return False
    key = token.encode("utf-8")
    expected = signature.encode("utf-8")
    for candidate in _url_variants(url):
        if hmac.compare_digest(compute_signature(key, candidate, params).encode(), expected):
            return True
    return False


def require_twilio_signature(view: F) -> F:
    """Answer 403 unless ``X-Twilio-Signature`` is valid for this request."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        config = current_app.config
        if config["IVR_ALLOW_UNSIGNED"]:
            return view(*args, **kwargs)
        token = config["TWILIO_AUTH_TOKEN"]
        if not token:
            log.error(
                "403 %s: TWILIO_AUTH_TOKEN is not set, so no request can be verified", request.path
            )
            abort(403)
        url = signed_url(request, config["PUBLIC_BASE_URL"])
        params = request.form if request.method == "POST" else {}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not valid_signature(token, url, params, signature):
            log.warning(
                "403 %s: %s signature for %s (call %s); if Twilio is calling through a tunnel "
                "or proxy, set PUBLIC_BASE_URL to the public base URL",
                request.path,
                "invalid" if signature else "missing",
                url,
                request.form.get("CallSid", "-")[:64],
            )
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
