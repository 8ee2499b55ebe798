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


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            raise _DuplicateKey(k)
        seen[k] = v
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


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


def _locate(text: str, path: str) -> tuple[int | None, int | None]:
    """Best-effort line and column of the JSON value at ``path``."""
    locator = _Locator(text)
    return locator.find(path)


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


class _Locator:
    """A tiny JSON scanner that records where each value starts, by path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: dict[str, int] = {}
        self.i = 0
        try:
            self._value("")
        except (IndexError, ValueError):
            pass

    def find(self, path: str) -> tuple[int | None, int | None]:
        while path:
            if path in self.positions:
                pos = self.positions[path]
                line = self.text.count("\n", 0, pos) + 1
                return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            path = "" if parent == path else parent
        return None, None

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
            while True:
                self._ws()
                key = self._string()
                self._ws()
                self.i += 1  # ':'
                self._value(f"{path}.{key}" if path else key)
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
    """Validate menu JSON ``text``; raise :class:`MenuError` with every located problem."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise MenuError(
            source, [Problem("", f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]
        ) from None
    except _DuplicateKey as exc:
        line, col = _duplicate_position(text, exc.key)
        raise MenuError(
            source, [Problem("", f"duplicate key {exc.key!r} in one object", line, col)]
        ) from None
    except RecursionError:
        # A hostile or broken file: brackets nested thousands deep. Refuse it as a problem,
        # never as a traceback (the live reload keeps the last good menu).
        raise MenuError(
            source, [Problem("", f"invalid JSON: nested more than {MAX_DEPTH} levels deep")]
        ) from None
    if _depth(data) > MAX_DEPTH:
        raise MenuError(
            source, [Problem("", f"invalid JSON: nested more than {MAX_DEPTH} levels deep")]
        )
    try:
        model = MenuFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            line, col = _locate(text, path)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = "is not a known field (check the spelling)"
            elif err["type"] == "union_tag_invalid":
                msg = f"unknown node kind; use one of: {', '.join(NODE_KINDS)}"
            problems.append(Problem(path, msg, line, col))
        raise MenuError(source, problems) from None
    errors, warnings = check(model)
    if errors:
        located = [Problem(p.path, p.message, *_locate(text, p.path)) for p in errors]
        raise MenuError(source, located)
    located = [Problem(p.path, p.message, *_locate(text, p.path)) for p in warnings]
    return Menu(model, source, located)


def _duplicate_position(text: str, key: str) -> tuple[int | None, int | None]:
    """Where ``key`` appears a second time (close enough to point an author at it)."""
    hits = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    if len(hits) < 2:
        return None, None
    pos = hits[1]
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def load_menu(path: str | Path) -> Menu:
    """Read and validate a menu file; raise :class:`MenuError` if it cannot be used."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuError(str(p), [Problem("", f"cannot read the file: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise MenuError(str(p), [Problem("", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_menu(text, str(p))
