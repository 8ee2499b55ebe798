"""Reading call scripts: YAML to checked scenarios, every problem located by line and column.

PyYAML's composer gives each value's position; values are kept as written (plain scalars stay
strings, so the model converts ``1``, ``true`` and ``+447700900123`` as each field needs), and
pydantic's errors are mapped back to the line and column of the value they are about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import IVRError, MenuError, Problem
from ..menu import load_menu
from .model import SCENARIO_FIELDS, STEP_KINDS, CallFile, Expect, Scenario, Settings

SUFFIXES = (".yaml", ".yml")
"""Call script file endings, compared lower-cased (``.YAML`` is one too)."""
CALL_SUFFIXES = (".call.yaml", ".call.yml")
Loc = tuple[str | int, ...]


class ScriptError(IVRError):
    """A call script that cannot be run; ``problems`` says where and why."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  error: {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclass(frozen=True)
class Script:
    """One scenario of a script file, checked and ready to run."""

    file: str
    """The file as shown to people (relative to the working directory where it can be)."""
    index: int
    name: str
    line: int
    scenario: Scenario
    menu: str | None
    """The menu file for the in-process app, resolved against the script's folder."""
    step_lines: tuple[int, ...] = ()
    expect_lines: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Said with the result, pass or fail: settings of the scenario that were not applied."""

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


# -- YAML with positions -------------------------------------------------------------------------


@dataclass
class _Tree:
    """A YAML document as plain data, with the position of every value and every key."""

    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def at(self, loc: Loc, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of the value (or key) at ``loc``, or of its nearest parent."""
        table = self.keys if key else self.values
        while loc:
            if loc in table:
                return table[loc]
            if key and loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), (1, 1))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, loc: Loc, tree: _Tree, depth: int = 0) -> Any:
    tree.values[loc] = _mark(node)
    if depth > 50:
        tree.problems.append(Problem(path(loc), "nested too deeply", *_mark(node)))
        return None
    if isinstance(node, yaml.ScalarNode):
        # Plain null (``~``, ``null``, nothing) is None; every other scalar keeps its text.
        if node.style is None and node.tag == "tag:yaml.org,2002:null":
            return None
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), tree, depth + 1) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.MappingNode)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            tree.problems.append(Problem(path(loc), "a key must be a plain word", *_mark(key_node)))
            continue
        key = key_node.value
        if key in out:
            tree.problems.append(
                Problem(path((*loc, key)), f"{key!r} is given twice", *_mark(key_node))
            )
            continue
        tree.keys[(*loc, key)] = _mark(key_node)
        out[key] = _convert(value_node, (*loc, key), tree, depth + 1)
    return out


def path(loc: Iterable[str | int]) -> str:
    """``calls[0].steps[2].press`` for a location."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _documents(text: str, source: str) -> list[_Tree]:
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise ScriptError(source, [Problem("", f"YAML: {problem}", line, column)]) from None
    except yaml.YAMLError as exc:
        raise ScriptError(source, [Problem("", f"YAML: {exc}")]) from None
    trees = []
    for node in nodes:
        if node is None:
            continue
        tree = _Tree(None)
        tree.data = _convert(node, (), tree)
        trees.append(tree)
    return trees


# -- pydantic errors, located ----------------------------------------------------------------------


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """The part of pydantic's ``loc`` that names places in the data (union tags dropped)."""
    out: list[str | int] = []
    here = data
    for part in loc:
        if isinstance(here, dict) and isinstance(part, str) and part in here:
            out.append(part)
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            out.append(part)
            here = here[part]
    return tuple(out)


def _message(error: dict[str, Any], known: Iterable[str]) -> str:
    kind = error["type"]
    name = error["loc"][-1] if error["loc"] else ""
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(name), list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {name!r}{hint}"
    if kind == "missing":
        return f"missing {name!r}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        close = difflib.get_close_matches(
            str(error["input"]), expected.replace(" or ", ", ").split(", "), n=1
        )
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{error['input']!r} is not one of: {expected}{hint}"
    if kind == "string_pattern_mismatch" and name == "press":
        return f"{error['input']!r}: keys are 0-9, * and #"
    return message


def _fields_of(data: Any, loc: Loc) -> list[str]:
    """The fields allowed where an unknown field was found, for "did you mean"."""
    parent = loc[:-1]
    if "expect" in parent and parent[-1] == "expect":
        return list(Expect.model_fields)
    if len(parent) >= 2 and isinstance(parent[-1], int) and parent[-2] == "steps":
        return [*STEP_KINDS, "barge_in"]
    return sorted(SCENARIO_FIELDS | {"calls"})


def _located(tree: _Tree, exc: ValidationError, prefix: Loc = ()) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        loc = _data_loc(tree.data, (*prefix, *error["loc"]))
        full = (*prefix, *error["loc"])
        is_key = error["type"] == "extra_forbidden"
        if is_key and full[-1:] and full[-1] not in loc[-1:]:
            loc = (*loc, full[-1])
        message = _message(error, _fields_of(tree.data, loc if is_key else (*loc, "")))
        if (path(loc), message) in seen:
            continue
        seen.add((path(loc), message))
        problems.append(Problem(path(loc), message, *tree.at(loc, key=is_key)))
    return problems


def _check_steps(tree: _Tree, steps: Any, loc: Loc) -> list[Problem]:
    """Say plainly what is wrong with a step before pydantic's union errors could."""
    problems = []
    if not isinstance(steps, list):
        return problems
    for i, step in enumerate(steps):
        here = (*loc, i)
        if isinstance(step, str) and step in ("silence", "hangup"):
            message = f"write '{step}: true'"
        elif not isinstance(step, dict):
            message = "a step is a mapping such as 'press: \"1\"' or 'hear: \"999\"'"
        else:
            kinds = [k for k in STEP_KINDS if k in step]
            if len(kinds) > 1:
                message = f"one thing per step: this one has {' and '.join(kinds)}"
            elif not kinds:
                unknown = [k for k in step if k != "barge_in"]
                close = difflib.get_close_matches(unknown[0], STEP_KINDS, n=1) if unknown else []
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                what = f"unknown step {unknown[0]!r}{hint}" if unknown else "an empty step"
                message = f"{what}; a step is one of: {', '.join(STEP_KINDS)}"
            elif "barge_in" in step and kinds[0] not in ("press", "say"):
                message = "barge_in goes with a press or say step"
            else:
                continue
        problems.append(Problem(path(here), message, *tree.at(here)))
    return problems


# -- files ----------------------------------------------------------------------------------------


def display(file: Path) -> str:
    """``file`` relative to the working directory when it is below it."""
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)


@cache
def _menu_problem(menu: str, mtime: float) -> str | None:
    try:
        load_menu(menu)
    except MenuError as exc:
        return f"the menu {menu} is not valid:\n" + "\n".join(f"      {p}" for p in exc.problems)
    except OSError as exc:
        return f"cannot read the menu {menu}: {exc.strerror}"
    return None


def _menu(tree: _Tree, loc: Loc, given: str | None, folder: Path) -> tuple[str | None, list]:
    if given is None:
        return None, []
    # Relative to the script's folder; failing that, to the working directory (where `ivr`
    # runs, as `ivr call --menu` reads it).
    resolved = (folder / given) if not Path(given).is_absolute() else Path(given)
    if not resolved.is_file() and (Path.cwd() / given).is_file():
        resolved = Path.cwd() / given
    where = tree.at((*loc, "menu"))
    if not resolved.is_file():
        message = f"no menu file {display(resolved)} (the path is relative to the script)"
        return None, [Problem(path((*loc, "menu")), message, *where)]
    problem = _menu_problem(str(resolved), resolved.stat().st_mtime)
    if problem:
        return None, [Problem(path((*loc, "menu")), problem, *where)]
    return str(resolved), []


def _scenario(
    tree: _Tree, loc: Loc, shared: Settings | None, folder: Path, source: str, index: int
) -> tuple[Script | None, list[Problem]]:
    data = tree.data
    for part in loc:
        data = data[part]
    if not isinstance(data, dict):
        where = tree.at(loc)
        return None, [Problem(path(loc), "a call is a mapping with steps and expect", *where)]
    problems = _check_steps(tree, data.get("steps"), (*loc, "steps"))
    if problems:
        # Check the rest too, with each step already reported standing in as a silence.
        bad = {int(str(p.path).rsplit("[", 1)[1].rstrip("]")) for p in problems}
        steps = [{"silence": "true"} if i in bad else s for i, s in enumerate(data["steps"])]
        data = {**data, "steps": steps}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        return None, problems + _located(tree, exc, loc)
    if problems:
        return None, problems
    if shared is not None:
        # The file's shared settings, where the call does not set its own.
        inherited = {
            name: getattr(shared, name)
            for name in shared.model_fields_set
            if name not in scenario.model_fields_set
        }
        scenario = scenario.model_copy(update=inherited)
    problems = []

    def problem(name: str, message: str) -> None:
        problems.append(Problem(path((*loc, name)), message, *tree.at((*loc, name))))

    notes: tuple[str, ...] = ()
    if scenario.url:
        # The example of issue 13 names url, at and menu together: the call goes to the url,
        # and the caller is told, once, what did not apply to it.
        unused = [name for name in ("at", "menu") if getattr(scenario, name)]
        if unused:
            notes = (
                f"{' and '.join(unused)} not applied: {'they are' if len(unused) > 1 else 'it is'}"
                f" for the in-process app; this call went to {scenario.url}, which keeps its "
                "own clock and menu",
            )
        if scenario.expect and scenario.expect.node:
            problem("expect", "expect.node needs the in-process app; this call goes to its url")
    menu, menu_problems = _menu(tree, loc, None if scenario.url else scenario.menu, folder)
    problems += menu_problems
    name = scenario.name or (Path(source).stem if not (loc or index) else f"call {index + 1}")
    lines = tuple(tree.at((*loc, "steps", i))[0] or 0 for i in range(len(scenario.steps)))
    expect_lines = {}
    if isinstance(data.get("expect"), dict):
        expect_lines = {k: tree.at((*loc, "expect", k))[0] or 0 for k in data["expect"]}
    line = tree.at(loc)[0] or 1
    script = Script(source, index, name, line, scenario, menu, lines, expect_lines, notes)
    return (None if problems else script), problems


def load_text(text: str, source: str, folder: Path | None = None) -> list[Script]:
    """Every scenario in a script's text; :class:`ScriptError` with every problem located."""
    folder = folder or Path(".")
    problems: list[Problem] = []
    scripts: list[Script] = []
    trees = _documents(text, source)
    if not trees:
        raise ScriptError(source, [Problem("", "the file holds no call", 1, 1)])
    index = 0
    for tree in trees:
        problems += tree.problems
        data = tree.data
        if not isinstance(data, dict):
            problems.append(Problem("", "a call script is a mapping (name, steps, expect)", 1, 1))
            continue
        if "calls" in data:
            shared_data = {k: v for k, v in data.items() if k != "calls"}
            shared = None
            try:
                CallFile.model_validate({**shared_data, "calls": []})
                shared = Settings.model_validate(shared_data)
            except ValidationError as exc:
                problems += _located(tree, exc)
            calls = data["calls"]
            if not isinstance(calls, list) or not calls:
                where = tree.at(("calls",))
                problems.append(Problem("calls", "calls is a list of one or more calls", *where))
                continue
            for i in range(len(calls)):
                script, found = _scenario(tree, ("calls", i), shared, folder, source, index)
                problems += found
                if script is not None:
                    scripts.append(script)
                index += 1
        else:
            script, found = _scenario(tree, (), None, folder, source, index)
            problems += found
            if script is not None:
                scripts.append(script)
            index += 1
    names: set[str] = set()
    for script in scripts:
        if script.name in names:
            problems.append(
                Problem("name", f"another call in this file is named {script.name!r}", script.line)
            )
        names.add(script.name)
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise ScriptError(source, problems)
    return scripts


def load_file(file: str | Path) -> list[Script]:
    """Every scenario in one script file."""
    file = Path(file)
    source = display(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(source, [Problem("", f"cannot read it: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ScriptError(source, [Problem("", "not UTF-8 text")]) from None
    return load_text(text, source, file.parent)


def discover(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Script files under ``paths``: files as given; in folders, the call scripts
    (:func:`is_call_script`), hidden folders left out."""
    seen: set[Path] = set()
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and is_call_script(f)
            )
        else:
            found = [p]
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                yield f


_SNIFF_LIMIT = 1_000_000
"""A YAML file larger than this is not taken for a call script unless it is named."""
_TOP_LEVEL = SCENARIO_FIELDS | {"calls", "$schema"}
_SCHEMA_NAME = "callscript.schema.json"
_TEXT_SNIFF = re.compile(r"^(?:steps|calls)\s*:|\$schema\W.*callscript\.schema\.json", re.M)


def is_call_script(file: Path) -> bool:
    """Whether a file found without being named (in a folder ``ivr test`` or pytest walks)
    is a call script: the one rule for both.

    A ``.yaml``/``.yml`` file (any case) that is named ``*.call.yaml``, or whose top level is
    a mapping that names the call script schema in ``$schema`` (or in the editor's
    ``# yaml-language-server: $schema=`` comment), or that has ``steps`` or ``calls`` with no
    key that is not a call script field (or a misspelling of one, so the typo is reported
    rather than the file skipped). Other YAML (CI configs, docker-compose files) is left
    alone; a file that is not YAML at all is taken when it looks like a script, so its
    error is shown.
    """
    name = file.name.lower()
    if not name.endswith(SUFFIXES):
        return False
    if name.endswith(CALL_SUFFIXES):
        return True
    try:
        if file.stat().st_size > _SNIFF_LIMIT:
            return False
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if _SCHEMA_NAME in text and re.search(r"\$schema\W.*" + re.escape(_SCHEMA_NAME), text):
        return True
    try:
        data = yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return _TEXT_SNIFF.search(text) is not None
    if not isinstance(data, dict) or not ({"steps", "calls"} & data.keys()):
        return False
    keys = [str(k) for k in data]
    return all(k in _TOP_LEVEL or difflib.get_close_matches(k, _TOP_LEVEL, 1) for k in keys)


_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
