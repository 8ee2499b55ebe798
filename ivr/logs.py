"""The app's logging setup: one line per record, whatever a caller sends, and no floods.

Everything a request carries (CallSid, path, digits, speech, headers) reaches the log as an
argument of a record (``log.warning("403 %s", request.path)``), never as its format string.
:class:`EscapeControl` escapes control characters in those arguments, so a value holding a
newline cannot start a forged line (``\\n`` is written as the two characters ``\\n``); the
format strings are ours, and keep their own line breaks. :class:`Throttle` keeps one source
from flooding the log with rejections.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

LOGGER = "ivr"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 and C1 control characters (ESC included), DEL, and the Unicode line and paragraph
# separators: each can break a line, or move, hide or recolour what a terminal shows.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Werkzeug's development server colours a whole access-line argument: colour (SGR) sequences
# first and the reset last. In its records (only), those two are the logger's own and
# are kept; anything inside, which comes from the request, is escaped like any other text.
STYLED = re.compile("((?:\x1b\\[[0-9;]*m)+)(.*)(\x1b\\[0m)", re.S)
# Arguments of these types print no control characters, whatever their value.
SAFE = (int, float, bool, type(None))


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape(text: str, styled: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``);
    ``styled``: but for a colour that wraps the whole text (Werkzeug's access lines)."""
    if not CONTROL.search(text):
        return text
    styled = styled and STYLED.fullmatch(text)
    if styled:
        start, inside, reset = styled.groups()
        return start + CONTROL.sub(_escape_one, inside) + reset
    return CONTROL.sub(_escape_one, text)


class Escaped:
    """A log argument that formats as its value with control characters escaped, for ``%s``
    and ``%r`` alike."""

    __slots__ = ("styled", "value")

    def __init__(self, value: object, styled: bool = False) -> None:
        self.value = value
        self.styled = styled

    def __str__(self) -> str:
        return escape(str(self.value), self.styled)

    def __repr__(self) -> str:
        return escape(repr(self.value))


class EscapeControl(logging.Filter):
    """Escape control characters in every record's arguments (and in a message logged without
    arguments, which may have been built from request data). A traceback keeps its lines, each
    indented and escaped, so an exception's message cannot start a line of its own either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            text = _TRACEBACKS.formatException(record.exc_info)
            record.exc_text = "\n".join("  " + escape(line) for line in text.splitlines())
        args = record.args
        styled = record.name == "werkzeug"
        if args:
            if isinstance(args, dict):
                record.args = {k: _wrap(v, styled) for k, v in args.items()}
            else:
                record.args = tuple(_wrap(a, styled) for a in args)
        elif isinstance(record.msg, str):
            record.msg = escape(record.msg)
        else:
            record.msg = Escaped(record.msg)
        return True


_TRACEBACKS = logging.Formatter()


def _wrap(value: object, styled: bool = False) -> object:
    if isinstance(value, SAFE) or isinstance(value, Escaped):
        return value
    if isinstance(value, str) and not CONTROL.search(value):
        return value  # the common case: nothing to escape, no wrapper
    return Escaped(value, styled)


def setup(level: str) -> None:
    """Set the ``ivr`` loggers' level and make sure their records are written escaped.

    With no logging configured (gunicorn, ``ivr run``, the CLI) the ``ivr`` logger gets a
    stderr handler of its own. Where the host process configured handlers on the root logger
    (a test runner, an embedding app), those handlers get the escaping filter instead.
    """
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    root = logging.getLogger()
    if not root.handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    for handler in [*logger.handlers, *root.handlers]:
        if not any(isinstance(f, EscapeControl) for f in handler.filters):
            handler.addFilter(EscapeControl())


class Throttle:
    """At most one log line per key (a client's address) per ``seconds``, counting the rest.

    ``throttle(key)`` answers None when the line should be left out (it is counted), or the
    number left out since the last line for that key when it should be written. At most
    ``max_keys`` keys are remembered (the oldest are forgotten first), so a flood from many
    addresses costs bounded memory.
    """

    def __init__(
        self,
        seconds: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        # key -> [time of the last line written, lines left out since]
        self._seen: OrderedDict[Hashable, list[Any]] = OrderedDict()

    def __call__(self, key: Hashable) -> int | None:
        now = self.clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.seconds:
                entry[1] += 1
                return None
            left_out = entry[1] if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
            return left_out
