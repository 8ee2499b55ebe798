"""Results for people and machines: the terminal report, JUnit XML, JSON, and ``-k`` selection."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import Problem
from .loader import Script, ScriptError
from .results import FAILED, PASSED, SKIPPED, Result

WORD = {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP"}


def line(result: Result) -> str:
    """One line per scenario."""
    text = f"{WORD[result.status]}  {result.id}"
    if result.status == SKIPPED:
        return f"{text}  ({result.skip_reason})"
    if result.seconds is not None:
        text += f"  ({result.seconds:g}s simulated)"
    return text


def invalid(error: ScriptError) -> str:
    lines = [f"INVALID  {error.source}: {len(error.problems)} problem(s)"]
    lines.extend(f"  error: {problem}" for problem in error.problems)
    return "\n".join(lines)


def summary(results: list[Result], errors: list[ScriptError], seconds: float) -> str:
    counts = {status: sum(r.status == status for r in results) for status in WORD}
    parts = [f"{counts[PASSED]} passed"]
    if counts[FAILED]:
        parts.append(f"{counts[FAILED]} failed")
    if counts[SKIPPED]:
        parts.append(f"{counts[SKIPPED]} skipped")
    if errors:
        parts.append(f"{len(errors)} invalid file(s)")
    return f"{', '.join(parts)} in {seconds:.2f}s"


# -- -k ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class Selection:
    """pytest-style ``-k``: words matched (case-insensitively) in ``file::name``, with
    ``and``, ``or``, ``not`` and parentheses; or a plain phrase (``-k "put through"``), found
    in the name as written, when the words are not an expression."""

    def __init__(self, expression: str) -> None:
        self.tokens = _TOKEN.findall(expression)
        self.phrase: str | None = None
        if not self.tokens:
            raise ValueError("-k needs a word to select by")
        try:
            self._check()
        except ValueError:
            words = [t.lower() for t in self.tokens]
            if any(w in ("and", "or", "not", "(", ")") for w in words):
                raise
            self.phrase = " ".join(words)

    def _check(self) -> None:
        self.pos = 0
        self._or("")
        if self.pos != len(self.tokens):
            raise ValueError(f"-k: unexpected {self.tokens[self.pos]!r}")

    def __call__(self, text: str) -> bool:
        if self.phrase is not None:
            return self.phrase in " ".join(text.lower().split())
        self.pos = 0
        return self._or(text.lower())

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self, text: str) -> bool:
        value = self._and(text)
        while self._peek() == "or":
            self.pos += 1
            value = self._and(text) or value
        return value

    def _and(self, text: str) -> bool:
        value = self._not(text)
        while self._peek() == "and":
            self.pos += 1
            value = self._not(text) and value
        return value

    def _not(self, text: str) -> bool:
        if self._peek() == "not":
            self.pos += 1
            return not self._not(text)
        token = self._peek()
        if token is None:
            raise ValueError("-k: the expression ends too soon")
        self.pos += 1
        if token == "(":
            value = self._or(text)
            if self._peek() != ")":
                raise ValueError("-k: a '(' is not closed")
            self.pos += 1
            return value
        if token in (")", "and", "or"):
            raise ValueError(f"-k: unexpected {token!r}")
        return token.lower() in text


def select(scripts: Iterable[Script], expression: str | None) -> list[Script]:
    if not expression:
        return list(scripts)
    chosen = Selection(expression)
    return [s for s in scripts if chosen(s.id)]


# -- JUnit XML and JSON --------------------------------------------------------------------------


def junit(results: list[Result], errors: list[ScriptError], seconds: float) -> str:
    """JUnit XML as CI systems read it: one testcase per scenario, invalid files as errors."""
    suite = ET.Element(
        "testsuite",
        name="ivr test",
        tests=str(len(results) + len(errors)),
        failures=str(sum(r.status == FAILED for r in results)),
        errors=str(len(errors)),
        skipped=str(sum(r.status == SKIPPED for r in results)),
        time=f"{seconds:.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_classname(result.file),
            name=result.name,
            file=result.file,
            line=str(result.line),
            time=f"{result.duration:.3f}",
        )
        if result.status == FAILED:
            first = result.failures[0] if result.failures else None
            message = f"{first.what}: expected {first.expected}" if first else "failed"
            ET.SubElement(case, "failure", message=message).text = result.message()
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=result.skip_reason or "")
        if result.transcript:
            ET.SubElement(case, "system-out").text = "\n".join(result.transcript)
    for error in errors:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_classname(error.source),
            name="(script)",
            file=error.source,
        )
        ET.SubElement(case, "error", message="not a valid call script").text = invalid(error)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def _classname(file: str) -> str:
    path = Path(file)
    stem = path.name.split(".")[0]
    return ".".join([*path.parent.parts, stem]).lstrip(".") or stem


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "path": problem.path,
        "message": problem.message,
        "line": problem.line,
        "column": problem.column,
    }


def as_json(
    results: list[Result],
    errors: list[ScriptError],
    seconds: float,
    coverage: dict[str, Any] | None = None,
) -> str:
    data: dict[str, Any] = {
        "passed": sum(r.status == PASSED for r in results),
        "failed": sum(r.status == FAILED for r in results),
        "skipped": sum(r.status == SKIPPED for r in results),
        "invalid": [
            {"file": e.source, "problems": [_problem(p) for p in e.problems]} for e in errors
        ],
        "seconds": round(seconds, 3),
        "results": [r.as_dict() for r in results],
    }
    if coverage is not None:
        data["coverage"] = coverage
    return json.dumps(data, indent=2, default=str)
