"""The webhook app's request class: Twilio's form and query read for less.

Every webhook reads an ``application/x-www-form-urlencoded`` body of a dozen or two short
parameters and a short query string. Werkzeug's general parsing of those costs about as much
as everything else a webhook does; this class gives exactly the same ``form`` and ``args``
(property-tested against the standard library's ``parse_qsl``, which Werkzeug uses) with less
work per request. Anything else (multipart, other types, debug mode) goes to Werkzeug unchanged.

Only public APIs: the ``form``, ``files`` and ``args`` attributes, ``get_data`` (which reads
``stream``, limited to Content-Length and MAX_CONTENT_LENGTH) and ``ImmutableMultiDict``.
"""

from __future__ import annotations

import codecs
from urllib.parse import quote, unquote

from flask import Request, current_app
from werkzeug.datastructures import FileStorage, ImmutableMultiDict
from werkzeug.utils import cached_property

FORM = "application/x-www-form-urlencoded"
# The codec error handler for unquoting: bytes that are not UTF-8 stay percent-encoded (what
# Werkzeug does for its own parsing), rather than becoming U+FFFD or raising.
ERRORS = "ivr.percent"


def _requote(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return quote(error.object[error.start : error.end], safe=""), error.end


codecs.register_error(ERRORS, _requote)


def parse_urlencoded(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True, errors=ERRORS)``.

    The same pairs in the same order; it only skips the calls that cannot change a part
    (no ``+``, no ``%``), which is most of Twilio's parameters.
    """
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, "utf-8", ERRORS)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            if value[:3] in ("%2B", "%2b") and "%" not in value[3:]:
                value = "+" + value[3:]  # a phone number, From=%2B447700900123: the common case
            else:
                value = unquote(value, "utf-8", ERRORS)
        append((name, value))
    return pairs


EMPTY: ImmutableMultiDict[str, str] = ImmutableMultiDict()
NO_FILES: ImmutableMultiDict[str, FileStorage] = ImmutableMultiDict()


class WebhookRequest(Request):
    """Flask's request, with a leaner path for urlencoded forms and query strings."""

    @cached_property
    def args(self) -> ImmutableMultiDict[str, str]:  # type: ignore[override]
        """As Werkzeug's ``args``: the query string's parameters."""
        query = self.query_string
        if not query:
            return EMPTY
        # Werkzeug raises on raw bytes that are not UTF-8 (a 500); keep them percent-encoded.
        return ImmutableMultiDict(parse_urlencoded(query.decode("utf-8", ERRORS)))

    @cached_property
    def form(self) -> ImmutableMultiDict[str, str]:  # type: ignore[override]
        """As Werkzeug's ``form``: the urlencoded body's parameters."""
        if not self._lean():
            return super().form
        # get_data reads ``stream``: limited to Content-Length, and 413 beyond
        # MAX_CONTENT_LENGTH. It keeps the bytes, so get_data() still works afterwards.
        try:
            return ImmutableMultiDict(parse_urlencoded(self.get_data().decode()))
        except ValueError:
            # Werkzeug's parser is silent about a body that is not UTF-8: an empty form.
            return EMPTY

    @cached_property
    def files(self) -> ImmutableMultiDict[str, FileStorage]:  # type: ignore[override]
        """As Werkzeug's ``files``: a urlencoded body never holds one."""
        return NO_FILES if self._lean() else super().files

    def itself(self) -> WebhookRequest:
        """This object. Called through Flask's ``request`` proxy it returns the request behind
        it in one look-up, so code that reads many attributes pays for the proxy once."""
        return self

    def _lean(self) -> bool:
        """Whether this body is a urlencoded form outside debug mode (Flask's debug mode adds
        its own checks to Werkzeug's form loading)."""
        return self.mimetype == FORM and not (current_app and current_app.debug)
