"""Caller-experience checks: located warnings for ``ivr validate``.

What public-sector IVR guidance and contact-centre practice advise against.

Too many options in one menu, too many menus to a destination, a menu with no repeat key, an
option whose key is never said (speech only), a node that speaks too long, languages that reach
different destinations, and destinations slower than the listening budget. The limits are the
menu's own (``defaults.checks``; ``defaults.budget`` for listening time). Every time comes from
:func:`~ivr.authoring.paths.walk_paths`, the model ``ivr paths`` prints, and every route is one
it walks: nothing here times speech or follows a branch itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem
from ..menu import HangupNode, HoursNode, Menu, MenuFile, MenuNode, parse_menu
from ..menu.loading import locate, read_menu_text
from ..menu.model import Budget
from ..menu.routing import edges
from .paths import PathReport, Route, walk_paths


@dataclass(frozen=True)
class Review:
    """A menu file that loaded, with every warning about it, located."""

    menu: Menu
    warnings: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.warnings


def review(path: str | Path) -> Review:
    """Load a menu file (raising :class:`~ivr.errors.MenuError` if it has errors) and gather
    its warnings: the loader's own and the caller-experience checks, in file order."""
    return review_text(read_menu_text(path), str(Path(path)))


def review_text(text: str, source: str) -> Review:
    """:func:`review` of menu JSON ``text`` (``source`` names it in problems)."""
    menu = parse_menu(text, source)
    found = menu.warnings + locate(text, experience(menu))
    unique = list(dict.fromkeys(found))
    return Review(menu, sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.column or 0)))


def experience(menu: Menu, report: PathReport | None = None) -> list[Problem]:
    """Every caller-experience warning for ``menu`` (paths, not yet located)."""
    report = report if report is not None else walk_paths(menu)
    limits = menu.defaults.checks
    found: list[Problem] = []
    for node_id, node in menu.nodes.items():
        if not isinstance(node, MenuNode):
            continue
        if len(node.options) > limits.max_options:
            found.append(
                Problem(
                    f"nodes.{node_id}.options",
                    f"offers {len(node.options)} options; callers keep track of "
                    f"{limits.max_options} at most (defaults.checks.max_options)",
                )
            )
        if menu.repeat_key(node) is None:
            found.append(
                Problem(
                    f"nodes.{node_id}",
                    "has no repeat key: a caller who missed an option cannot hear them again "
                    "(set repeat_key here or in defaults)",
                )
            )
        found.extend(_unspoken_keys(menu, node_id, node))
    found.extend(_long_speech(menu, limits.max_prompt_seconds))
    quickest = _quickest(report.routes)
    found.extend(_too_deep(menu, report.routes, limits.max_menus))
    found.extend(_parity(menu, quickest))
    found.extend(_over_budget(menu, quickest))
    for finding in report.findings:
        # Routes that never end: the walker's own findings, worth the author's attention too.
        if finding.kind in ("dead-end", "loop"):
            found.append(Problem(f"nodes.{finding.node}", finding.message))
    return found


def _quickest(routes: Iterable[Route]) -> dict[tuple[str, str], Route]:
    """The quickest route by keys to each destination, for each language."""
    best: dict[tuple[str, str], Route] = {}
    for route in routes:
        if not route.by_keys:
            continue
        key = (route.destination, route.language)
        if key not in best or route.seconds < best[key].seconds:
            best[key] = route
    return best


def _secs(seconds: float, limit: float) -> str:
    """Seconds as a caller would count them, with the tenth that takes them over ``limit``."""
    return f"{seconds:.0f}s" if round(seconds) > limit else f"{seconds:.1f}s"


def _keys(route: Route) -> str:
    return " ".join(route.keys) or "none"


def _who(menu: Menu, language: str) -> str:
    return f"{language} callers" if len(menu.languages) > 1 else "callers"


def _unspoken_keys(menu: Menu, node_id: str, node: MenuNode) -> list[Problem]:
    """Options whose words never say their key: only a caller who speaks can choose them."""
    found = []
    for i, option in enumerate(node.options):
        if not option.key.isdigit():
            continue  # star and hash are said as words, in each language's own
        languages = [option.language] if option.language else list(menu.languages)
        for language in languages:
            words = menu.text(option.say, language)
            if re.search(rf"(?<!\d){option.key}(?!\d)", words):
                continue
            if menu.speech_enabled(node, language):
                why = "they can reach it by speech only"
            else:
                why = "with no speech in this language, they cannot reach it at all"
            found.append(
                Problem(
                    f"nodes.{node_id}.options[{i}].say",
                    f"{_who(menu, language)} are never told the key for {option.goto!r} "
                    f"({option.key}): {why}",
                )
            )
    return found


def _long_speech(menu: Menu, limit: float) -> list[Problem]:
    """Nodes that speak for longer than ``limit`` seconds in some language."""
    found = []
    for node_id, node in menu.nodes.items():
        if isinstance(node, HoursNode):
            continue
        for language in menu.languages:
            seconds = speaking_seconds(menu, node_id, language)
            if seconds > limit:
                what = "offers its options in" if isinstance(node, MenuNode) else "speaks for"
                found.append(
                    Problem(
                        f"nodes.{node_id}",
                        f"{what} {_secs(seconds, limit)} in {language}, longer than "
                        f"{limit:g}s (defaults.checks.max_prompt_seconds)",
                    )
                )
    return found


def speaking_seconds(menu: Menu, node_id: str, language: str) -> float:
    """How long one node speaks to a caller in ``language``, by :func:`walk_paths`' clock.

    The node is walked on its own: every node it leads to is replaced by a silent hang-up, so
    a route's time is the node's words alone (a menu: until its last option has been said).
    """
    file = menu.file
    silent = HangupNode(kind="hangup")
    nodes = {e.target: silent for e in edges(menu, node_id) if e.target != node_id}
    defaults = file.defaults.model_copy(
        update={"language": language, "voice": menu.voice(language)}
    )
    probe = MenuFile.model_construct(
        **{
            **{name: getattr(file, name) for name in MenuFile.model_fields},
            "start": node_id,
            "defaults": defaults,
            "languages": {k: v for k, v in menu.languages.items() if k != language},
            "nodes": {**nodes, node_id: menu.node(node_id)},
            "announcements": [],
        }
    )
    routes = walk_paths(Menu(probe)).routes
    # Once through: not on into itself in another language (a Welsh option back to its menu).
    once = [r for r in routes if r.by_keys and r.nodes.count(node_id) == 1]
    return max((r.seconds for r in once), default=0.0)


def _too_deep(menu: Menu, routes: Iterable[Route], limit: int) -> list[Problem]:
    """Destinations that need more than ``limit`` menus, by the route with the fewest."""
    fewest: dict[tuple[str, str], Route] = {}
    for route in routes:
        key = (route.destination, route.language)
        if route.by_keys and (key not in fewest or route.menus < fewest[key].menus):
            fewest[key] = route
    found = []
    for (destination, language), route in sorted(fewest.items()):
        if route.menus > limit:
            found.append(
                Problem(
                    f"nodes.{destination}",
                    f"{_who(menu, language)} go through {route.menus} menus to reach it "
                    f"(keys {_keys(route)}), more than {limit} (defaults.checks.max_menus)",
                )
            )
    return found


def _parity(menu: Menu, quickest: dict[tuple[str, str], Route]) -> list[Problem]:
    """Destinations that callers in one language reach by keys and those in another do not."""
    if len(menu.languages) < 2:
        return []
    reached: dict[str, set[str]] = {}
    for destination, language in quickest:
        reached.setdefault(destination, set()).add(language)
    found = []
    for language in menu.languages:
        if not any(language in langs for langs in reached.values()):
            found.append(
                Problem(
                    f"languages.{language}"
                    if language in menu.file.languages
                    else "defaults.language",
                    f"no route reaches a destination in {language}: is it offered anywhere?",
                )
            )
    speaking = [lang for lang in menu.languages if any(lang in s for s in reached.values())]
    for destination, langs in sorted(reached.items()):
        missing = [lang for lang in speaking if lang not in langs]
        if missing:
            found.append(
                Problem(
                    f"nodes.{destination}",
                    f"{', '.join(sorted(langs))} callers reach it by keys, "
                    f"{', '.join(missing)} callers cannot",
                )
            )
    return found


def _over_budget(menu: Menu, quickest: dict[tuple[str, str], Route]) -> list[Problem]:
    checks = menu.defaults.checks
    main = set(checks.main)
    found = []
    for i, destination in enumerate(checks.main):
        if not any(d == destination for d, _ in quickest):
            found.append(
                Problem(
                    f"defaults.checks.main[{i}]",
                    f"{destination!r} is a main destination, but no caller reaches it by keys",
                )
            )
    for (destination, language), route in sorted(quickest.items()):
        budgets = menu.defaults.budgets
        budget: Budget = budgets.get(language, menu.defaults.budget)
        which = "main" if destination in main else "any"
        limit = budget.main if which == "main" else budget.any
        if limit is not None and route.seconds > limit:
            where = f"budgets.{language}" if language in budgets else "budget"
            found.append(
                Problem(
                    f"nodes.{destination}",
                    f"{_who(menu, language)} listen {_secs(route.seconds, limit)} before "
                    f"reaching it (keys {_keys(route)}), over the {which} budget of {limit:g}s "
                    f"(defaults.{where}.{which})",
                )
            )
    return found
