"""``ivr validate``, ``ivr paths``, ``ivr graph``, ``ivr schema``: the menu author's commands."""

from __future__ import annotations

import sys

import click

from .. import settings
from .terminal import say


def menu_path(path: str | None) -> str:
    """The menu file named on the command line, else IVR_MENU_FILE, else menus.json."""
    return path or settings.load()["IVR_MENU_FILE"]


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--strict", is_flag=True, help="Exit 1 on warnings too: publish only what passes this."
)
def validate(file: str | None, strict: bool) -> None:
    """Check a menu file and print every problem with its location.

    Errors (the app would refuse the file) come all at once, however many there are.
    Warnings are what callers would suffer from: unreachable nodes, and the caller-experience
    checks set in defaults.checks (options per menu, menus deep, a menu with no repeat key, a
    key never said, a node that speaks too long, languages that reach different
    destinations, destinations over the listening budget). Exits 1 on errors, and with
    --strict on warnings too.

    \b
    Example:
        ivr validate menus.json
        ivr validate --strict menus.draft.json
    """
    from ..authoring.checks import review

    path = menu_path(file)
    result = review(path)  # a MenuError goes to the group: every error, located; exit 1
    for warning in result.warnings:
        say(f"  warning: {warning}", err=True)
    menu = result.menu
    kinds: dict[str, int] = {}
    for node in menu.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if strict and result.warnings:
        say(f"{path}: {len(result.warnings)} warning(s), refused by --strict", err=True)
        sys.exit(1)
    say(f"{path}: OK — {len(menu.nodes)} nodes ({summary}), start {menu.start!r}")


# --- `ivr paths`: every route through the menu (ivr.paths) ----------------------------------


@click.command()
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

    from ..authoring.paths import table, walk_paths
    from ..menu import load_menu

    path = menu_path(file)
    menu = load_menu(path)
    report = walk_paths(menu, words_per_minute=wpm, max_seconds=max_seconds, max_menus=max_menus)
    if as_json:
        say(json.dumps(report.as_dict(), indent=2))
    else:
        routes = report.routes if all_routes else report.fastest
        say(table(routes))
        say(
            f"\n{len(report.fastest)} destinations, {len(report.routes)} routes; "
            f"listening estimated at {wpm} words a minute."
        )
        for finding in report.findings:
            say(f"  {finding}", err=True)
        if report.ok:
            say(f"{path}: OK — no dead ends, loops, unreachable, slow or deep destinations")
    if not report.ok:
        sys.exit(1)


# -- authoring: the menu as a picture, and the editor schema ---------------------------------


@click.command()
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
@click.option(
    "--coverage",
    "coverage_paths",
    multiple=True,
    type=click.Path(exists=True),
    help="Run these call scripts (files or folders) and draw the edges they never took in red.",
)
def graph(
    file: str | None, fmt: str, output: str | None, readme: str | None, coverage_paths: tuple
) -> None:
    """Draw the menu: every node by kind, every edge with its key.

    Fallbacks and queue overflows are dashed. SVG needs Graphviz installed.

    \b
    Example:
        ivr graph > menu.mmd
        ivr graph --format svg -o menu.svg
        ivr graph --update-readme
    """
    from ..authoring.graph import to_dot, to_mermaid, to_svg, update_markdown
    from ..menu import load_menu

    menu = load_menu(menu_path(file))
    if readme is not None:
        changed = update_markdown(readme, menu)
        say(f"{readme}: {'updated' if changed else 'already up to date'}")
        return
    if coverage_paths:  # `ivr graph --coverage` (ivr/scripts/picture.py)
        from ..authoring.graph import GraphError
        from ..scripts.picture import graph_with_coverage

        if fmt == "svg":
            raise GraphError("--coverage draws Mermaid or DOT (pipe the DOT to `dot -Tsvg`)")
        text = graph_with_coverage(menu_path(file), coverage_paths, fmt)
    else:
        text = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}[fmt](menu)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        say(f"wrote {output}", err=True)
    else:
        say(text, nl=False)


@click.command()
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
    from ..authoring.schema import schema_text

    text = schema_text()
    if output == "-":
        say(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    say(f"wrote {output}", err=True)
