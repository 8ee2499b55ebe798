"""``ivr call``: dial any TwiML app from the terminal and hear it as a caller would."""

from __future__ import annotations

import click

from . import terminal

_STEP_OPTIONS = {
    "--press": "press",
    "--say": "say",
    "--speak": "record",
    "--silence": "silence",
    "--hangup": "hangup",
}


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
        if kind in ("press", "say", "record"):
            if not eq:
                i += 1
                value = args[i] if i < len(args) else ""
            steps.append((kind, value))
        elif kind is not None:
            steps.append((kind, ""))
        i += 1
    return steps


SCENARIO = ("barge_in", "queue", "queue_result", "waits", "dial_status", "dial_ends")
"""Options that say how the call goes for the caller (in a queue, at a <Dial>, when to
press): with any of them given, the call is scripted, so that they are honoured."""


def _scripted(ctx: click.Context, steps: list[tuple[str, str]]) -> bool:
    """Whether the call plays steps rather than asking a person: steps or scenario options
    were given, or there is no terminal to ask on (a script, CI, a pipe)."""
    if steps or not terminal.interactive():
        return True
    from click.core import ParameterSource

    return any(ctx.get_parameter_source(name) is not ParameterSource.DEFAULT for name in SCENARIO)


class _CallCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ivr.steps"] = _scan_steps(args)
        return super().parse_args(ctx, args)


def _keys(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    for keys in value:
        if not keys or any(k not in "0123456789*#" for k in keys):
            raise click.BadParameter(f"{keys!r}: keys are 0-9, * and #")
    return value


@click.command(cls=_CallCommand)
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
    help="Sign requests with this token (default TWILIO_AUTH_TOKEN; with --url only).",
)
@click.option("--from", "from_number", default="+447700900123", show_default=True)
@click.option("--to", "to_number", default="+441632960101", show_default=True)
@click.option(
    "--menu", "menu_file", type=click.Path(dir_okay=False), help="Menu file (in-process)."
)
@click.option("--press", multiple=True, callback=_keys, help="Press keys (a step; repeatable).")
@click.option("--say", multiple=True, help="Say words (a step; repeatable).")
@click.option(
    "--speak",
    "record",
    multiple=True,
    metavar="WORDS",
    help="Speak at a <Record>, ending with a key ('my bike was stolen #') or h to hang up "
    "(a step; repeatable).",
)
@click.option(
    "--record",
    "record_file",
    type=click.Path(dir_okay=False),
    help="Write the call as a call script (replay it with: ivr test FILE).",
)
@click.option(
    "--barge-in",
    is_flag=True,
    help="Press each key as soon as the prompt offering it has been heard (a caller who "
    "knows the menu). Interactive calls always cut in.",
)
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
    "--queue-result",
    type=click.Choice(
        [
            "bridged",
            "hangup",
            "queue-full",
            "error",
            "system-error",
            "redirected",
            "redirected-from-bridged",
            "bridging-in-process",
        ]
    ),
    help="Any QueueResult Twilio sends (overrides --answer/--queue-*): queue-full, error and "
    "system-error on entry, the others after --waits.",
)
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
    "--dial-ends",
    type=click.Choice(["callee", "caller", "star"]),
    default="callee",
    show_default=True,
    help="Who ends a connected <Dial>: the callee, the caller hanging up, or the caller "
    "pressing * (with hangupOnStar).",
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
@click.option(
    "--status-events",
    metavar="EVENTS",
    default="",
    help="Also send the status callback for these events, comma-separated: initiated, "
    "ringing, answered (completed is always sent).",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=1),
    default=4 * 60 * 60,
    show_default=True,
    help="The call's simulated-time limit (Twilio ends calls after four hours).",
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
    record: tuple[str, ...],
    record_file: str | None,
    barge_in: bool,
    silence: int,
    hangup: int,
    queue: str,
    queue_result: str | None,
    waits: int,
    dial_status: str,
    dial_ends: str,
    status_callback: str | None,
    no_status_callback: bool,
    status_events: str,
    max_seconds: float,
    as_json: bool,
    verbose: bool,
) -> None:
    """Call a TwiML app and hear it the way a caller would, without a phone.

    Interactive at a terminal: type keys (0-9 * #), words to say, Enter for silence, or
    'hangup'. Scripted with steps (--press/--say/--speak/--silence/--hangup), with any option
    saying how the call goes (--barge-in, --answer/--queue-*, --queue-result, --waits,
    --dial-status, --dial-ends), or when stdin is not a terminal (a script, CI, a pipe): the
    steps run in order (the caller hangs up when they run out, at once if there are none),
    the transcript and outcome are printed, and the exit status is 1 if the app made an
    error Twilio would report.

    When the call ends, Twilio's status callback (CallStatus, CallDuration in simulated
    seconds) goes to this app's /status in-process, which closes the call's journey
    (`ivr journey CALLSID`); with --url to --status-callback, or to IVR_CALL_STATUS_CALLBACK
    when set. A failing status callback is a warning, not an application error.

    Example:

        ivr call --press 1 --press 2

        ivr call --barge-in --press 1 --press 1

        ivr call --say "report a crime" --queue-result system-error --json

        ivr call --url http://127.0.0.1:5000/voice --auth-token "$TWILIO_AUTH_TOKEN"

        ivr call --url http://127.0.0.1:5000/voice --status-callback /status --press 1
    """
    import json
    import secrets

    from .. import settings
    from ..caller import (
        Call,
        DialResult,
        HTTPTransport,
        Input,
        InteractiveCaller,
        ScriptedCaller,
        WSGITransport,
        describe,
        parse_input,
    )

    scripted = ctx.meta.get("ivr.steps", [])
    make = {
        "press": Input.press,
        "say": Input.say,
        "record": lambda words: parse_input(words, record=True),
        "silence": lambda _: Input.silence(),
        "hangup": lambda _: Input.hangup(),
    }
    steps = [make[kind](value) for kind, value in scripted]
    events = tuple(e.strip() for e in status_events.split(",") if e.strip())
    unknown = set(events) - {"initiated", "ringing", "answered", "completed"}
    if unknown:
        raise click.BadParameter(
            f"{', '.join(sorted(unknown))}: use initiated, ringing, answered or completed",
            param_hint="--status-events",
        )
    if queue_result is not None:
        queue = "answer" if queue_result == "bridged" else queue_result

    if url is None:
        from ..webhooks.app import create_app

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
        app = create_app(config)
        transport = WSGITransport(app)
        target = "http://localhost/voice"
        journey = app.extensions["ivr"].journey
        # Our own app has a /status route: the callback closes the call's journey.
        status_callback = status_callback or "/status"
    else:
        transport = HTTPTransport()
        target = url
        journey = None
        config = settings.load()
        if auth_token is None:
            auth_token = config["TWILIO_AUTH_TOKEN"] or None
        status_callback = status_callback or config["IVR_CALL_STATUS_CALLBACK"]
        if not auth_token:
            terminal.say(
                "Warning: no auth token (--auth-token or TWILIO_AUTH_TOKEN): requests go "
                "unsigned, but Twilio always signs them (X-Twilio-Signature)",
                err=True,
            )
    if no_status_callback:
        status_callback = None

    interactive = not _scripted(ctx, scripted)

    def show(event):  # live transcript in interactive mode
        # The application error itself is printed once, in full, at the end.
        line = describe(event, verbose=verbose, errors=False)
        if line is not None:
            terminal.say(line)

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
            dial=DialResult(
                dial_status,  # type: ignore[arg-type]
                60 if dial_status == "completed" else 0,
                dial_ends,  # type: ignore[arg-type]
            ),
            barge_in=barge_in,
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
        status_events=[e for e in events if e != "completed"],
        max_seconds=max_seconds,
        on_event=show if interactive and not as_json else None,
    )
    if not as_json:
        terminal.say(f"Calling {target} as {from_number} (CallSid {simulation.record.call_sid})")
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
        terminal.say(json.dumps(record.as_dict(), indent=2))
    else:
        if not interactive:
            for event in record.events:
                show(event)
        if outcome.error is None:
            terminal.say(f"Outcome: {outcome.summary()}")
    for warning in record.warnings:
        terminal.say(f"Warning: {warning}", err=True)
    if record_file:  # `ivr call --record FILE`: the call as a call script (ivr/scripts/record.py)
        from ..scripts.record import record_call

        record_call(
            record_file,
            record,
            url=url,
            menu=menu_file,
            from_number=from_number,
            to_number=to_number,
        )
        terminal.say(f"wrote {record_file}: replay it with `ivr test {record_file}`", err=True)
    if outcome.kind == "time-limit":
        terminal.say(f"(the --max-seconds limit, {max_seconds:g} s, ended the call)", err=True)
    if outcome.error is not None:
        raise outcome.error  # the group prints it once, in full (exit 1)
