"""``ivr test``: run call scripts against this menu or any TwiML app; coverage, JUnit, JSON."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from ..cli.terminal import say

DEFAULT_PATH = "tests/calls"


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--url", help="Run every script against this TwiML app (its voice URL).")
@click.option(
    "--auth-token",
    envvar="TWILIO_AUTH_TOKEN",
    help="Sign requests to --url with this token (default TWILIO_AUTH_TOKEN).",
)
@click.option(
    "--menu",
    "menu_file",
    type=click.Path(dir_okay=False),
    help="Menu for scripts that name none, and the menu --coverage measures "
    "(default IVR_MENU_FILE, else menus.json).",
)
@click.option(
    "-k",
    "keyword",
    metavar="EXPR",
    help="Only scenarios whose file::name match: words with and/or/not, or a phrase.",
)
@click.option("-x", "--exitfirst", is_flag=True, help="Stop at the first failure.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Write JUnit XML.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--coverage", is_flag=True, help="Report the menu's edges the scripts took.")
@click.option(
    "--fail-under",
    metavar="PCT",
    type=click.FloatRange(0, 100),
    help="Exit 1 when coverage is below this percentage (implies --coverage).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    help="Calls at once: threads with --url (default 8), worker processes in-process "
    "(default 1: one after another).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print the transcript of each call.")
@click.option(
    "--generate",
    "generate_dir",
    type=click.Path(file_okay=False),
    help="Write a starting suite instead: one script per destination, in every language.",
)
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the call script JSON Schema to this file ('-' for stdout) and exit.",
)
def test(
    paths: tuple[str, ...],
    url: str | None,
    auth_token: str | None,
    menu_file: str | None,
    keyword: str | None,
    exitfirst: bool,
    junit_file: str | None,
    as_json: bool,
    coverage: bool,
    fail_under: float | None,
    jobs: int | None,
    verbose: bool,
    generate_dir: str | None,
    schema_file: str | None,
) -> None:
    """Run call scripts: each places a simulated call and checks what the caller hears.

    PATHS are script files or folders of them (.yaml, .yml); default tests/calls. One line
    per scenario; a failure names the file, the scenario, the step, what was expected and
    what was heard. Exits 0 when all pass, 1 when any fails (or coverage is under
    --fail-under), 2 when a script is not valid.

    \b
    Example:
        ivr test
        ivr test tests/calls/cyber.yaml -k "put through"
        ivr test --coverage --fail-under 100
        ivr test --url https://abcd.ngrok-free.app/voice --auth-token "$TWILIO_AUTH_TOKEN"
        ivr test --junit results.xml
        ivr test --generate tests/calls/generated
    """
    from .. import settings
    from . import output
    from .loader import ScriptError, discover, load_file
    from .runner import Target, run_all

    if schema_file is not None:
        from .model import schema_text

        text = schema_text()
        if schema_file == "-":
            say(text, nl=False)
        else:
            Path(schema_file).write_text(text, encoding="utf-8")
            say(f"wrote {schema_file}", err=True)
        return
    menu_file = menu_file or str(settings.load(dotenv=True)["IVR_MENU_FILE"])
    if generate_dir is not None:
        _generate(menu_file, generate_dir)
        return
    coverage = coverage or fail_under is not None
    if coverage and url:
        raise click.UsageError("--coverage counts the in-process app's own events; drop --url")
    try:
        selection = output.Selection(keyword) if keyword else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="-k") from None
    # The app's own log lines would bury the report: only its errors are shown.
    logging.getLogger("ivr").setLevel(logging.ERROR)
    started = time.perf_counter()
    errors: list[ScriptError] = []
    scripts = []
    files = list(discover(paths or (DEFAULT_PATH,)))
    missing = [p for p in (paths or (DEFAULT_PATH,)) if not Path(p).exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {', '.join(missing)}")
    for file in files:
        try:
            scripts.extend(load_file(file))
        except ScriptError as exc:
            errors.append(exc)
            if not as_json:
                say(output.invalid(exc))
    if selection is not None:
        scripts = [s for s in scripts if selection(s.id)]
    if not scripts and not errors:
        raise click.UsageError("no scenarios to run" + (" (-k matched none)" if keyword else ""))

    def show(result) -> None:
        if not as_json:
            say(output.line(result))
            if result.status != "failed":  # a failure's notes are in its report
                for note in result.notes:
                    say(f"    note: {note}")
            if verbose and result.transcript:
                say("\n".join(f"    {line}" for line in result.transcript))

    target = Target(url=url, auth_token=auth_token, menu=menu_file)
    results = run_all(scripts, target, jobs=jobs, on_result=show, fail_fast=exitfirst)
    seconds = time.perf_counter() - started
    failed = [r for r in results if r.status == "failed"]
    report = None
    if coverage:
        from .coverage import measure

        report = measure(menu_file, results)
    if junit_file:
        Path(junit_file).parent.mkdir(parents=True, exist_ok=True)
        Path(junit_file).write_text(output.junit(results, errors, seconds), encoding="utf-8")
    if as_json:
        say(output.as_json(results, errors, seconds, report.as_dict() if report else None))
    else:
        for result in failed:
            say("\n" + "FAIL  " + result.message())
        if report is not None:
            say("\n" + report.render())
        say("\n" + output.summary(results, errors, seconds))
    if errors:
        sys.exit(2)
    if failed:
        sys.exit(1)
    if results and all(r.status == "skipped" for r in results):
        say("no scenario ran: every one was skipped (see SKIP above)", err=True)
        sys.exit(1)
    if report is not None and fail_under is not None and report.percent < fail_under:
        say(f"coverage {report.percent:.1f}% is under --fail-under {fail_under:g}%", err=True)
        sys.exit(1)


def _generate(menu_file: str, folder: str) -> None:
    from .record import generate

    written, skipped = generate(menu_file, folder)  # a MenuError goes to the group
    for file in written:
        say(f"wrote {file}")
    for route in skipped:
        keys = " ".join(route.keys)
        say(f"not generated: {route.destination} ({route.language}, {keys}): write it by hand")
    say(f"{len(written)} script(s); run them with: ivr test {folder}")
