"""Twilio request signatures: every webhook answers 403 unless Twilio signed the request."""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable
from functools import lru_cache, wraps
from hashlib import sha1
from ipaddress import ip_address
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from flask import Request, abort, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.sansio.utils import get_current_url

from ..logs import Throttle

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
        # Behind a proxy that strips a path prefix and says so (X-Forwarded-Prefix, trusted
        # through IVR_TRUSTED_PROXIES), the prefix is in SCRIPT_NAME and not in the raw path.
        script = environ.get("SCRIPT_NAME", "")
        if script and script != "/":
            prefix = _quoted_path(script.rstrip("/"))
            if not raw.startswith(prefix + "/"):
                raw = prefix + raw
                _warn_prefix(prefix)
        return _origin(req.scheme, req.host) + raw
    origin, prefix = _public_base(public_base_url)
    # A proxy may pass the public path prefix through (SCRIPT_NAME) or strip it.
    if prefix and not raw.startswith(prefix + "/"):
        return origin + prefix + raw
    return origin + raw


_PREFIXES_WARNED: set[str] = set()


def _warn_prefix(prefix: str) -> None:
    """Once per prefix: the URLs the app hands Twilio take their prefix from PUBLIC_BASE_URL,
    so without it the caller's next request would miss the proxy's prefix."""
    if prefix not in _PREFIXES_WARNED:
        _PREFIXES_WARNED.add(prefix)
        log.error(
            "the proxy strips the path prefix %s (X-Forwarded-Prefix) but PUBLIC_BASE_URL is not "
            "set, so the URLs handed to Twilio lack it: set PUBLIC_BASE_URL=https://<host>%s",
            prefix,
            prefix,
        )


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
    """``url`` as built, then the same URL with its port removed, or with the scheme's default
    port (443 for https, else 80) added when it has none.

    Twilio's back end signs some URLs with the port and some without, so twilio-python's
    ``RequestValidator.validate`` accepts either; so does this (tested against it).
    """
    scheme, netloc, path, query, fragment = urlsplit(url)
    host, colon, port = netloc.rpartition(":")
    if colon and port.isdigit():
        other = host  # "[::1]:8080" -> "[::1]"; in "[::1]" alone "1]" is no port
    else:
        other = f"{netloc}:{443 if scheme == 'https' else 80}"
    return (url, urlunsplit((scheme, other, path, query, fragment)))


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


# Headers a proxy or tunnel adds (ngrok, cloudflared, nginx, CDNs): a request carrying one came
# from elsewhere, whatever address it arrives from.
FORWARDING_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_REAL_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP",
)


def local_client(environ: dict[str, Any]) -> bool:
    """Whether the request came from this machine: a loopback peer, not relayed by a proxy
    or tunnel (those run on this machine too, so the peer alone does not tell).

    A request with no REMOTE_ADDR at all never crossed a network: every server sets it, and
    only an in-process caller (the simulator, the softphone) leaves it out.
    """
    if "REMOTE_ADDR" not in environ:
        return not relayed(environ)
    return loopback(environ["REMOTE_ADDR"]) and not relayed(environ)


def loopback(address: str) -> bool:
    """Whether ``address`` (REMOTE_ADDR) is a loopback address, IPv4, IPv6 or IPv4-mapped."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False  # a Unix socket, or no address: not known to be local
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def relayed(environ: dict[str, Any]) -> bool:
    """Whether a proxy or tunnel relayed the request (it says so in a forwarding header)."""
    return any(name in environ for name in FORWARDING_HEADERS)


# Where an app keeps its refusal-log throttle (per app, so tests and apps do not share one).
THROTTLE = "ivr.security.refusals"


def refuse(status: int, message: str, *args: Any) -> NoReturn:
    """Log why a request is refused (one line per client address per minute, with a count of
    the lines left out) and answer ``status``."""
    source = request.remote_addr or "-"
    throttle = current_app.extensions.get(THROTTLE)
    if throttle is None:
        throttle = current_app.extensions.setdefault(THROTTLE, Throttle())
    left_out = throttle(source)
    if left_out is not None:
        if left_out:
            message += "; %d more refused from %s in the last minute were not logged"
            args = (*args, left_out, source)
        log.warning(message, *args)
    abort(status)


def require_twilio_signature(view: F) -> F:
    """Answer 403 unless ``X-Twilio-Signature`` is valid for this request.

    In unsigned mode (IVR_ALLOW_UNSIGNED, local testing) it answers 403 unless the client is
    on this machine, whatever server runs the app.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        req = request.itself()  # one proxy look-up (ivr.request.WebhookRequest)
        if req.method == "POST" and req.mimetype != FORM and (req.mimetype or req.content_length):
            # Twilio always posts a form; anything else would be read as no parameters.
            refuse(415, "415 %s: a %r body is not a Twilio webhook", req.path, req.mimetype)
        config = current_app.config
        if config["IVR_ALLOW_UNSIGNED"]:
            if local_client(req.environ):
                return view(*args, **kwargs)
            refuse(
                403,
                "403 %s: unsigned mode (IVR_ALLOW_UNSIGNED) answers only this machine, not %s%s",
                req.path,
                req.remote_addr or "-",
                " (relayed by a proxy or tunnel)" if relayed(req.environ) else "",
            )
        token = config["TWILIO_AUTH_TOKEN"]
        if not token:
            refuse(403, "403 %s: TWILIO_AUTH_TOKEN is not set, so no request is verified", req.path)
        url = signed_url(req, config["PUBLIC_BASE_URL"])
        params = req.form if req.method == "POST" else {}
        signature = req.environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        if not valid_signature(token, url, params, signature):
            refuse(
                403,
                "403 %s: %s signature for %s (call %s, from %s); if Twilio is calling through a "
                "tunnel or proxy, set PUBLIC_BASE_URL to the public base URL",
                req.path,
                "invalid" if signature else "missing",
                url,
                req.form.get("CallSid", "-")[:64],
                req.remote_addr or "-",
            )
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
