"""``ivr diff`` and ``ivr publish``: see what an edit changes for callers, then put it live."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from ..errors import MenuError
from .menu import menu_path
from .terminal import exit_code, interactive, say


@exit_code(2, MenuError)  # "2 when a file is not a valid menu"
@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--git",
    "rev",
    metavar="REV",
    help="Compare the menu file as it was at this git revision with the file as it is now.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="Plain text, or Markdown for a pull-request comment.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff(files: tuple[str, ...], rev: str | None, fmt: str, as_json: bool) -> None:
    """Show what changed for callers between two menu files.

    Options added, removed or moved to another key, words reworded (per language), branches
    sent elsewhere, routes by keys that now end somewhere else, the listening time to each
    destination before and after, nodes added or removed, announcements switched on or off,
    and other settings callers notice. Exits 0 when nothing changed for callers, 1 when
    something did, 2 when a file is not a valid menu.

    \b
    Example:
        ivr diff menus.json menus.draft.json
        ivr diff --git HEAD~1
        ivr diff --git main menus.json --format markdown > comment.md
    """
    from ..authoring import diff_report
    from ..authoring.diff import diff_files, diff_revision

    if rev is not None:
        if len(files) > 1:
            raise click.UsageError("with --git, give at most one FILE (the working file)")
        compute = lambda: diff_revision(menu_path(files[0] if files else None), rev)  # noqa: E731
    elif len(files) == 2:
        compute = lambda: diff_files(*files)  # noqa: E731
    else:
        raise click.UsageError("give OLD and NEW menu files, or --git REV [FILE]")
    try:
        result = compute()
    except MenuError as exc:
        if not as_json:
            raise  # the group shows it, located, with exit 2
        # machine-readable even when a file is not a menu
        problems = [dataclasses.asdict(p) for p in exc.problems]
        error = {"error": "invalid menu", "file": exc.source, "problems": problems}
        say(json.dumps(error, indent=2, ensure_ascii=False))
        sys.exit(2)
    if as_json:
        say(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        say(diff_report.markdown(result))
    else:
        say(diff_report.text(result))
    sys.exit(1 if result.changed else 0)


@click.command()
@click.argument("draft", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "published",
    type=click.Path(dir_okay=False),
    help="The live menu file to replace (default: IVR_MENU_FILE, else menus.json).",
)
@click.option(
    "--rollback",
    is_flag=True,
    help="Put back the menu the last publish replaced (a second rollback undoes the first).",
)
@click.option(
    "--scripts",
    "scripts_folder",
    type=click.Path(file_okay=False),
    default="tests/calls",
    show_default=True,
    help="Call scripts to run against the draft, when the folder exists.",
)
@click.option(
    "--accept-warnings",
    is_flag=True,
    help="Publish a draft with caller-experience warnings (listed) but no errors: e.g. an "
    "incident announcement that puts routes over their listening budget.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def publish(
    draft: str | None,
    published: str | None,
    rollback: bool,
    scripts_folder: str,
    accept_warnings: bool,
    yes: bool,
) -> None:
    """Check the draft menu, show what changes for callers, and put it live.

    DRAFT defaults to IVR_DRAFT_MENU_FILE. The draft must pass `ivr validate --strict`
    (or, with --accept-warnings, plain `ivr validate`: an incident announcement may put routes
    over their budget) and the call scripts, when there are any; then `ivr diff` shows what
    callers will notice, and after you confirm, the live file is replaced in one step (the
    running app picks it up on its next reload). The file it replaced is kept as
    menus.previous.json for `ivr publish --rollback`. Asks for confirmation unless --yes,
    and refuses when it cannot ask (no terminal).

    \b
    Example:
        ivr publish menus.draft.json
        ivr publish --yes
        ivr publish --rollback
    """
    from pathlib import Path

    from .. import settings
    from ..authoring import diff_report
    from ..authoring import publish as publishing
    from ..authoring.diff import diff_menus
    from ..menu import parse_menu
    from ..menu.loading import read_menu_bytes, read_menu_text

    target = Path(menu_path(published))
    if rollback:
        previous = publishing.previous_path(target)
        if not previous.exists():
            say(f"{target}: no previous menu to roll back to ({previous})", err=True)
            sys.exit(1)
        changes = diff_menus(
            parse_menu(read_menu_text(target), str(target)),
            parse_menu(read_menu_text(previous), str(previous)),
        )
        say(diff_report.text(changes))
        _confirm(yes, f"Roll {target} back to {previous}?")
        publishing.rollback(target)
        say(f"{target}: rolled back; the menu it replaced is now {previous}")
        return

    source = draft or settings.load()["IVR_DRAFT_MENU_FILE"]
    if not source:
        raise click.UsageError("name the draft menu file, or set IVR_DRAFT_MENU_FILE")
    draft_path = Path(source)
    if draft_path.resolve() == target.resolve():
        raise click.UsageError(f"{draft_path} is the live menu itself: nothing to publish")
    data, text = read_menu_bytes(draft_path)
    failed = False
    for verdict in (
        publishing.check_strict(text, str(draft_path), accept_warnings),
        publishing.check_call_scripts(draft_path, scripts_folder),
    ):
        if verdict.skipped:
            say(f"{verdict.name}: skipped, {verdict.skipped}")
            continue
        say(f"{verdict.name}: {'passed' if verdict.passed else 'FAILED'}")
        for line in verdict.lines:
            say(f"  {line}", err=not verdict.passed)
        failed = failed or not verdict.passed
    if failed:
        say(f"{draft_path}: not published", err=True)
        sys.exit(1)
    if target.exists() and target.read_bytes() == data:
        say(f"{target} is already this menu: nothing to publish")
        return
    if target.exists():
        try:
            changes = diff_menus(
                parse_menu(read_menu_text(target), str(target)), parse_menu(text, str(draft_path))
            )
        except MenuError:
            # The live file is broken (the app keeps serving its last good menu): replace it.
            say(f"{target} is not a valid menu now; the draft replaces it")
        else:
            say("")
            say(diff_report.text(changes))
    say("")
    _confirm(yes, f"Publish {draft_path} as {target}?")
    if draft_path.read_bytes() != data:
        say(f"{draft_path} changed while it was checked: run ivr publish again", err=True)
        sys.exit(1)
    previous = publishing.publish(data, target)
    kept = f"; the menu it replaced is kept as {previous}" if previous else ""
    say(f"{target}: published from {draft_path}{kept}")


def _confirm(yes: bool, question: str) -> None:
    """Ask, unless --yes; refuse when there is no one to ask (a script, a pipe)."""
    if yes:
        return
    if not interactive():
        say("cannot ask for confirmation (stdin is not a terminal): pass --yes", err=True)
        sys.exit(1)
    if not click.confirm(question, default=False):
        say("nothing published", err=True)
        sys.exit(1)
