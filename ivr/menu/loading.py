"""Loading ``menus.json``: JSON to the model, every problem located by path, line and column.

A file that cannot be used raises :class:`~ivr.errors.MenuError` with every problem found:
JSON syntax, duplicate keys, fields the model refuses, and the cross-checks of
:mod:`ivr.menu.checks` - an author fixes them all in one pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import MenuError, Problem
from .checks import check
from .menu import Menu
from .model import NODE_KINDS, MenuFile
from .salvage import salvage


class _Objects:
    """``json.loads``' object hook: notes duplicate keys (the last value wins, as in JSON
    parsers generally) so that they are reported with every other problem."""

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in pairs:
            if k in seen:
                self.duplicates.append(k)
            seen[k] = v
        return seen


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in NODE_KINDS and i >= 2 and loc[i - 2] == "nodes":
            continue  # pydantic's discriminator tag, not a field of the file
        elif part in ("str", "dict[str,str]", "list[str]", "dict[str,list[str]]"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def locate(text: str, problems: list[Problem]) -> list[Problem]:
    """``problems`` with the line and column of each one's path in menu JSON ``text``."""
    locator = _Locator(text)
    return [Problem(p.path, p.message, *locator.find(p.path)) for p in problems]


MAX_DEPTH = 64
"""Deeper than any menu needs (a menu file is about 6 levels deep); refused beyond this, so
nothing downstream recurses without bound."""


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, without recursion."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            todo.extend((child, level + 1) for child in children)
    return deepest


def _too_deep(text: str, source: str) -> MenuError:
    """The problem of JSON nested deeper than MAX_DEPTH, located at the first bracket too deep
    (a scan of the text: strings skipped, no recursion)."""
    depth, line, column, in_string, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    else:
        line, column = None, None  # type: ignore[assignment]
    message = f"invalid JSON: nested more than {MAX_DEPTH} levels deep"
    return MenuError(source, [Problem("", message, line, column)])


class _Locator:
    """A tiny JSON scanner that records where each value starts, by path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: dict[str, int] = {}
        self.duplicates: list[tuple[str, int]] = []
        """(path, position) of each key given twice in one object."""
        self.i = 0
        try:
            self._value("")
        except (IndexError, ValueError):
            pass

    def find(self, path: str) -> tuple[int | None, int | None]:
        while path:
            if path in self.positions:
                return self.line_column(self.positions[path])
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            path = "" if parent == path else parent
        return None, None

    def line_column(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def _ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1

    def _value(self, path: str) -> None:
        self._ws()
        self.positions.setdefault(path, self.i)
        c = self.text[self.i]
        if c == "{":
            self.i += 1
            self._ws()
            if self.text[self.i] == "}":
                self.i += 1
                return
            keys: set[str] = set()
            while True:
                self._ws()
                at = self.i
                key = self._string()
                sub = f"{path}.{key}" if path else key
                if key in keys:
                    self.duplicates.append((sub, at))
                keys.add(key)
                self._ws()
                self.i += 1  # ':'
                self._value(sub)
                self._ws()
                c = self.text[self.i]
                self.i += 1
                if c == "}":
                    return
        elif c == "[":
            self.i += 1
            self._ws()
            if self.text[self.i] == "]":
                self.i += 1
                return
            n = 0
            while True:
                self._value(f"{path}[{n}]")
                n += 1
                self._ws()
                c = self.text[self.i]
                self.i += 1
                if c == "]":
                    return
        elif c == '"':
            self._string()
        else:
            m = re.compile(r"[^,}\]\s]+").match(self.text, self.i)
            if not m:
                raise ValueError("bad token")
            self.i = m.end()

    def _string(self) -> str:
        m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(self.text, self.i)
        if not m:
            raise ValueError("bad string")
        self.i = m.end()
        return json.loads(m.group(0))


def parse_menu(text: str, source: str = "menus.json") -> Menu:
    """Validate menu JSON ``text``; raise :class:`MenuError` with every located problem.

    Every problem in one pass: duplicate keys, what the model refuses, and the cross-checks
    of :mod:`ivr.menu.checks` on every part the model could read (:mod:`ivr.menu.salvage`).
    """
    objects = _Objects()
    try:
        data = json.loads(text, object_pairs_hook=objects)
    except json.JSONDecodeError as exc:
        raise MenuError(
            source, [Problem("", f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]
        ) from None
    except RecursionError:
        # A hostile or broken file: brackets nested thousands deep. Refuse it as a problem,
        # never as a traceback (the live reload keeps the last good menu).
        raise _too_deep(text, source) from None
    if _depth(data) > MAX_DEPTH:
        raise _too_deep(text, source)
    locator = _Locator(text)
    problems = _duplicates(objects, locator)
    try:
        model = MenuFile.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(err, locator) for err in exc.errors(include_url=False)]
        problems += _located(_cross_checks(data), locator)
        raise MenuError(source, _in_reading_order(problems)) from None
    errors, warnings = check(model)
    problems += _located(errors, locator)
    if problems:
        raise MenuError(source, _in_reading_order(problems))
    return Menu(model, source, _located(warnings, locator))


def _cross_checks(data: Any) -> list[Problem]:
    """The cross-checks' errors on what the model could read of a file it refused."""
    readable = salvage(data)
    if readable is None:
        return []
    try:
        errors, _ = check(*readable)
    except Exception:  # a hostile file must be refused, never crash the loader
        # The salvaged parts bypass the model's own validators: a combination no check
        # expects must cost the author the extra findings, not the app its last good menu.
        return []
    return errors


_MOVED = {
    "defaults.checks.budget": "defaults.budget",
    "defaults.checks.budgets": "defaults.budgets",
}
"""Fields that have a new place: the error names it."""


def _problem(err: Any, locator: _Locator) -> Problem:
    """One of pydantic's errors, in the author's words, located."""
    path = _path(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "is required"
    elif err["type"] == "extra_forbidden" and path in _MOVED:
        msg = f"is not a known field: it is written {_MOVED[path]}"
    elif err["type"] == "extra_forbidden":
        msg = "is not a known field (check the spelling)"
    elif err["type"] == "union_tag_invalid":
        msg = f"unknown node kind; use one of: {', '.join(NODE_KINDS)}"
    return Problem(path, msg, *locator.find(path))


def _located(problems: list[Problem], locator: _Locator) -> list[Problem]:
    return [Problem(p.path, p.message, *locator.find(p.path)) for p in problems]


def _duplicates(objects: _Objects, locator: _Locator) -> list[Problem]:
    """A problem at each key given twice in one object."""
    found = [
        Problem(path, f"duplicate key {path.rsplit('.', 1)[-1]!r} in one object", *at)
        for path, at in ((p, locator.line_column(pos)) for p, pos in locator.duplicates)
    ]
    if objects.duplicates and not found:  # the locator could not scan the text: no position
        found = [Problem("", f"duplicate key {k!r} in one object") for k in objects.duplicates]
    return found


def _in_reading_order(problems: list[Problem]) -> list[Problem]:
    """Top to bottom of the file (unlocated ones last), each problem once."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def read_menu_bytes(path: str | Path) -> tuple[bytes, str]:
    """A menu file's bytes and its text, from one read (what is checked is what is
    published); raise :class:`MenuError` if it cannot be read as UTF-8."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MenuError(str(p), [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MenuError(str(p), [Problem("", f"not UTF-8 text: {exc.reason}")]) from None


def read_menu_text(path: str | Path) -> str:
    """A menu file's text; raise :class:`MenuError` if it cannot be read as UTF-8."""
    return read_menu_bytes(path)[1]


def load_menu(path: str | Path) -> Menu:
    """Read and validate a menu file; raise :class:`MenuError` if it cannot be used."""
    return parse_menu(read_menu_text(path), str(Path(path)))
