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
from werkzeug.sansio.utils import get_current_url

log = logging.getLogger("ivr.security")

F = TypeVar("F", bound=Callable[..., Any])
FORM = "application/x-www-form-urlencoded"


def signed_url(req: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed: the public base (if set) plus the raw path and query.

    Werkzeug decodes ``%2F`` and ``%C3%A9`` in ``request.url``, and a tunnel or proxy changes
    scheme and host, so the URL is rebuilt from the raw request line where the server kept it.
    """
    environ = req.environ
    # The path as sent (RAW_URI: gunicorn, Werkzeug; REQUEST_URI: others), else re-quoted.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    path = _raw_path(raw) or _quoted_path(req.script_root + req.path)
    # QUERY_STRING is never decoded by the server, so it is exactly what Twilio signed.
    query = environ.get("QUERY_STRING", "")
    raw = path + (f"?{query}" if query else "")
    if not public_base_url:
        return _origin(req.scheme, req.host) + raw
    origin, prefix = _public_base(public_base_url)
    # A proxy may pass the public path prefix through (SCRIPT_NAME) or strip it.
    if prefix and not raw.startswith(prefix + "/"):
        return origin + prefix + raw
    return origin + raw


# The pieces of a signed URL repeat from request to request: each is worked out once.


@lru_cache(maxsize=1024)
def _raw_path(raw_uri: str) -> str:
    if raw_uri.startswith(("http://", "https://")):
        raw_uri = urlsplit(raw_uri).path
    return raw_uri.split("?", 1)[0]


@lru_cache(maxsize=1024)
def _quoted_path(path: str) -> str:
    return quote(path, safe="/:@!$&'()*+,;=-._~%")


@lru_cache(maxsize=64)
def _origin(scheme: str, host: str) -> str:
    """``request.host_url`` without the trailing slash."""
    return get_current_url(scheme, host).rstrip("/")


@lru_cache(maxsize=16)
def _public_base(public_base_url: str) -> tuple[str, str]:
    base = urlsplit(public_base_url.rstrip("/"))
    return f"{base.scheme}://{base.netloc}", base.path


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


@lru_cache(maxsize=16)
def _keyed_hmac(token: bytes) -> hmac.HMAC:
    """An HMAC-SHA1 with the key already absorbed; each signature starts from a copy."""
    return hmac.new(token, digestmod=sha1)


def compute_signature(token: bytes, url: str, params: MultiDict[str, str] | dict[str, str]) -> str:
    """``RequestValidator.compute_signature`` (HMAC-SHA1 of the URL and the sorted parameters),
    without its exception per parameter and with the key schedule computed once per token."""
    if not isinstance(params, MultiDict):
        text = url + "".join([name + value for name, value in sorted(params.items())])
    else:
        # A MultiDict is a dict of value lists: read them without building new ones.
        pairs = sorted(dict.items(params))
        try:
            # Twilio sends each parameter once: one value per name, the common case.
            text = url + "".join([name + value for name, (value,) in pairs])
        except ValueError:
            text = url + "".join(
                [name + value for name, values in pairs for value in sorted(set(values))]
            )
    mac = _keyed_hmac(token).copy()
    mac.update(text.encode("utf-8"))
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
        req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy look-up
        if req.method == "POST" and req.mimetype != FORM and (req.mimetype or req.content_length):
            # Twilio always posts a form; anything else would be read as no parameters.
            log.warning("415 %s: a %r body is not a Twilio webhook", req.path, req.mimetype)
            abort(415)
        config = current_app.config
        if config["IVR_ALLOW_UNSIGNED"]:
            return view(*args, **kwargs)
        token = config["TWILIO_AUTH_TOKEN"]
        if not token:
            log.error(
                "403 %s: TWILIO_AUTH_TOKEN is not set, so no request can be verified", request.path
            )
            abort(403)
        url = signed_url(req, config["PUBLIC_BASE_URL"])
        params = req.form if req.method == "POST" else {}
        signature = req.environ.get("HTTP_X_TWILIO_SIGNATURE", "")
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
