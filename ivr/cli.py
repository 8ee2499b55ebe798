"""The ``ivr`` command: a thin click layer over the library."""

from __future__ import annotations

import os
import sys

import click

from .errors import IVRError, MenuError
from .menu import load_menu


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr101")
def cli() -> None:
    """ivr101: the police 101 telephone menu on Twilio, and the tools around it."""


def menu_path(path: str | None) -> str:
    from .config import from_env

    return path or from_env()["IVR_MENU_FILE"]


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def validate(file: str | None) -> None:
    """Check a menu file and print every problem with its location.

    Exits 1 when the file has errors; warnings (such as unreachable nodes) do not fail it.

    Example:

        ivr validate menus.json
    """
    path = menu_path(file)
    try:
        menu = load_menu(path)
    except MenuError as exc:
        click.echo(f"{exc.source}: {len(exc.problems)} error(s)", err=True)
        for problem in exc.problems:
            click.echo(f"  error: {problem}", err=True)
        sys.exit(1)
    for warning in menu.warnings:
        click.echo(f"  warning: {warning}", err=True)
    kinds: dict[str, int] = {}
    for node in menu.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    click.echo(f"{path}: OK — {len(menu.nodes)} nodes ({summary}), start {menu.start!r}")


@cli.command()
@click.option("--host", default=None, help="Address to bind (default HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default PORT or 5000).")
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept requests without a Twilio signature (local testing only; loudly logged).",
)
@click.option("--debug", is_flag=True, help="Flask debug mode with the reloader.")
def run(host: str | None, port: int | None, allow_unsigned: bool, debug: bool) -> None:
    """Serve the webhooks with Flask's development server, for local testing.

    Example:

        ivr run --allow-unsigned
    """
    from . import create_app

    if allow_unsigned:
        os.environ["IVR_ALLOW_UNSIGNED"] = "1"
    try:
        app = create_app()
    except IVRError as exc:
        raise click.ClickException(str(exc)) from None
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    base = app.config["PUBLIC_BASE_URL"] or f"http://{host}:{port}"
    unsigned = app.config["IVR_ALLOW_UNSIGNED"]
    click.echo(
        f"\nThe 101 menu is being served on http://{host}:{port}\n"
        f"  webhook (A call comes in, POST): {base.rstrip('/')}/voice\n"
        f"  status callback: {base.rstrip('/')}/status   fallback: {base.rstrip('/')}/fallback\n"
        "\nCall it from another terminal, no phone needed:\n"
        f"  .venv/bin/ivr call --url http://{host}:{port}/voice"
        + ("" if unsigned else " --auth-token $TWILIO_AUTH_TOKEN")
        + "\n  .venv/bin/ivr call --press 1      (in-process, no server needed)\n"
        f"  curl -X POST -d CallSid=CAtest -d From=+447700900123 http://{host}:{port}/voice\n"
        + (
            "\nSignatures are NOT checked (--allow-unsigned): keep this on localhost.\n"
            if unsigned
            else ""
        )
    )
    app.run(host=host, port=port, debug=debug)


# -- the journey log: journey, report, purge, callbacks (ivr/journey_commands.py) -------------
def _journey_commands() -> None:
    from .journey_commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_journey_commands()
