"""The journey log's commands: ``ivr journey``, ``report``, ``purge``, ``callbacks``, ``db``.

Thin: each opens the log, calls the library and prints; library errors go to the group
(:class:`~ivr.cli.IvrGroup`). The journey log (SQLAlchemy, Alembic) is imported when a command
runs, not when ``ivr`` starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import IVRError, MenuError
from .terminal import exit_code, interactive, say

if TYPE_CHECKING:
    from ..journey import JourneyLog

database_option = click.option(
    "--database",
    "database",
    metavar="URL",
    default=None,
    help="SQLAlchemy URL of the journey log (default: DATABASE_URL, else sqlite:///ivr-journeys.db).",
)


@contextmanager
def opened(database: str | None, replay: bool = True) -> Iterator[JourneyLog]:
    """The journey log named by ``--database`` or the settings, closed afterwards.

    First (``replay``) it writes what killed workers left in their spool files on this host,
    so that what callers were told counts even before a worker has started again.
    """
    from ..journey import JourneyLog
    from ..settings import load

    settings: dict[str, Any] = load()
    if database:
        settings["DATABASE_URL"] = database
    log = JourneyLog.from_config(settings)
    try:
        if replay:
            log.replay(wait=60.0)
        yield log
    finally:
        log.close()


def _menu(path: str | None) -> Any:
    """The menu the calls went through, if it loads: it names queues and the nodes that end
    a call by design. A named file must load (its errors go to the group); the default one
    may be missing."""
    from ..menu import load_menu
    from ..settings import load

    if path:
        return load_menu(path)
    try:
        return load_menu(load()["IVR_MENU_FILE"])
    except MenuError:
        return None


def _parses(parser: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """An option callback: the value must parse with ``ivr.journey``'s ``parser`` (a time or
    a duration), or it is a bad parameter, as click reports any value of the wrong type."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from .. import journey

            try:
                getattr(journey, parser)(value)
            except IVRError as exc:
                raise click.BadParameter(str(exc), ctx, param) from None
        return value

    return check


@click.command("journey")
@click.argument("call_sid", required=False)
@click.option("--last", type=int, default=20, show_default=True, help="Calls to list.")
@database_option
def journey(call_sid: str | None, last: int, database: str | None) -> None:
    """Print one call's path step by step; without CALLSID, list the latest calls.

    Times are UK time; +s is seconds since the call started.

    Example:

        ivr journey CA0123456789abcdef0123456789abcdef
    """
    from ..journey import describe_event, local_time

    with opened(database) as log:
        if not call_sid:
            rows = log.recent_calls(last)
            if not rows:
                say("No calls recorded yet.")
            for c in rows:
                say(
                    f"{c.call_sid}  {local_time(c.started)}  {c.status or 'in progress':<11}  "
                    f"{'' if c.duration is None else str(c.duration) + 's':>6}  {c.caller or ''}"
                )
            return
        steps = log.journey(call_sid)
        call = log.call(call_sid)
    if not steps:
        raise click.ClickException(f"no call {call_sid} in the journey log")
    start = steps[0].at
    if call is not None:
        say(
            f"Call {call_sid} from {call.caller or 'an unrecorded number'}, "
            f"started {local_time(call.started)}"
            + (f", {call.status}" if call.status else ", still in progress")
            + (f" after {call.duration}s" if call.duration is not None else "")
        )
    for n, e in enumerate(steps, 1):
        say(f"{n:>3}. {local_time(e.at, '%H:%M:%S')} +{e.at - start:6.1f}s  {describe_event(e)}")


@exit_code(2, MenuError)  # a --menu that is not a valid menu is a bad parameter
@click.command("report")
@click.option(
    "--since",
    callback=_parses("parse_time"),
    help="From: 2026-11-01, 2026-11-01T09:00 (UK time) or 7d (ago).",
)
@click.option(
    "--until", callback=_parses("parse_time"), help="Until (not included), in the same forms."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE."
)
@click.option(
    "--menu",
    "menu_file",
    type=click.Path(dir_okay=False),
    help="The menu file the calls used (default: IVR_MENU_FILE, else menus.json).",
)
@click.option(
    "--include-test-calls",
    is_flag=True,
    help="Count test callers' calls (IVR_TEST_CALLERS, on the draft menu) too.",
)
@database_option
def report(
    since: str | None,
    until: str | None,
    fmt: str,
    output: str | None,
    menu_file: str | None,
    include_test_calls: bool,
    database: str | None,
) -> None:
    """Summarise calls: choices, hang-ups, invalid keys and silence, queue times, transfers,
    callbacks.

    --format html writes one self-contained page with charts, to open in any browser.

    Example:

        ivr report --since 7d --format html --output report.html
    """
    from ..journey import parse_time, render

    start = parse_time(since) if since else None
    end = parse_time(until) if until else None
    menu = _menu(menu_file)
    with opened(database) as log:
        figures = log.report(start, end, menu=menu, include_test_calls=include_test_calls)
    title = f"{menu.file.name} — call report" if menu is not None and menu.file.name else None
    text = render(figures, fmt, title)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        say(f"Wrote {fmt} report on {figures.calls['total']} call(s) to {output}", err=True)
    else:
        say(text, nl=False)


@click.command("purge")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    callback=_parses("parse_duration"),
    help="Age to delete beyond: 90d, 12h, 30m.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts, cron).")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@database_option
def purge(older_than: str, yes: bool, dry_run: bool, database: str | None) -> None:
    """Delete calls, their steps and callback requests older than a given age (retention).

    Asks first; without a terminal to ask on (a pipe, cron) it deletes only with --yes.

    Example:

    \b
        ivr purge --older-than 90d --dry-run
        ivr purge --older-than 90d --yes
    """
    from ..journey import parse_duration

    age = parse_duration(older_than)
    with opened(database) as log:
        counts = log.purge(age, dry_run=True)
        what = (
            f"{counts['calls']} call(s), {counts['events']} step(s) and "
            f"{counts['callbacks']} callback request(s) older than {older_than}"
        )
        if dry_run:
            say(f"Would delete {what}.")
            return
        if not yes:
            if not interactive():
                raise click.ClickException(
                    f"not deleting {what}: there is no terminal to confirm on; "
                    "pass --yes to delete, or --dry-run to see what would go"
                )
            click.confirm(f"Delete {what}?", abort=True)
        counts = log.purge(age)
    say(
        f"Deleted {counts['calls']} call(s), {counts['events']} step(s) and "
        f"{counts['callbacks']} callback request(s) older than {older_than}."
    )


@click.group("callbacks", invoke_without_command=True)
@database_option
@click.pass_context
def callbacks(ctx: click.Context, database: str | None) -> None:
    """List callers waiting for a callback, oldest first.

    Example:

    \b
        ivr callbacks
        ivr callbacks done 3f2a9c1e
    """
    from ..journey import local_time

    ctx.obj = {"database": database}
    if ctx.invoked_subcommand is not None:
        return
    with opened(database) as log:
        waiting = log.pending_callbacks()
    if not waiting:
        say("No callbacks waiting.")
        return
    for cb in waiting:
        where = cb.queue or cb.node or "-"
        place = f"position {cb.position}" if cb.position else "position -"
        wait = f"expected wait {cb.wait // 60}m" if cb.wait else "expected wait -"
        number = cb.number if cb.number_kept else f"{cb.number} (number no longer kept)"
        say(
            f"{cb.id[:8]}  {local_time(cb.requested_at)}  call {number}  "
            f"queue {where} ({place}, {wait})  chose: {' > '.join(cb.path) or '-'}  "
            f"[{cb.call_sid}]"
        )


@callbacks.command("done")
@click.argument("callback_id")
@click.option("--notes", help="What happened, kept with the request.")
@database_option
@click.pass_context
def callbacks_done(
    ctx: click.Context, callback_id: str, notes: str | None, database: str | None
) -> None:
    """Mark a callback done (ID: the first characters shown by `ivr callbacks`).

    Example:

        ivr callbacks done 3f2a9c1e --notes "called back, crime reported"
    """
    from ..journey import local_time

    with opened(database or (ctx.obj or {}).get("database")) as log:
        cb = log.complete_callback(callback_id, notes)
    say(
        f"Callback {cb.id[:8]} marked done at {local_time(cb.done_at)}; "
        f"its number ({cb.number}) is no longer kept."
    )


@click.group("db")
def db() -> None:
    """The journey log's database schema (Alembic migrations).

    The schema is also upgraded whenever the app starts; run this to do it beforehand, e.g.
    in a deployment step, or to see where a database stands.

    Example:

    \b
        ivr db upgrade
        ivr db current --database postgresql+psycopg://ivr@db/ivr
    """


def _revision(revision: str | None) -> str:
    if revision is None:
        return "an empty database"
    if revision.startswith("legacy-"):
        return f"schema version {revision.removeprefix('legacy-')} (made before Alembic)"
    return f"revision {revision}"


@db.command("upgrade")
@database_option
def db_upgrade(database: str | None) -> None:
    """Upgrade the journey log's schema to this ivr101's newest revision.

    Safe while the app runs and when several run it at once; a database made before the
    migrations used Alembic is adopted without loss.

    Example:

        ivr db upgrade --database sqlite:///ivr-journeys.db
    """
    from ..journey import migrate

    with opened(database, replay=False) as log:
        before = migrate.current(log.engine)
        after = migrate.upgrade(log.engine)
        url = log.engine.url.render_as_string(hide_password=True)
    if before == after:
        say(f"{url}: already at revision {after} (the newest).")
    else:
        say(f"{url}: upgraded from {_revision(before)} to revision {after}.")


@db.command("current")
@database_option
def db_current(database: str | None) -> None:
    """Show the journey log's schema revision, and whether it is the newest.

    Example:

        ivr db current
    """
    from ..journey import migrate

    with opened(database, replay=False) as log:
        revision = migrate.current(log.engine)
        url = log.engine.url.render_as_string(hide_password=True)
    newest = migrate.head()
    if revision == newest:
        say(f"{url}: revision {revision} (the newest).")
        return
    where = "no schema yet" if revision is None else _revision(revision)
    say(f"{url}: {where} (`ivr db upgrade` takes it to {newest}).")


COMMANDS = (journey, report, purge, callbacks, db)
