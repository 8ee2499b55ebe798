"""Menu coverage: which edges of the menu a suite of call scripts took, in each language.

Two things come from the menu model and nowhere else: the list of edges (:func:`model_edges`)
and what the app's events say a call did (:func:`edges_taken`). Both are marked below; issue 12
moves them into ``ivr/menu/``. Everything else here only counts and reports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import Event
from ..menu import Menu, load_menu
from .loader import display

# -- what the app recorded for a call ---------------------------------------------------------


def journey_of(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The app's events for one call, as plain data (they travel from worker processes)."""
    return [
        {
            "kind": e.kind,
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


# ==== FROM THE MENU MODEL (issue 12 moves this into ivr/menu/) =================================
# Until the model lists its edges per language, they are read from Menu.edges(): each edge of
# every node, in every language the node is reached in. A label "2 cy-GB" is an option that
# switches the caller to that language. Branch names: an option's key, back, fallback, next,
# open, closed, full, error, leave, failed; the model will add repeat, invalid, silence,
# closure:<name> and the announcements' keys.


def _branch(label: str, languages: Iterable[str]) -> tuple[str, str | None]:
    parts = label.split()
    if len(parts) == 2 and parts[1] == "back":
        return "back", None
    if len(parts) == 2 and parts[1] in languages:
        return parts[0], parts[1]
    return label, None


def model_edges(menu: Menu) -> list[Edge]:
    """Every edge of ``menu`` in every language a caller can take it in."""
    languages = list(menu.languages)
    reached: dict[str, list[str]] = {}
    todo = deque([(menu.start, menu.defaults.language)])
    seen = set(todo)
    while todo:
        node, language = todo.popleft()
        reached.setdefault(node, []).append(language)
        for label, target, _style in menu.edges(node):
            after = _branch(label, languages)[1] or language
            if target in menu.nodes and (target, after) not in seen:
                seen.add((target, after))
                todo.append((target, after))
    edges = []
    for node in menu.nodes:
        for language in sorted(reached.get(node, []), key=languages.index):
            for label, target, style in menu.edges(node):
                branch = _branch(label, languages)[0]
                edges.append(Edge(node, branch, language, target, label, style))
    return edges


# ==== THE APP'S EVENTS -> EDGES (issue 12 moves this into the model, with event constants) ======

_ARRIVALS = frozenset({"menu", "message", "queue", "transfer", "hangup", "hours"})
_CHOICES = {
    "repeat": "repeat",
    "back": "back",
    "invalid": "invalid",
    "silence": "silence",
    "fallback": "fallback",
}
_QUEUE_RESULTS = {"queue-full": "full", "error": "error", "system-error": "error", "leave": "leave"}
_CONNECTED = frozenset({"completed", "answered"})


def walk(journey: list[dict[str, Any]]) -> Iterator[tuple[str, str, str] | tuple[str, None, None]]:
    """The edges a call took, ``(node, branch, language)`` in the caller's language at the node;
    then, last, ``(node where the call ended, None, None)``."""
    here: str | None = None
    language: str | None = None
    for e in journey:
        kind, node, outcome = e["kind"], e["node"], e["outcome"]
        was = language or e["language"] or ""
        if kind == "call-start":
            here = node
        elif kind == "choice" and node:
            branch = e["key"] if outcome == "option" else _CHOICES.get(outcome or "")
            if branch:
                yield (node, branch, was)
            here = e["next"] or here
        elif kind == "announcement":
            if outcome == "announcement" and e["key"]:
                yield (f"announcement:{e['announcement']}", e["key"], was)
            elif outcome == "option" and here and e["key"]:
                yield (here, e["key"], was)  # pressed ahead: the start menu's option
            here = node or here
        elif kind == "hours" and node:
            branch = outcome or ""
            if branch == "closure":
                branch = f"closure:{e['closure']}" if e["closure"] else "closed"
            yield (node, branch, was)
            here = e["next"] or here
        elif kind == "queue-result" and node:
            branch = _QUEUE_RESULTS.get(outcome or "")
            if branch:
                yield (node, branch, was)
            here = e["next"] or here
        elif kind == "transfer-result" and node:
            if outcome not in _CONNECTED:
                yield (node, "failed", was)
            here = e["next"] or here
        elif kind in _ARRIVALS and node:
            if here is not None and here != node:
                yield (here, "next", was)
            here = node
        if e["language"]:
            language = e["language"]
    yield (here or "", None, None)


# ==== end of what the model will own ==========================================================


def edges_taken(journey: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [step for step in walk(journey) if step[1] is not None]  # type: ignore[misc]


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
    others: dict[str, dict[tuple[str, str, str], Edge]] = {}
    for result in results:
        if not result.journey or result.menu is None:
            continue
        same = Path(result.menu).resolve() == Path(menu_file).resolve()
        if not same and result.menu not in others:
            others[result.menu] = {e.key: e for e in model_edges(load_menu(result.menu))}
        for key in edges_taken(result.journey):
            if key not in by_key:
                continue
            if not same:
                theirs = others[result.menu].get(key)
                if theirs is None or theirs.target != by_key[key].target:
                    continue
            report.taken.setdefault(key, []).append(result.id)
    return report
