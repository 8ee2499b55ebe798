"""The menu picture with coverage on it (``ivr graph --coverage``): untaken edges in red.

``ivr graph`` draws it (``to_mermaid``/``to_dot`` with notes), so the picture is the same one; an
edge no script took, in some language, is drawn red and thick, its label saying which languages.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..authoring.graph import to_dot, to_mermaid
from ..menu import Menu, load_menu
from .coverage import Coverage, measure
from .loader import discover, load_file
from .runner import Target, run_all


def _notes(report: Coverage) -> dict[tuple[str, str], str]:
    """For each edge of the picture that some language never took: which languages."""
    languages: dict[tuple[str, str], list[str]] = {}
    for edge in report.uncovered:
        languages.setdefault((edge.node, edge.branch), []).append(edge.language)
    return {edge: f"not taken: {', '.join(langs)}" for edge, langs in languages.items()}


def _title(report: Coverage) -> str:
    return (
        f"coverage {len(report.covered)}/{len(report.edges)} edges ({report.percent:.1f}%); "
        "red: not taken by any script"
    )


def mermaid(menu: Menu, report: Coverage) -> str:
    """``ivr graph``'s Mermaid, with untaken edges red and labelled with their languages."""
    return to_mermaid(menu, _notes(report), _title(report))


def dot(menu: Menu, report: Coverage) -> str:
    """``ivr graph``'s DOT, with untaken edges red and labelled with their languages."""
    return to_dot(menu, _notes(report), _title(report))


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
