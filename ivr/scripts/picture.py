"""The menu picture with coverage on it (``ivr graph --coverage``): untaken edges in red.

It draws on ``ivr graph``'s own Mermaid and DOT, so the picture is the same one; an edge no
script took, in some language, is drawn red and thick, its label saying which languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..authoring.graph import to_dot, to_mermaid
from ..menu import Menu, load_menu
from ..menu.routing import edges
from .coverage import Coverage, measure
from .loader import discover, load_file
from .runner import Target, run_all

RED = "#dc2626"
_MERMAID_LINK = re.compile(r"\s(-->|-\.->|-\.-)(\||\s|$)")
_DOT_LINK = re.compile(r'^\s*".*" -> ".*"')


def _missing(menu: Menu, report: Coverage) -> list[list[str]]:
    """For each edge of the picture, in its order: the languages in which no script took it."""
    languages: dict[tuple[str, str], list[str]] = {}
    for edge in report.uncovered:
        languages.setdefault((edge.node, edge.branch), []).append(edge.language)
    return [
        languages.get((node, e.branch), [])
        for node in menu.nodes
        for e in edges(menu, node)
        if e.drawn
    ]


def _title(report: Coverage) -> str:
    return (
        f"coverage {len(report.covered)}/{len(report.edges)} edges ({report.percent:.1f}%); "
        "red: not taken by any script"
    )


def mermaid(menu: Menu, report: Coverage) -> str:
    """``ivr graph``'s Mermaid, with untaken edges red and labelled with their languages."""
    lines = to_mermaid(menu).splitlines()
    links = [i for i, line in enumerate(lines) if _MERMAID_LINK.search(line)]
    missing = _missing(menu, report)
    # The menu's own edges are drawn last, in the order Menu.edges gives them.
    edge_lines = links[len(links) - len(missing) :]
    red = []
    for at, langs in zip(edge_lines, missing, strict=True):
        if langs:
            note = f"<br/>not taken: {', '.join(langs)}"
            lines[at] = re.sub(
                r'\|"(.*)"\|', lambda m, note=note: f'|"{m.group(1)}{note}"|', lines[at]
            )
            red.append(str(links.index(at)))
    out = ["---", f"title: {_title(report)}", "---", *lines]
    if red:
        out.append(f"    linkStyle {','.join(red)} stroke:{RED},stroke-width:3px,color:{RED}")
    return "\n".join(out) + "\n"


def dot(menu: Menu, report: Coverage) -> str:
    """``ivr graph``'s DOT, with untaken edges red and labelled with their languages."""
    lines = to_dot(menu).splitlines()
    links = [i for i, line in enumerate(lines) if _DOT_LINK.match(line)]
    missing = _missing(menu, report)
    edge_lines = links[len(links) - len(missing) :]
    for at, langs in zip(edge_lines, missing, strict=True):
        if langs:
            note = f"\\nnot taken: {', '.join(langs)}"
            line = re.sub(
                r'label="(.*?)"',
                lambda m, note=note: f'label="{m.group(1)}{note}"',
                lines[at],
                count=1,
            )
            lines[at] = line.replace("];", f', color="{RED}", fontcolor="{RED}", penwidth=2];')
    lines.insert(1, f"    // {_title(report)}")
    return "\n".join(lines) + "\n"


def graph_with_coverage(menu_file: str, paths: Iterable[str | Path], fmt: str) -> str:
    """Run the scripts under ``paths`` against ``menu_file`` and draw what they covered."""
    scripts = [s for f in discover(paths) for s in load_file(f)]
    results = run_all(scripts, Target(menu=menu_file))
    report = measure(menu_file, results)
    menu = load_menu(menu_file)
    if fmt == "dot":
        return dot(menu, report)
    if fmt == "mermaid":
        return mermaid(menu, report)
    raise ValueError("coverage is drawn in mermaid or dot")
