"""What the ``ivr`` command shows people: URLs without passwords, library errors as messages.

A library error becomes one message with the command's exit code.

Every command prints through :func:`say` (or lets an :class:`~ivr.errors.IVRError` reach the
group), so a ``user:pass@`` in a URL, which Twilio accepts as HTTP basic authentication, never
reaches a terminal, a CI log or ``--json``. :func:`mask_url` is the one rule for that.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from ..errors import IVRError, MenuError

MASK = "***"

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#\"'<>\\]*")
"""A scheme and the authority after it: where ``user:password@`` would be."""


def _masked(match: re.Match[str]) -> str:
    scheme, _, authority = match.group(0).partition("://")
    # The host follows the last "@": a password may itself hold an "@" (urlsplit agrees).
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return match.group(0)
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:{MASK}@{host}"


def mask_url(text: str) -> str:
    """``text`` (a URL, or a line or document holding URLs) with every URL's password replaced
    by ``***``: ``http://alice:s3cret@host/voice`` becomes ``http://alice:***@host/voice``."""
    return _URL.sub(_masked, text) if "@" in text else text


def say(message: Any = "", *, err: bool = False, nl: bool = True) -> None:
    """:func:`click.echo`, with every URL's password masked."""
    click.echo(mask_url(str(message)), err=err, nl=nl)


def interactive() -> bool:
    """Whether someone can answer a question: stdin is a terminal, not a script or a pipe
    (nor closed, as under some process managers)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


# -- library errors, shown once --------------------------------------------------------------

C = TypeVar("C", bound=click.Command)


def exit_code(code: int, *errors: type[IVRError]) -> Callable[[C], C]:
    """Declare that ``command`` exits with ``code`` (not 1) when it fails with one of ``errors``,
    as its help documents (``ivr diff``: 2 when a file is not a valid menu)."""

    def declare(command: C) -> C:
        codes: dict[type[IVRError], int] = dict(getattr(command, "ivr_exit_codes", {}))
        codes.update(dict.fromkeys(errors, code))
        command.ivr_exit_codes = codes  # type: ignore[attr-defined]
        return command

    return declare


def code_for(command: click.Command | None, error: IVRError) -> int:
    """The exit status ``command`` documents for ``error``: 1 unless it declares another."""
    codes: dict[type[IVRError], int] = getattr(command, "ivr_exit_codes", {})
    for kind in type(error).__mro__:
        if kind in codes:
            return codes[kind]
    return 1


class Failure(click.ClickException):
    """A library error as the command line shows it, with the command's exit status.

    A :class:`~ivr.errors.MenuError` is every problem, located, one per line (as ``ivr
    validate`` prints them); any other error is click's ``Error: ...`` line. URLs are masked.
    """

    def __init__(self, error: IVRError, code: int = 1) -> None:
        super().__init__(mask_url(str(error)))
        self.error = error
        self.exit_code = code

    def show(self, file: IO[Any] | None = None) -> None:
        if isinstance(self.error, MenuError):
            say(f"{self.error.source}: {len(self.error.problems)} error(s)", err=True)
            for problem in self.error.problems:
                say(f"  error: {problem}", err=True)
            return
        super().show(file)
