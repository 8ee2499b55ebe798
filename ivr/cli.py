"""The ``ivr`` command: a thin click layer over the library."""

from __future__ import annotations

import ipaddress
import os
import sys

import click

from .errors import IVRError, MenuError
from .menu import load_menu


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ivr101")
def cli() -> None:
    """ivr101: the police 101 telephone menu on Twilio, and the tools around it."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    if app.config["IVR_ALLOW_UNSIGNED"] and not is_loopback(host):
        raise click.ClickException(
            f"unsigned requests are only for localhost; refusing to serve them on {host}. "
            "Set TWILIO_AUTH_TOKEN instead of --allow-unsigned / IVR_ALLOW_UNSIGNED."
        )
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
        "  curl -X POST -d CallSid=CAtest --data-urlencode From=+447700900123 "
        f"http://{host}:{port}/voice\n"
        + (
            "\nSignatures are NOT checked (--allow-unsigned): keep this on localhost.\n"
            if unsigned
            else ""
        )
    )
    if app.config.get("IVR_PHONE"):
        click.echo(
            f"Softphone in the browser: http://{host}:{port}/phone?token=$IVR_PHONE_TOKEN\n"
            "  (the token once; the page swaps it for a cookie)\n"
        )
    app.run(host=host, port=port, debug=debug)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (PORT or 5000).")
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Worker processes (default IVR_WORKERS, else 2 x CPUs + 1).",
)
@click.option(
    "-t",
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="Threads per worker, with --worker-class gthread (default IVR_THREADS, else 2).",
)
@click.option(
    "-k",
    "--worker-class",
    type=click.Choice(["gevent", "gthread", "sync"]),
    default=None,
    help="gevent (default, IVR_WORKER_CLASS): slow clients cannot hold a worker.",
)
@click.option(
    "--menu", "menu_file", type=click.Path(dir_okay=False), help="Menu file (IVR_MENU_FILE)."
)
@click.option("--access-log", is_flag=True, help="Log every request to stdout.")
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
    worker_class: str | None,
    menu_file: str | None,
    access_log: bool,
) -> None:
    """Serve the webhooks in production, under gunicorn.

    Any worker serves any step of any call (the call's state is in the URLs). The menu is
    checked before the workers start, and a broken one stops the server from starting.
    Its gevent workers read each request whole before the app sees it, so clients that
    trickle bytes cannot starve callers. Put a TLS proxy (or a tunnel) in front; set
    PUBLIC_BASE_URL to the URL Twilio calls.

    Example:

        TWILIO_AUTH_TOKEN=... ivr serve --host 0.0.0.0 --port 8000 --workers 4
    """
    from .config import from_env
    from .serve import Server, gunicorn_options, worker_description

    if menu_file:
        os.environ["IVR_MENU_FILE"] = menu_file
    try:
        settings = from_env()
        load_menu(settings["IVR_MENU_FILE"])
        if settings.get("IVR_PHONE") and workers is None and not os.environ.get("IVR_WORKERS"):
            # The softphone's calls live in one process's memory: one worker, many threads.
            click.echo("IVR_PHONE is on: one worker, so the softphone sees all its calls", err=True)
            workers, threads = 1, threads or 8
        options = gunicorn_options(
            host, port, workers, threads, access_log, worker_class=worker_class
        )
    except MenuError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if settings["IVR_ALLOW_UNSIGNED"]:
        raise click.ClickException(
            "IVR_ALLOW_UNSIGNED is on: `ivr serve` is for production and never accepts unsigned "
            "requests (use `ivr run --allow-unsigned` on localhost to test without Twilio)"
        )
    if not settings["TWILIO_AUTH_TOKEN"]:
        click.echo("warning: TWILIO_AUTH_TOKEN is not set: every webhook will answer 403", err=True)
    click.echo(
        f"ivr101 on {options['bind'][0]}: {worker_description(options)}, "
        f"menu {settings['IVR_MENU_FILE']}",
        err=True,
    )
    Server(options).run()


# --- `ivr call`: the caller simulator (ivr.caller) -------------------------------------------

_STEP_OPTIONS = {"--press": "press", "--say": "say", "--silence": "silence", "--hangup": "hangup"}


def _scan_steps(args: list[str]) -> list[tuple[str, str]]:
    """The scripted steps in command-line order (click groups each option's values apart)."""
    steps: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        kind = _STEP_OPTIONS.get(name)
        if kind in ("press", "say"):
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            steps.append((kind, value))
        elif kind is not None:
            steps.append((kind, ""))
        i += 1
    return steps


class _CallCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ivr.steps"] = _scan_steps(args)
        return super().parse_args(ctx, args)


def _keys(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for keys in value:
        if not keys or any(k not in "0123456789*#" for k in keys):
            raise click.BadParameter(f"{keys!r}: keys are 0-9, * and #")
    return value


@cli.command(cls=_CallCommand)
@click.option(
    "--url", help="Any TwiML webhook (voice URL). Default: this project's app in-process."
)
@click.option(
    "--method",
    type=click.Choice(["POST", "GET"], case_sensitive=False),
    default="POST",
    show_default=True,
    help="HTTP method for the first request.",
)
@click.option(
    "--auth-token",
    envvar="TWILIO_AUTH_TOKEN",
    help="Sign requests with this token (default TWILIO_AUTH_TOKEN; with --url only).",
)
@click.option("--from", "from_number", default="+447700900123", show_default=True)
@click.option("--to", "to_number", default="+441632960101", show_default=True)
@click.option(
    "--menu", "menu_file", type=click.Path(dir_okay=False), help="Menu file (in-process)."
)
@click.option("--press", multiple=True, callback=_keys, help="Press keys (a step; repeatable).")
@click.option("--say", multiple=True, help="Say words (a step; repeatable).")
@click.option("--silence", count=True, help="Stay silent at a prompt (a step; repeatable).")
@click.option("--hangup", count=True, help="Hang up at a prompt (a step).")
@click.option(
    "--answer",
    "queue",
    flag_value="answer",
    default=True,
    help="In a queue, a handler answers (the default).",
)
@click.option("--queue-full", "queue", flag_value="queue-full", help="The queue refuses the call.")
@click.option(
    "--queue-hangup", "queue", flag_value="hangup", help="The caller gives up in a queue."
)
@click.option("--queue-error", "queue", flag_value="error", help="Twilio cannot queue the call.")
@click.option(
    "--waits",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Wait documents heard in a queue before that happens.",
)
@click.option(
    "--dial-status",
    type=click.Choice(["completed", "busy", "no-answer", "failed"]),
    default="completed",
    show_default=True,
    help="What a <Dial> gets.",
)
@click.option(
    "--status-callback",
    metavar="URL",
    help="Post Twilio's call status callback here when the call ends (relative to the target "
    "URL allowed). Default: the app's /status in-process, none with --url.",
)
@click.option(
    "--no-status-callback", is_flag=True, help="Send no status callback at the end of the call."
)
@click.option("--json", "as_json", is_flag=True, help="Print the events and outcome as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Also show each request and redirect.")
@click.pass_context
def call(
    ctx: click.Context,
    url: str | None,
    method: str,
    auth_token: str | None,
    from_number: str,
    to_number: str,
    menu_file: str | None,
    press: tuple[str, ...],
    say: tuple[str, ...],
    silence: int,
    hangup: int,
    queue: str,
    waits: int,
    dial_status: str,
    status_callback: str | None,
    no_status_callback: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Call a TwiML app and hear it the way a caller would, without a phone.

    Interactive unless steps are given: type keys (0-9 * #), words to say, Enter for
    silence, or 'hangup'. With --press/--say/--silence/--hangup the steps run in order
    (the caller hangs up when they run out), the transcript and outcome are printed, and
    the exit status is 1 if the app made an error Twilio would report.

    When the call ends, Twilio's status callback (CallStatus, CallDuration in simulated
    seconds) goes to this app's /status in-process, which closes the call's journey
    (`ivr journey CALLSID`); with --url only when --status-callback is given. A failing
    status callback is a warning, not an application error.

    Example:

        ivr call --press 1 --press 2

        ivr call --say "report a crime" --queue-full --json

        ivr call --url http://127.0.0.1:5000/voice --auth-token "$TWILIO_AUTH_TOKEN"

        ivr call --url http://127.0.0.1:5000/voice --status-callback /status --press 1
    """
    import json
    import secrets

    from .caller import (
        Call,
        DialResult,
        HTTPTransport,
        Input,
        InteractiveCaller,
        ScriptedCaller,
        WSGITransport,
        describe,
    )

    scripted = ctx.meta.get("ivr.steps", [])
    make = {
        "press": Input.press,
        "say": Input.say,
        "silence": lambda _: Input.silence(),
        "hangup": lambda _: Input.hangup(),
    }
    steps = [make[kind](value) for kind, value in scripted]

    if url is None:
        from . import create_app

        # In-process: a fresh token on both sides, so signing is real and nothing leaks out.
        auth_token = secrets.token_hex(16)
        config = {
            "TWILIO_AUTH_TOKEN": auth_token,
            "IVR_ALLOW_UNSIGNED": False,
            "PUBLIC_BASE_URL": None,
            "IVR_LOG_LEVEL": "WARNING",
        }
        if menu_file:
            config["IVR_MENU_FILE"] = menu_file
        try:
            app = create_app(config)
        except IVRError as exc:
            raise click.ClickException(str(exc)) from None
        transport = WSGITransport(app)
        target = "http://localhost/voice"
        journey = app.extensions["ivr"].journey
        # Our own app has a /status route: the callback closes the call's journey.
        status_callback = status_callback or "/status"
    else:
        transport = HTTPTransport()
        target = url
        journey = None
    if no_status_callback:
        status_callback = None

    interactive = not steps

    def show(event):  # live transcript in interactive mode
        line = describe(event, verbose=verbose)
        if line is not None:
            click.echo(line)

    if interactive:

        def ask(prompt: str) -> str:
            try:
                return click.prompt(prompt, default="", show_default=False, err=as_json)
            except click.Abort:
                raise EOFError from None  # Ctrl-C / Ctrl-D: the caller hangs up

        caller = InteractiveCaller(ask)
    else:
        caller = ScriptedCaller(
            steps,
            queue=queue,  # type: ignore[arg-type]
            queue_waits=waits,
            dial=DialResult(dial_status, 60 if dial_status == "completed" else 0),  # type: ignore[arg-type]
        )
    simulation = Call(
        transport,
        target,
        caller,
        method=method,
        auth_token=auth_token or None,
        from_number=from_number,
        to_number=to_number,
        status_callback=status_callback,
        on_event=show if interactive and not as_json else None,
    )
    if not as_json:
        click.echo(f"Calling {target} as {from_number} (CallSid {simulation.record.call_sid})")
    try:
        record = simulation.run()
    finally:
        if isinstance(transport, HTTPTransport):
            transport.close()
        if journey is not None:
            journey.close()  # written before this command returns: `ivr journey` sees it
    outcome = record.outcome
    assert outcome is not None
    if as_json:
        click.echo(json.dumps(record.as_dict(), indent=2))
    else:
        if not interactive:
            for event in record.events:
                show(event)
        if outcome.error is None:
            click.echo(f"Outcome: {outcome.summary()}")
    for warning in record.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if outcome.error is not None:
        raise click.ClickException(outcome.error.describe())


# --- `ivr paths`: every route through the menu (ivr.paths) ----------------------------------


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--wpm",
    type=click.IntRange(60, 300),
    default=150,
    show_default=True,
    help="Speaking rate for the estimate, in words a minute.",
)
@click.option("--max-seconds", type=float, default=60, show_default=True, help="Flag above this.")
@click.option("--max-menus", type=int, default=3, show_default=True, help="Flag above this.")
@click.option("--all", "all_routes", is_flag=True, help="Every route, not only the quickest.")
@click.option("--json", "as_json", is_flag=True, help="Print routes and findings as JSON.")
def paths(
    file: str | None,
    wpm: int,
    max_seconds: float,
    max_menus: int,
    all_routes: bool,
    as_json: bool,
) -> None:
    """Walk every route through the menu: keys and listening time to each destination.

    Prints, slowest first, the quickest way to each destination (a queue, a transfer, or a
    message that ends the call): the keys, how long the caller listens to get there (words
    at --wpm, pauses, and timeouts where a route needs them) and how many menus. Flags dead
    ends, loops with no way out, unreachable nodes, and destinations that keys reach only
    after more than --max-seconds or --max-menus; exits 1 if there is any.

    Example:

        ivr paths menus.json

        ivr paths --all --wpm 130
    """
    import json

    from .paths import table, walk_paths

    path = menu_path(file)
    try:
        menu = load_menu(path)
    except MenuError as exc:
        raise click.ClickException(str(exc)) from None
    report = walk_paths(menu, words_per_minute=wpm, max_seconds=max_seconds, max_menus=max_menus)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        routes = report.routes if all_routes else report.fastest
        click.echo(table(routes))
        click.echo(
            f"\n{len(report.fastest)} destinations, {len(report.routes)} routes; "
            f"listening estimated at {wpm} words a minute."
        )
        for finding in report.findings:
            click.echo(f"  {finding}", err=True)
        if report.ok:
            click.echo(f"{path}: OK — no dead ends, loops, unreachable, slow or deep destinations")
    if not report.ok:
        sys.exit(1)


# -- authoring: the menu as a picture, and the editor schema ---------------------------------


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
    help="Mermaid (renders on GitHub), Graphviz DOT, or SVG drawn by Graphviz `dot`.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file, not stdout."
)
@click.option(
    "--update-readme",
    "readme",
    is_flag=False,
    flag_value="README.md",
    default=None,
    type=click.Path(dir_okay=False),
    help="Refresh the Mermaid picture between the menu-graph markers of README.md "
    "(or the file given).",
)
def graph(file: str | None, fmt: str, output: str | None, readme: str | None) -> None:
    """Draw the menu: every node by kind, every edge with its key.

    Fallbacks and queue overflows are dashed. SVG needs Graphviz installed.

    \b
    Example:
        ivr graph > menu.mmd
        ivr graph --format svg -o menu.svg
        ivr graph --update-readme
    """
    from .graph import GraphError, to_dot, to_mermaid, to_svg, update_markdown

    try:
        menu = load_menu(menu_path(file))
        if readme is not None:
            changed = update_markdown(readme, menu)
            click.echo(f"{readme}: {'updated' if changed else 'already up to date'}")
            return
        text = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}[fmt](menu)
    except (MenuError, GraphError) as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="menus.schema.json",
    show_default=True,
    help="Where to write the schema ('-' for stdout).",
)
def schema(output: str) -> None:
    """Write the JSON Schema of menu files, for editors to complete and check as you type.

    menus.json names it in "$schema"; regenerate it after changing the menu model.

    \b
    Example:
        ivr schema
        ivr schema -o - | jq '.properties | keys'
    """
    from .schema import schema_text

    text = schema_text()
    if output == "-":
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    click.echo(f"wrote {output}", err=True)


# -- ivr twilio: number and queue set-up (ivr/twilio_cli.py) --
from .twilio_cli import twilio  # noqa: E402  (kept in one block, apart from the commands above)

cli.add_command(twilio)


# -- the journey log: journey, report, purge, callbacks (ivr/journey_commands.py) -------------
def _journey_commands() -> None:
    from .journey_commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_journey_commands()
