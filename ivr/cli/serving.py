"""``ivr run`` and ``ivr serve``: the webhooks on this machine, for testing and in production."""

from __future__ import annotations

import ipaddress
import signal

import click

from .. import settings
from .terminal import say


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command()
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
    from ..webhooks.app import create_app

    app = create_app({"IVR_ALLOW_UNSIGNED": True} if allow_unsigned else None)
    host = host or app.config["HOST"]
    port = port or app.config["PORT"]
    if app.config["IVR_ALLOW_UNSIGNED"] and not is_loopback(host):
        raise click.ClickException(
            f"unsigned requests are only for localhost; refusing to serve them on {host}. "
            "Set TWILIO_AUTH_TOKEN instead of --allow-unsigned / IVR_ALLOW_UNSIGNED."
        )
    base = app.config["PUBLIC_BASE_URL"] or f"http://{host}:{port}"
    unsigned = app.config["IVR_ALLOW_UNSIGNED"]
    say(
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
        say(
            f"Softphone in the browser: http://{host}:{port}/phone?token=$IVR_PHONE_TOKEN\n"
            "  (the token once; the page swaps it for a cookie)\n"
        )
    # SIGTERM (systemd, docker stop, kill) ends the process the way Ctrl-C does, so the journey
    # log's atexit close writes what is waiting instead of leaving it to the next replay.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app.run(host=host, port=port, debug=debug)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@click.command()
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
    from ..menu import load_menu
    from ..webhooks.app import create_app
    from ..webhooks.serve import Server, gunicorn_options, worker_description

    overrides = {"IVR_MENU_FILE": menu_file} if menu_file else {}
    config = settings.load(overrides)
    load_menu(config["IVR_MENU_FILE"])
    workers = workers or config["IVR_WORKERS"]
    threads = threads or config["IVR_THREADS"]
    if config["IVR_PHONE"] and workers is None:
        # The softphone's calls live in one process's memory: one worker, many threads.
        say("IVR_PHONE is on: one worker, so the softphone sees all its calls", err=True)
        workers, threads = 1, threads or 8
    options = gunicorn_options(
        host, port, workers, threads, access_log, config=config, worker_class=worker_class
    )
    if config["IVR_ALLOW_UNSIGNED"]:
        raise click.ClickException(
            "IVR_ALLOW_UNSIGNED is on: `ivr serve` is for production and never accepts unsigned "
            "requests (use `ivr run --allow-unsigned` on localhost to test without Twilio)"
        )
    if not config["TWILIO_AUTH_TOKEN"]:
        say("warning: TWILIO_AUTH_TOKEN is not set: every webhook will answer 403", err=True)
    say(
        f"ivr101 on {options['bind'][0]}: {worker_description(options)}, "
        f"menu {config['IVR_MENU_FILE']}",
        err=True,
    )
    # Each worker builds its own app with the same overrides (nothing shared across a fork).
    Server(options, factory=lambda: create_app(overrides)).run()
