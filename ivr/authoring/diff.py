"""What an edit of the menu changes for callers: ``ivr diff OLD NEW``.

Two menus are compared as callers meet them, not as text: nodes added or removed, options
added, removed, moved to another key or sent elsewhere, words reworded per language, the
branches out of each node (from :func:`ivr.menu.routing.edges`), the routes a caller can take
by keys and where each ends (from :func:`~ivr.authoring.paths.walk_paths`, as ``ivr paths``
walks them), the listening time to each destination, announcements switched on or off, and
every other setting a caller would notice. Authors' notes and the checks' own settings are not
callers' business and are left out.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MenuError, Problem
from ..menu import Menu, MenuNode, Option, load_menu, parse_menu
from ..menu.checks import texts
from ..menu.routing import edges, switched_on
from .paths import Route, walk_paths

UNSEEN = frozenset(
    {"notes", "$schema", "name", "defaults.checks", "defaults.budget", "defaults.budgets"}
)
"""Paths (or field names) no caller hears."""
BRANCH_FIELDS = frozenset(
    {"goto", "next", "back", "fallback", "on_full", "on_error", "on_leave", "on_fail", "open"}
    | {"closed"}
)
"""Node fields that name where a caller goes: compared as branches (``edges``), not as text."""


@dataclass(frozen=True)
class Change:
    """One difference a caller would notice."""

    section: str
    """nodes, options, words, branches, routes, announcements or settings."""
    kind: str
    path: str
    """Where in the (new) file, e.g. ``nodes.main.options[1]``."""
    message: str
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class Timing:
    """The quickest route by keys to one destination in one language, before and after."""

    destination: str
    language: str
    before: float | None
    after: float | None
    keys_before: str | None
    keys_after: str | None

    @property
    def changed(self) -> bool:
        if self.before is None or self.after is None:
            return self.before != self.after
        return round(self.before) != round(self.after)


@dataclass
class MenuDiff:
    """Every change for callers between two menus, with the listening times side by side."""

    old_source: str
    new_source: str
    changes: list[Change] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether callers would notice anything (``ivr diff`` exits 1)."""
        return bool(self.changes) or any(t.changed for t in self.timings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_source,
            "new": self.new_source,
            "changed": self.changed,
            "changes": [asdict(c) for c in self.changes],
            "timings": [asdict(t) | {"changed": t.changed} for t in self.timings],
            "suggestions": self.suggestions,
        }


def read_revision(path: str | Path, rev: str) -> tuple[str, str]:
    """The text of ``path`` at git revision ``rev``, and a name for it (``menus.json@HEAD~1``)."""
    p = Path(path)
    source = f"{p.name}@{rev}"
    try:
        done = subprocess.run(
            ["git", "show", f"{rev}:./{p.name}"],
            cwd=p.resolve().parent,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise MenuError(source, [Problem("", f"cannot run git: {exc.strerror}")]) from None
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise MenuError(source, [Problem("", f"cannot read it from git: {why}")])
    return done.stdout, source


def diff_files(old: str | Path, new: str | Path) -> MenuDiff:
    """Compare two menu files (raises :class:`MenuError` if either is not a valid menu)."""
    return diff_menus(load_menu(old), load_menu(new))


def diff_revision(path: str | Path, rev: str) -> MenuDiff:
    """Compare ``path`` as it was at git revision ``rev`` with the file as it is now."""
    text, source = read_revision(path, rev)
    return diff_menus(parse_menu(text, source), load_menu(path))


def diff_menus(old: Menu, new: Menu) -> MenuDiff:
    """Every change for callers from ``old`` to ``new``."""
    result = MenuDiff(old.source, new.source)
    moves: dict[str, str] = {}
    """Old list items' paths to their new paths (options, closures, announcements)."""
    result.changes += _nodes(old, new)
    result.changes += _options(old, new, moves)
    result.changes += _branches(old, new)
    result.changes += _announcements(old, new, moves)
    _closures(old, new, moves)
    result.changes += _fields(old, new, moves)
    result.changes += _routes(old, new)
    result.timings = _timings(old, new)
    # Most telling first: a key moved, then keys that now end elsewhere or nowhere.
    renumbered = [
        c
        for kind in ("moved", "route-changed", "route-removed", "retargeted")
        for c in result.changes
        if c.kind == kind
    ]
    if renumbered and not switched_on(new):
        example = renumbered[0].message
        result.suggestions.append(
            f"Keys were renumbered, e.g. {example}. Callers who know the menu will press the "
            "old keys: consider switching on an announcement for a few weeks, e.g. "
            '{"name": "menu changed", "say": {"en-GB": "Our options have changed, so please '
            'listen carefully."}, "ends": "<a date a few weeks ahead>"}, with a translation '
            "for each language."
        )
    return result


# -- nodes, options, branches -------------------------------------------------------------------


def _nodes(old: Menu, new: Menu) -> list[Change]:
    found = []
    for node_id in sorted(set(new.nodes) - set(old.nodes)):
        kind = new.node(node_id).kind
        found.append(Change("nodes", "added", f"nodes.{node_id}", f"new {kind} {node_id!r}"))
    for node_id in sorted(set(old.nodes) - set(new.nodes)):
        kind = old.node(node_id).kind
        found.append(Change("nodes", "removed", f"nodes.{node_id}", f"{kind} {node_id!r} removed"))
    for node_id in sorted(_common(old, new, same_kind=False)):
        was, now = old.node(node_id).kind, new.node(node_id).kind
        if was != now:
            found.append(
                Change(
                    "nodes",
                    "kind",
                    f"nodes.{node_id}",
                    f"{node_id!r} is now a {now} (was a {was})",
                    was,
                    now,
                )
            )
    return found


def _common(old: Menu, new: Menu, same_kind: bool = True) -> list[str]:
    """Node ids in both menus (of the same kind unless told otherwise), in the new file's order."""
    return [
        n
        for n in new.nodes
        if n in old.nodes and (not same_kind or old.node(n).kind == new.node(n).kind)
    ]


def _options(old: Menu, new: Menu, moves: dict[str, str]) -> list[Change]:
    """Options paired by key first. An option whose destination (and language) now sits under
    another key, while its old key no longer leads there, has moved keys (a renumbering); an
    option that keeps its key but leads elsewhere is retargeted."""
    found = []
    for node_id in _common(old, new):
        if not isinstance(new.node(node_id), MenuNode):
            continue
        was = dict(enumerate(old.node(node_id).options))
        now = dict(enumerate(new.node(node_id).options))
        base = f"nodes.{node_id}.options"
        by_key = {
            j: next((i for i, p in was.items() if p.key == o.key), None) for j, o in now.items()
        }
        kept = {
            j: i
            for j, i in by_key.items()
            if i is not None and _identity(was[i]) == _identity(now[j])
        }
        # Identities that left their old key for another one.
        free_old = {i: p for i, p in was.items() if i not in kept.values()}
        moved: dict[int, int] = {}
        for j, o in now.items():
            if j in kept:
                continue
            same = [i for i, p in free_old.items() if _identity(p) == _identity(o)]
            same = [i for i in same if was[i].key != o.key and i not in moved.values()]
            if same:
                i = max(same, key=lambda i: _alike(was[i], o))
                moved[j] = i
        for j, i in moved.items():
            a, b = was[i], now[j]
            found.append(
                Change(
                    "options",
                    "moved",
                    f"{base}[{j}]",
                    f"{node_id}: key {b.key} now goes where key {a.key} went ({b.goto})",
                    a.key,
                    b.key,
                )
            )
        used_old = set(kept.values()) | set(moved.values())
        paired = {**kept, **moved}
        for j, o in now.items():
            i = by_key[j]
            if j in paired or i is None or i in used_old:
                continue
            target = f"{o.goto} in {o.language}" if o.language else o.goto
            found.append(
                Change(
                    "options",
                    "retargeted",
                    f"{base}[{j}]",
                    f"{node_id}: key {o.key} now goes to {target} (was {was[i].goto})",
                    was[i].goto,
                    o.goto,
                )
            )
            paired[j] = i
            used_old.add(i)
        for j, i in paired.items():
            moves[f"{base}[{i}]"] = f"{base}[{j}]"
        for j, o in now.items():
            if j not in paired:
                msg = f"{node_id}: new option, key {o.key} to {o.goto}"
                found.append(Change("options", "added", f"{base}[{j}]", msg, None, o.key))
        for i, o in was.items():
            if i not in used_old:
                msg = f"{node_id}: option removed, key {o.key} to {o.goto}"
                found.append(Change("options", "removed", f"{base}[{i}]", msg, o.key, None))
    return found


def _identity(option: Option) -> tuple[str, str | None]:
    """What an option is to callers, whatever its key: where it leads, in which language."""
    return option.goto, option.language


def _alike(a: Option, b: Option) -> int:
    """How many languages' words two options share (to tell apart options that lead alike)."""
    was, now = a.model_dump().get("say"), b.model_dump().get("say")
    if isinstance(was, dict) and isinstance(now, dict):
        return sum(1 for k, v in now.items() if was.get(k) == v)
    return int(was == now)


def _branches(old: Menu, new: Menu) -> list[Change]:
    """Every other way out of each node: fallback, back, next, queue full, closed..."""
    found = []
    for node_id in _common(old, new):
        was = {e.branch: e.target for e in edges(old, node_id) if not e.branch.startswith("key ")}
        now = {e.branch: e.target for e in edges(new, node_id) if not e.branch.startswith("key ")}
        path = f"nodes.{node_id}"
        for branch, target in now.items():
            if branch not in was:
                msg = f"{node_id}: new branch {branch!r} to {target}"
                found.append(Change("branches", "added", path, msg, None, target))
            elif was[branch] != target:
                msg = f"{node_id}: {branch} now goes to {target} (was {was[branch]})"
                found.append(Change("branches", "changed", path, msg, was[branch], target))
        for branch, target in was.items():
            if branch not in now:
                msg = f"{node_id}: branch {branch!r} to {target} removed"
                found.append(Change("branches", "removed", path, msg, target, None))
    return found


def _closures(old: Menu, new: Menu, moves: dict[str, str]) -> None:
    """Closures are matched by their date, so adding one does not reword the others."""
    for node_id in _common(old, new):
        was = getattr(old.node(node_id), "closures", None)
        now = getattr(new.node(node_id), "closures", None)
        if was is None or now is None:
            continue
        at = {c.date: j for j, c in enumerate(now)}
        for i, c in enumerate(was):
            if c.date in at:
                moves[f"nodes.{node_id}.closures[{i}]"] = f"nodes.{node_id}.closures[{at[c.date]}]"


# -- announcements ------------------------------------------------------------------------------


def _announcements(old: Menu, new: Menu, moves: dict[str, str]) -> list[Change]:
    """Matched by name (by position when unnamed): switched on or off, added, removed."""
    found = []
    was = list(enumerate(old.file.announcements))
    for j, a in enumerate(new.file.announcements):
        match = next((p for p in was if a.name and p[1].name == a.name), None)
        if match is None and not a.name:
            match = next((p for p in was if p[0] == j and not p[1].name), None)
        path = f"announcements[{j}]"
        label = repr(a.name) if a.name else path
        if match is None:
            state = "on" if a.enabled else "off"
            found.append(
                Change("announcements", "added", path, f"new announcement {label} ({state})")
            )
            continue
        was.remove(match)
        moves[f"announcements[{match[0]}]"] = path
        if match[1].enabled != a.enabled:
            state = "switched on" if a.enabled else "switched off"
            window = _window(a)
            found.append(
                Change(
                    "announcements",
                    "on" if a.enabled else "off",
                    f"{path}.enabled",
                    f"announcement {label} {state}{window}",
                    match[1].enabled,
                    a.enabled,
                )
            )
    for i, a in was:
        label = repr(a.name) if a.name else f"announcements[{i}]"
        found.append(
            Change(
                "announcements", "removed", f"announcements[{i}]", f"announcement {label} removed"
            )
        )
    return found


def _window(a: Any) -> str:
    starts, ends = a.window()
    parts = []
    if starts is not None:
        parts.append(f"from {starts:%Y-%m-%d %H:%M}")
    if ends is not None:
        parts.append(f"until {ends:%Y-%m-%d %H:%M}")
    return f" ({' '.join(parts)})" if parts else ""


# -- words and settings -------------------------------------------------------------------------


def _flat(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON value with its path; a list of plain values is one leaf."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _flat(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, v in enumerate(value):
            yield from _flat(v, f"{path}[{i}]")
    else:
        yield path, value


def _renamed(path: str, moves: dict[str, str]) -> str:
    """An old path in the new file's terms (a moved option keeps its words' history)."""
    for prefix in sorted(moves, key=len, reverse=True):
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return moves[prefix] + path[len(prefix) :]
    return path


ITEM = re.compile(r"^(nodes\.[^.]+\.(?:options|closures)\[\d+\]|announcements\[\d+\])")
"""A list item matched between the menus (an option, a closure, an announcement)."""


def _fields(old: Menu, new: Menu, moves: dict[str, str]) -> list[Change]:
    """Words (per language) and every other setting, leaf by leaf."""
    common = set(_common(old, new))
    matched = set(moves.values())

    def compared(path: str) -> bool:
        parts = path.split(".")
        if "notes" in parts or path in UNSEEN or any(path.startswith(f"{u}.") for u in UNSEEN):
            return False
        item = ITEM.match(path)
        if item is not None and item.group(1) not in matched:
            return False  # an option, closure or announcement added or removed: said whole
        if parts[0] == "nodes":
            if parts[1] not in common:
                return False  # a node added, removed or of another kind: said whole
            if len(parts) == 3 and parts[2] in BRANCH_FIELDS:
                return False  # compared as branches
            if ".options[" in path and parts[-1] in ("goto", "key", "language"):
                return False  # compared as options
        return not (path.startswith("announcements[") and parts[-1] == "enabled")

    def dump(menu: Menu) -> dict[str, Any]:
        return menu.file.model_dump(mode="json", by_alias=True)

    was = {_renamed(p, moves): v for p, v in _flat(dump(old)) if _kept(p, moves)}
    now = dict(_flat(dump(new)))
    wording = {p for p, _ in texts(new.file)}
    wording |= {_renamed(p, moves) for p, _ in texts(old.file) if _kept(p, moves)}
    found = []
    for path in [*now, *(p for p in was if p not in now)]:
        a, b = was.get(path), now.get(path)
        if a == b or not compared(path):
            continue
        text = path if path in wording else path.rsplit(".", 1)[0]
        if text in wording:
            language = path[len(text) + 1 :] or "every language"
            found.append(Change("words", "reworded", text, f"{text} ({language})", a, b))
        else:
            msg = f"{path}: {_show(a)} → {_show(b)}"
            found.append(Change("settings", "changed", path, msg, a, b))
    return found


def _kept(path: str, moves: dict[str, str]) -> bool:
    """Whether an old leaf has a counterpart to compare with (its list item was matched)."""
    item = ITEM.match(path)
    return item is None or item.group(1) in moves


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


# -- routes and listening time ------------------------------------------------------------------


def _ends(routes: list[Route]) -> dict[tuple[str, ...], set[str]]:
    """Where each sequence of keys ends, at any time of day (``crime_queue``, or
    ``business_queue (open)`` where the clock decides)."""
    ends: dict[tuple[str, ...], set[str]] = {}
    for r in routes:
        if r.by_keys:
            clock = " ".join(k for k in r.keys if k.startswith("("))
            ends.setdefault(r.pressed, set()).add(f"{r.destination} {clock}".strip())
    return ends


def _routes(old: Menu, new: Menu) -> list[Change]:
    was, now = _ends(walk_paths(old).routes), _ends(walk_paths(new).routes)
    found = []
    for keys in sorted(set(was) | set(now), key=lambda k: (len(k), k)):
        a, b = was.get(keys), now.get(keys)
        if a == b:
            continue
        shown = " ".join(keys) or "(none)"
        if a is None:
            msg = f"keys {shown} now end in {_either(b)} (a new route)"
            kind = "route-added"
        elif b is None:
            msg = f"keys {shown} used to end in {_either(a)}; no route takes them now"
            kind = "route-removed"
        else:
            msg = f"keys {shown} used to end in {_either(a)} and now end in {_either(b)}"
            kind = "route-changed"
        found.append(Change("routes", kind, "", msg, sorted(a or ()), sorted(b or ())))
    return found


def _either(ends: set[str] | None) -> str:
    return " or ".join(sorted(ends or ()))


def _quickest(menu: Menu) -> dict[tuple[str, str], Route]:
    best: dict[tuple[str, str], Route] = {}
    for r in walk_paths(menu).routes:
        key = (r.destination, r.language)
        if r.by_keys and (key not in best or r.seconds < best[key].seconds):
            best[key] = r
    return best


def _timings(old: Menu, new: Menu) -> list[Timing]:
    was, now = _quickest(old), _quickest(new)
    rows = []
    for key in sorted(set(was) | set(now)):
        a, b = was.get(key), now.get(key)
        rows.append(
            Timing(
                key[0],
                key[1],
                None if a is None else round(a.seconds, 1),
                None if b is None else round(b.seconds, 1),
                None if a is None else " ".join(a.keys),
                None if b is None else " ".join(b.keys),
            )
        )
    return rows
