"""The webhook app's request class: Twilio's form and query read for less.

Every webhook reads an ``application/x-www-form-urlencoded`` body of a dozen or two short
parameters and a short query string. Werkzeug's general parsing of those costs about as much
as everything else a webhook does; this class gives exactly the same ``form`` and ``args``
(property-tested against Werkzeug's) with less work per request. Anything else (multipart,
other types, debug mode) goes to Werkzeug unchanged.
"""

from __future__ import annotations

from urllib.parse import unquote

from flask import Request, current_app
from werkzeug.utils import cached_property

# Werkzeug's codec error handler: invalid UTF-8 after unquoting stays percent-encoded.
# (Registered when ``werkzeug.urls`` is imported, which Flask always does.)
_ERRORS = "werkzeug.url_quote"
FORM = "application/x-www-form-urlencoded"


def parse_urlencoded(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")``.

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
            name = unquote(name, "utf-8", _ERRORS)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            if value[:3] in ("%2B", "%2b") and "%" not in value[3:]:
                value = "+" + value[3:]  # a phone number, From=%2B447700900123: the common case
            else:
                value = unquote(value, "utf-8", _ERRORS)
        append((name, value))
    return pairs


class WebhookRequest(Request):
    """Flask's request, with a leaner path for urlencoded forms and query strings."""

    @cached_property
    def args(self):  # type: ignore[override]
        """As Werkzeug's ``args``: the query string's parameters."""
        query = self.query_string
        if not query:
            return self.parameter_storage_class()
        # Werkzeug raises on raw bytes that are not UTF-8 (a 500); keep them percent-encoded.
        return self.parameter_storage_class(parse_urlencoded(query.decode("utf-8", _ERRORS)))

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        if self.mimetype != FORM or (current_app and current_app.debug):
            super()._load_form_data()
            return
        # The same stream Werkzeug would read: limited to Content-Length and to
        # MAX_CONTENT_LENGTH (413 beyond it).
        stream = self._get_stream_for_parsing()
        storage = self.parameter_storage_class
        try:
            form = storage(parse_urlencoded(stream.read().decode()))
        except ValueError:
            # Werkzeug's parser is silent about a body that is not UTF-8: an empty form.
            form = storage()
        d = self.__dict__
        d["stream"], d["form"], d["files"] = stream, form, storage()
