"""Checks across the menu that the schema cannot express: references, keys, translations.

:func:`check` returns errors (the file cannot be served) and warnings (it can, but an author
should know), each with the path of the value at fault.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from ..errors import Problem
from .menu import Menu
from .model import (
    SPEECH_LANGUAGES,
    HoursNode,
    MenuFile,
    MenuNode,
    MessageNode,
    Phrasebook,
    QueueNode,
    TransferNode,
)
from .routing import reachable

URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
PLACEHOLDER = re.compile(r"{(\w*)}")

TEXT_FIELDS = frozenset({"say", "prompt", "invalid", "silence", "reminder", "messages"})
"""Fields holding words to speak (Text), checked for translations and placeholders."""


def texts(model: BaseModel, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every Text value in a model tree (words to speak), with its path in the file."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        sub = f"{path}.{info.alias or name}" if path else (info.alias or name)
        if isinstance(value, BaseModel):
            yield from texts(value, sub)
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            for k, v in value.items():
                yield from texts(v, f"{sub}.{k}")
        elif isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
            for i, v in enumerate(value):
                yield from texts(v, f"{sub}[{i}]")
        elif value is None or not (name in TEXT_FIELDS or isinstance(model, Phrasebook)):
            continue
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield f"{sub}[{i}]", v
        else:
            yield sub, value


_ALLOWED_PLACEHOLDERS = {
    "position": {"position"},
    "wait": {"minutes"},
    "callback_number": {"last"},
    "callback_confirmed": {"number"},
}


def check(f: MenuFile, node_ids: set[str] | None = None) -> tuple[list[Problem], list[Problem]]:
    """Cross-reference checks the schema cannot express: errors and warnings.

    ``node_ids``: every node id the file has, when ``f`` holds only the nodes that could be
    read (see :mod:`ivr.menu.salvage`): a reference to a node with problems of its own is
    not also reported as a reference to nothing.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    nodes = f.nodes
    known = set(nodes) if node_ids is None else node_ids
    langs = [f.defaults.language, *f.languages]

    def ref(path: str, target: str | None) -> None:
        if target is not None and target not in known:
            hint = difflib.get_close_matches(target, known, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            errors.append(Problem(path, f"refers to node {target!r}, which does not exist{extra}"))

    ref("start", f.start)
    ref("defaults.error_node", f.defaults.error_node)
    for i, target in enumerate(f.defaults.checks.main):
        ref(f"defaults.checks.main[{i}]", target)
    for lang in f.defaults.budgets:
        if lang not in langs:
            errors.append(Problem(f"defaults.budgets.{lang}", f"unknown language {lang!r}"))
    for lang in f.languages:
        if lang == f.defaults.language:
            errors.append(Problem(f"languages.{lang}", "repeats the default language"))
        elif f.languages[lang].speech and lang not in SPEECH_LANGUAGES:
            warnings.append(
                Problem(
                    f"languages.{lang}.speech",
                    f"Twilio does not recognise speech in {lang}: callers get keys only "
                    "(set speech to false to say so)",
                )
            )
    if f.defaults.speech and f.defaults.language not in SPEECH_LANGUAGES:
        warnings.append(
            Problem(
                "defaults.speech",
                f"Twilio does not recognise speech in {f.defaults.language}: keys only",
            )
        )

    for node_id, node in nodes.items():
        base = f"nodes.{node_id}"
        if isinstance(node, MenuNode):
            seen: dict[str, int] = {}
            for i, o in enumerate(node.options):
                ref(f"{base}.options[{i}].goto", o.goto)
                if o.key in seen:
                    errors.append(
                        Problem(
                            f"{base}.options[{i}].key",
                            f"key {o.key!r} is already used by options[{seen[o.key]}]",
                        )
                    )
                seen.setdefault(o.key, i)
                if o.language is not None and o.language not in langs:
                    errors.append(
                        Problem(f"{base}.options[{i}].language", f"unknown language {o.language!r}")
                    )
                if isinstance(o.speech, dict):
                    for lang in o.speech:
                        if lang not in langs:
                            errors.append(
                                Problem(f"{base}.options[{i}].speech.{lang}", "unknown language")
                            )
            for what in ("repeat_key", "back_key"):
                special = (
                    (node.repeat_key or f.defaults.repeat_key)
                    if what == "repeat_key"
                    else (node.back_key or f.defaults.back_key)
                    if node.back
                    else None
                )
                if special is not None and special in seen:
                    errors.append(
                        Problem(
                            f"{base}.options[{seen[special]}].key",
                            f"key {special!r} is this menu's {what.replace('_', ' ')}",
                        )
                    )
            ref(f"{base}.back", node.back)
            ref(f"{base}.fallback", node.fallback)
            if node.fallback == node_id:
                errors.append(
                    Problem(f"{base}.fallback", "a menu cannot fall back to itself (endless loop)")
                )
        elif isinstance(node, MessageNode):
            ref(f"{base}.next", node.next)
            if node.play is not None and not URL.match(node.play):
                errors.append(Problem(f"{base}.play", f"{node.play!r} is not an http(s) URL"))
            if node.next == node_id:
                errors.append(Problem(f"{base}.next", "a message cannot lead to itself"))
        elif isinstance(node, QueueNode):
            ref(f"{base}.on_full", node.on_full)
            ref(f"{base}.on_error", node.on_error)
            ref(f"{base}.on_leave", node.on_leave)
            if node.callback is not None and node.on_leave is None:
                errors.append(
                    Problem(
                        f"{base}.on_leave",
                        "a queue that offers callbacks needs on_leave: where a caller goes "
                        "after leaving the queue to be called back (e.g. a goodbye)",
                    )
                )
            if node.hold.music is not None and not URL.match(node.hold.music):
                errors.append(
                    Problem(f"{base}.hold.music", f"{node.hold.music!r} is not an http(s) URL")
                )
        elif isinstance(node, TransferNode):
            ref(f"{base}.on_fail", node.on_fail)
        elif isinstance(node, HoursNode):
            ref(f"{base}.open", node.open)
            ref(f"{base}.closed", node.closed)
            if node.open == node.closed:
                warnings.append(Problem(f"{base}.closed", "is the same node as `open`"))

    errors.extend(_hours_loops(nodes))
    keys: dict[str, int] = {}
    for i, a in enumerate(f.announcements):
        ref(f"announcements[{i}].goto", a.goto)
        if a.key is not None and a.enabled:
            if a.key in keys:
                errors.append(
                    Problem(
                        f"announcements[{i}].key",
                        f"key {a.key!r} is already used by announcements[{keys[a.key]}]",
                    )
                )
            keys.setdefault(a.key, i)

    # A language choice is said in the language it chooses, so needs only that text.
    own_language = {
        f"nodes.{node_id}.options[{i}].say": o.language
        for node_id, node in nodes.items()
        if isinstance(node, MenuNode)
        for i, o in enumerate(node.options)
        if o.language is not None
    }
    for path, value in texts(f):
        if path in own_language:
            lang = own_language[path]
            if isinstance(value, dict) and not value.get(lang, "").strip():
                errors.append(Problem(path, f"has no {lang} text (the language it offers)"))
            elif isinstance(value, str) and not value.strip():
                errors.append(Problem(path, "is empty"))
            continue
        if isinstance(value, dict):
            for lang in langs:
                if not value.get(lang, "").strip():
                    errors.append(Problem(path, f"has no {lang} translation"))
            for lang in value:
                if lang not in langs:
                    errors.append(Problem(f"{path}.{lang}", f"unknown language {lang!r}"))
        elif not value.strip():
            errors.append(Problem(path, "is empty"))
        elif len(langs) > 1 and path.startswith("defaults.phrases"):
            # A built-in phrase may stay in one language, but a caller who chose another
            # would hear it in the wrong words: worth telling the author.
            warnings.append(Problem(path, f"has one text for every language ({', '.join(langs)})"))
        elif len(langs) > 1:
            errors.append(
                Problem(path, f"needs a translation for each language ({', '.join(langs)})")
            )
        name = path.rsplit(".", 1)[-1]
        allowed = _ALLOWED_PLACEHOLDERS.get(name, set()) if path.startswith("defaults.") else set()
        for text in value.values() if isinstance(value, dict) else [value]:
            for ph in PLACEHOLDER.findall(text):
                if ph not in allowed:
                    errors.append(Problem(path, f"unknown placeholder {{{ph}}}"))

    if not errors and node_ids is None:
        for node_id in sorted(set(nodes) - reachable(Menu(f))):
            warnings.append(Problem(f"nodes.{node_id}", "is not reachable from the start node"))
    return errors, warnings


def _hours_loops(nodes: dict[str, Any]) -> list[Problem]:
    """Hours nodes that lead back to themselves through hours nodes only (an endless loop)."""
    problems = []
    for node_id, node in nodes.items():
        if not isinstance(node, HoursNode):
            continue
        todo, seen = [node.open, node.closed], set()
        while todo:
            target = todo.pop()
            if target == node_id:
                problems.append(
                    Problem(f"nodes.{node_id}", "leads back to itself through hours nodes only")
                )
                break
            nxt = nodes.get(target)
            if isinstance(nxt, HoursNode) and target not in seen:
                seen.add(target)
                todo.extend([nxt.open, nxt.closed])
    return problems
