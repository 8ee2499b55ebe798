"""The ``ivr`` command: a thin click layer over the library, one module per command group.

Commands are registered one way, in :data:`COMMANDS`, and imported only when they run, so
``ivr --version`` does not load Flask, SQLAlchemy or the menu model. Library errors
(:class:`~ivr.errors.IVRError`) become messages and exit statuses here, in :class:`IvrGroup`,
and nowhere else: a command lets them through, and declares any exit status other than 1 with
:func:`~ivr.cli.terminal.exit_code`. What commands print goes through
:func:`~ivr.cli.terminal.say`, which masks the passwords in URLs.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from ..errors import IVRError
from . import terminal

COMMANDS: dict[str, str] = {
    "run": "ivr.cli.serving:run",
    "serve": "ivr.cli.serving:serve",
    "validate": "ivr.cli.menu:validate",
    "paths": "ivr.cli.menu:paths",
    "graph": "ivr.cli.menu:graph",
    "schema": "ivr.cli.menu:schema",
    "diff": "ivr.cli.authoring:diff",
    "publish": "ivr.cli.authoring:publish",
    "call": "ivr.cli.call:call",
    "test": "ivr.scripts.cli:test",
    "twilio": "ivr.cli.twilio:twilio",
    "journey": "ivr.cli.journey:journey",
    "report": "ivr.cli.journey:report",
    "purge": "ivr.cli.journey:purge",
    "callbacks": "ivr.cli.journey:callbacks",
    "db": "ivr.cli.journey:db",
}
"""Every command: its name and where it lives (``module:attribute``)."""


class IvrGroup(click.Group):
    """A group whose commands are imported on first use, and whose library errors are shown
    as a message (exit 1, or the status the command declares) instead of a traceback."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IVRError as exc:
            command = self.commands.get(ctx.invoked_subcommand or "")
            raise terminal.Failure(exc, terminal.code_for(command, exc)) from None


@click.group(
    cls=IvrGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="ivr101")
def cli() -> None:
    """ivr101: the police 101 telephone menu on Twilio, and the tools around it."""
