"""Menu coverage: which edges of the menu a suite of call scripts took, in each language.

The edges and the branch each recorded event took come from the menu model
(``ivr.menu.routing``: ``edges``, ``announcement_edges``, ``branch``), never from a copy of its
rules; this module adds the languages, the caller's place in the call, and the counting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import ARRIVALS, Event, Kind
from ..menu import Menu, load_menu
from ..menu.routing import BRANCHING, announcement_edges, branch
from ..menu.routing import edges as node_edges
from .loader import display

# -- what the app recorded for a call ---------------------------------------------------------


def journey_of(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The app's events for one call, as plain data (they travel from worker processes)."""
    return [
        {
            "kind": str(e.kind),
            "node": e.node,
            "key": e.key,
            "outcome": e.outcome,
            "language": e.language,
            "next": e.detail.get("next"),
            "closure": e.detail.get("closure"),
            "announcement": e.detail.get("announcement"),
        }
        for e in events
    ]


@dataclass(frozen=True, order=True)
class Edge:
    """A way out of a node, in one language: ``branch`` is a key, ``back``, ``fallback``, ...

    ``label`` is how the menu picture (``ivr graph``) labels it.
    """

    node: str
    branch: str
    language: str
    target: str | None = None
    label: str = ""
    style: str = "solid"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.node, self.branch, self.language)


# ==== THE MENU MODEL'S EDGES, PER LANGUAGE ===================================================
# ivr.menu.routing lists every way out of every node (and the announcements' keys), with the
# branch names its ``branch`` gives recorded events. What it does not say is in which languages
# a caller can take each one: the walk below follows its edges from the start in the default
# language, switching where an option's label names a language ("2 cy-GB").


def _switches_to(label: str, languages: Iterable[str]) -> str | None:
    parts = label.split()
    return parts[1] if len(parts) == 2 and parts[1] in languages else None


def model_edges(menu: Menu) -> list[Edge]:
    """Every edge of ``menu`` in every language a caller can take it in."""
    languages = list(menu.languages)
    default = menu.defaults.language
    # The announcements come before any choice of language.
    announced = list(announcement_edges(menu))
    todo = deque([(menu.start, default)] + [(e.target, default) for e in announced])
    seen = set(todo)
    reached: dict[str, list[str]] = {}
    while todo:
        node, language = todo.popleft()
        if node not in menu.nodes:
            continue
        reached.setdefault(node, []).append(language)
        for edge in node_edges(menu, node):
            after = _switches_to(edge.label, languages) or language
            if (edge.target, after) not in seen:
                seen.add((edge.target, after))
                todo.append((edge.target, after))
    out = [Edge(e.node, e.branch, default, e.target, e.label, e.style) for e in announced]
    for node in menu.nodes:
        for language in sorted(reached.get(node, []), key=languages.index):
            for e in node_edges(menu, node):
                out.append(Edge(node, e.branch, language, e.target, e.label, e.style))
    return out


# ==== THE APP'S EVENTS -> EDGES ================================================================
# Which branch an event took is the model's answer (ivr.menu.routing.branch); this walk adds
# where the caller was when they took it, and in which language, and credits a message's
# ``next`` when the caller arrives where it leads (a message reached by a choice is rendered in
# the choice's answer, so no event marks the arrival at the message itself).


def walk(
    journey: list[dict[str, Any]], menu: Menu | None = None
) -> Iterator[tuple[str, str, str] | tuple[str, None, None]]:
    """The edges a call took, ``(node, branch, language)`` in the caller's language at the node;
    then, last, ``(node where the call ended, None, None)``. With the ``menu`` the call was on,
    a branch that depends on the node (a queue's ``leave``) is named as the router routes it."""
    here: str | None = None
    language: str | None = None
    for e in journey:
        kind, node = e["kind"], e["node"]
        was = language or e["language"] or ""
        if kind == Kind.CALL_START:
            here = node
        elif kind in BRANCHING and (node or kind == Kind.ANNOUNCEMENT):
            at = menu.nodes.get(node) if menu is not None and node else None
            taken = branch(kind, e["outcome"], e["key"], {"closure": e["closure"]}, at)
            if kind == Kind.ANNOUNCEMENT:
                if taken is not None:
                    yield ("(announcement)", taken, was)
                elif e["outcome"] == "option" and here and e["key"]:
                    yield (here, f"key {e['key']}", was)  # pressed ahead: the start menu's
                here = node or here
            else:
                if taken is not None:
                    yield (node, taken, was)
                here = e["next"] or here
        elif kind in ARRIVALS and node:
            if here is not None and here != node:
                yield (here, "next", was)
            here = node
        if e["language"]:
            language = e["language"]
    yield (here or "", None, None)


# ==== end of what the model will own ==========================================================


def edges_taken(
    journey: list[dict[str, Any]], menu: Menu | None = None
) -> list[tuple[str, str, str]]:
    return [step for step in walk(journey, menu) if step[1] is not None]  # type: ignore[misc]


def final_node(journey: list[dict[str, Any]]) -> str | None:
    """The menu node where the call ended, from the app's own events."""
    if not journey:
        return None
    return list(walk(journey))[-1][0] or None


# -- counting --------------------------------------------------------------------------------


@dataclass
class Coverage:
    """Which of a menu's edges a suite took."""

    menu: str
    edges: list[Edge]
    taken: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    """Edge key -> the scenarios that took it."""

    @property
    def covered(self) -> list[Edge]:
        return [e for e in self.edges if e.key in self.taken]

    @property
    def uncovered(self) -> list[Edge]:
        return [e for e in self.edges if e.key not in self.taken]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.edges) if self.edges else 100.0

    def summary(self) -> str:
        return (
            f"coverage of {self.menu}: {len(self.covered)}/{len(self.edges)} edges "
            f"({self.percent:.1f}%)"
        )

    def render(self) -> str:
        lines = [self.summary()]
        if self.uncovered:
            lines.append("uncovered (node, branch, language -> where it leads):")
            width = max(len(e.node) for e in self.uncovered)
            bwidth = max(len(e.branch) for e in self.uncovered)
            for e in self.uncovered:
                lines.append(
                    f"  {e.node:<{width}}  {e.branch:<{bwidth}}  {e.language}  -> {e.target}"
                )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "menu": self.menu,
            "total": len(self.edges),
            "covered": len(self.covered),
            "percent": round(self.percent, 2),
            "uncovered": [
                {"node": e.node, "branch": e.branch, "language": e.language, "target": e.target}
                for e in self.uncovered
            ],
        }


def measure(menu_file: str, results: Iterable[Any]) -> Coverage:
    """Coverage of ``menu_file`` by the in-process results.

    A scenario run on another menu file (a fixture, e.g. the menu with an announcement switched
    on) counts for the edges that are the same in both: node, branch, language and target.
    """
    menu = load_menu(menu_file)
    edges = model_edges(menu)
    by_key = {e.key: e for e in edges}
    report = Coverage(display(Path(menu_file)), edges)
    others: dict[str, tuple[Menu, dict[tuple[str, str, str], Edge]]] = {}
    for result in results:
        if not result.journey or result.menu is None:
            continue
        same = Path(result.menu).resolve() == Path(menu_file).resolve()
        if not same and result.menu not in others:
            other = load_menu(result.menu)
            others[result.menu] = (other, {e.key: e for e in model_edges(other)})
        on = menu if same else others[result.menu][0]
        for key in edges_taken(result.journey, on):
            if key not in by_key:
                continue
            if not same:
                theirs = others[result.menu][1].get(key)
                if theirs is None or theirs.target != by_key[key].target:
                    continue
            report.taken.setdefault(key, []).append(result.id)
    return report
