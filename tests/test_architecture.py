"""The shape of the house, measured from the source: layers, cycles, sizes, one error tree,
one event vocabulary. A change that breaks one of these is a design change: discuss it."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

import ivr
from ivr.caller.trace import CallEventKind
from ivr.errors import IVRError
from ivr.events import ARRIVALS, Kind

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ivr"
FLASK_FREE = ("menu", "twiml", "journey", "caller", "authoring", "account", "cli", "scripts")
"""Packages of the domain: the CLI, the simulator and benchmarks reuse them without Flask."""


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _defined_in(package: str, name: str) -> str | None:
    """The module that defines ``name`` as ``package`` surfaces it (``from ..menu import
    Menu`` depends on ``ivr.menu.menu``; ``from .. import create_app`` on the app factory's
    module, which ``ivr`` imports on first use)."""
    value = getattr(importlib.import_module(package), name, None)
    return getattr(value, "__module__", None)


def top_level_imports(name: str, path: Path) -> set[str]:
    """The ivr modules ``name`` imports when it is imported (not inside functions): those it
    names, those that define what it takes from a package, and the packages that hold them
    (Python runs ``ivr/menu/__init__.py`` before ``ivr/menu/model.py``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else []:
            if isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names if a.name.startswith("ivr"))
            elif isinstance(sub, ast.ImportFrom):
                if sub.level:
                    base = package.split(".")
                    base = base[: len(base) - sub.level + 1]
                    target = ".".join(base + ([sub.module] if sub.module else []))
                else:
                    target = sub.module or ""
                if target.startswith("ivr"):
                    found.add(target)
                    for a in sub.names:
                        submodule = f"{target}.{a.name}"
                        found.add(
                            submodule
                            if submodule in known
                            else _defined_in(target, a.name) or target
                        )
    # Importing ivr.a.b first imports the package ivr.a, unless ``name`` is already inside it.
    for dep in list(found):
        parts = dep.split(".")
        for i in range(2, len(parts)):
            found.add(".".join(parts[:i]))
    inside = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {m for m in found if m in known and m != name and m not in inside}


def test_no_import_cycles() -> None:
    graph = {name: top_level_imports(name, path) for name, path in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep) :] + [dep] if dep in trail else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_at_most_twelve_modules_directly_in_ivr() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= 12


@pytest.mark.parametrize("name,path", sorted(modules().items()))
def test_every_module_is_small_and_says_its_job(name: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 600, f"{name} is over 600 lines: split it by concept"
    doc = ast.get_docstring(ast.parse(text))
    assert doc and doc.strip(), f"{name} has no docstring saying its one job"
    lines = doc.strip().splitlines()
    # Its one job in one line (PEP 257's summary line): a sentence, then a blank line.
    assert lines[0].rstrip().endswith("."), f"{name}: the docstring's first line is not a sentence"
    assert len(lines) == 1 or not lines[1].strip(), f"{name}: its job takes more than one line"


FLASK_SIDE = ("ivr.webhooks", "ivr.softphone")
"""The packages that are Flask blueprints and their app (Werkzeug alone is no web app: the
simulator calls an app in-process with its WSGI test client, as Twilio would over HTTP)."""


@pytest.mark.parametrize(
    "module", [f"ivr.{p}" for p in FLASK_FREE] + [f"ivr.{p.stem}" for p in PACKAGE.glob("*.py")]
)
def test_the_domain_never_imports_flask(module: str) -> None:
    """Importing a domain package (or a top-level module) loads neither Flask nor the Flask
    side of the house, directly or through anything it imports."""
    if module == "ivr.__main__":
        pytest.skip("runs the command")
    code = (
        f"import sys, {module}\n"
        "print(' '.join(m for m in sys.modules if m == 'flask' or m.startswith("
        f"('flask.', *{FLASK_SIDE!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [], f"importing {module} loads {done.stdout.split()}"


SIGNALS = "ivr.caller.control"
"""The simulator's control flow (the call is over, the caller leaves a queue, a loop that never
ends): raised and caught inside its interpreter, never out of ``ivr.caller``; not errors."""


def entry_point_modules() -> list[str]:
    """Modules other programs load by name (pyproject's scripts and entry points, such as
    the pytest plugin): their exceptions reach users as much as a package's surface does."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    targets = list(project.get("scripts", {}).values())
    for group in project.get("entry-points", {}).values():
        targets += group.values()
    return sorted({t.partition(":")[0] for t in targets})


def test_every_public_exception_is_under_one_base() -> None:
    """Every exception any module of ``ivr`` defines without a leading underscore is an
    IVRError, whether a package surfaces it or not; only the simulator's signals are not."""
    outside = set()
    for info in pkgutil.walk_packages(ivr.__path__, "ivr."):
        if info.name in ("ivr.__main__", SIGNALS) or ".migrations" in info.name:
            continue  # runs the command; signals; Alembic's scripts run inside Alembic
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not attr.startswith("_")
                and not issubclass(value, IVRError)
                # How the command line shows an IVRError (click's exception), not an error.
                and not issubclass(value, click.ClickException)
            ):
                outside.add(f"{value.__module__}.{value.__qualname__}")
    assert outside == set()
    # Entry points (the CLI, the pytest plugin) are modules of ivr, so the walk above saw them.
    assert all(m == "ivr" or m.startswith("ivr.") for m in entry_point_modules())


def test_the_error_tree_is_drawn_whole() -> None:
    """errors.py's docstring draws every IVRError subclass the package defines, and no
    other name: the drawing is where a reader learns what can go wrong."""
    import ivr.errors

    for info in pkgutil.walk_packages(ivr.__path__, "ivr."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    defined: set[str] = {"IVRError"}
    pending = [IVRError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith("ivr.") and not sub.__name__.startswith("_"):
                defined.add(sub.__name__)
            pending.append(sub)
    doc = ivr.errors.__doc__ or ""
    drawing = doc[doc.index("IVRError\n") :]
    drawn = set(
        re.findall(
            r"\b([A-Z][A-Za-z]+(?:Error|Failed|Failure|Missing|Credentials|"
            r"NotFound|Unreachable))\b",
            drawing,
        )
    )
    assert defined - drawn == set(), "not drawn in ivr/errors.py"
    assert drawn - defined == set(), "drawn, but no such error"


# -- one event vocabulary ------------------------------------------------------------------


VOCABULARIES = {"Kind": Kind, "CallEventKind": CallEventKind}
"""The app's events (``ivr/events.py``) and the simulator's (``ivr/caller/trace.py``)."""
VALUES = {k.value for vocabulary in VOCABULARIES.values() for k in vocabulary}
EVENTS = ("e", "event", "ev", "x", "first", "last")
"""Names the code gives an event; ``<name>.kind`` is an event's kind (other things have kinds
too - an Input, a dial target, an Outcome - with words of their own)."""
MAKERS = ("Event", "CallEvent", "_emit", "record", "annotate")
"""Calls whose first argument is an event's kind."""


def _kind_names(tree: ast.AST) -> set[str]:
    """Names a module binds to an event's kind (``kind = event.kind``, ``kind, node =
    e["kind"], e["node"]``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (
                    zip(target.elts, node.value.elts, strict=False)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                    else [(target, node.value)]
                )
                for name, value in pairs:
                    if isinstance(name, ast.Name) and _event_kind(value):
                        names.add(name.id)
    return names


def _event_kind(side: ast.AST, names: frozenset[str] | set[str] = frozenset()) -> bool:
    """``event.kind`` (for an event's name), ``row["kind"]``, or a name bound to one of them."""
    if isinstance(side, ast.Name):
        return side.id in names
    if isinstance(side, ast.Attribute) and side.attr == "kind":
        return isinstance(side.value, ast.Name) and side.value.id in EVENTS
    return (
        isinstance(side, ast.Subscript)
        and isinstance(side.slice, ast.Constant)
        and side.slice.value == "kind"
    )


def _kind_uses() -> tuple[dict[str, set[str]], list[str]]:
    """Members each vocabulary's code names, and event kinds written as bare strings: compared
    with an event's kind, asked of ``of_kind``, or given to whatever makes an event."""
    named: dict[str, set[str]] = {name: set() for name in VOCABULARIES}
    literals: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        names = _kind_names(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in VOCABULARIES
            ):
                named[node.value.id].add(node.attr)
            suspects: list[ast.AST] = []
            if isinstance(node, ast.Compare) and any(
                _event_kind(side, names) for side in [node.left, *node.comparators]
            ):
                suspects = [node]
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "of_kind":
                    suspects = list(node.args)
                elif name in MAKERS and node.args and isinstance(node.args[0], ast.Constant):
                    suspects = [node.args[0]]
            for suspect in suspects:
                for side in ast.walk(suspect):
                    if isinstance(side, ast.Constant) and side.value in VALUES:
                        literals.append(f"{where}:{node.lineno} {side.value!r}")
    return named, literals


def test_event_kinds_are_never_matched_as_bare_strings() -> None:
    _, literals = _kind_uses()
    assert literals == []


def test_every_kind_is_emitted_and_every_named_kind_exists() -> None:
    named, _ = _kind_uses()
    assert named["Kind"] - {"arrival"} <= set(Kind.__members__)
    assert named["CallEventKind"] <= set(CallEventKind.__members__)
    # Arrivals are emitted through Kind.arrival(node kind); every other kind by name.
    unused = {k.name for k in Kind if k not in ARRIVALS} - named["Kind"]
    assert unused == set()
    # A <Say>, <Play> or <Pause> in a hold document is emitted by its verb's name.
    assert {k.name for k in CallEventKind} - named["CallEventKind"] == set()


def test_each_vocabulary_module_has_a_name_of_its_own() -> None:
    """One ``events.py``: a module deeper in the tree never takes a top-level module's name."""
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    clashes = [
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.parent != PACKAGE and p.stem in top
    ]
    assert clashes == []


# -- one owner per rule -----------------------------------------------------------------------


def importers(library: str) -> set[str]:
    """The modules of ``ivr/`` that import ``library`` (anywhere in them)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == library or n.startswith(library + ".") for n in names):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_phone_numbers_are_read_in_one_place() -> None:
    """Parsing, comparing and placing numbers (the simulator's FromCountry too) is
    ``ivr/numbers.py``'s: nobody else reads numbers with libphonenumber."""
    assert importers("phonenumbers") == {"ivr/numbers.py"}


def _displays(tree: ast.AST) -> list[ast.AST]:
    """Every literal collection in ``tree``: set, tuple, list and dict displays."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Set | ast.Tuple | ast.List | ast.Dict)]


def test_arrivals_are_listed_once() -> None:
    """ "The caller arrived at a node" is :data:`ivr.events.ARRIVALS`; readers use it."""
    members = {k.name for k in ARRIVALS}
    copies = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "events.py":
            continue
        for display in _displays(ast.parse(path.read_text(encoding="utf-8"))):
            named = {
                n.attr
                for n in ast.walk(display)
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                if n.value.id == "Kind"
            }
            if len(named & members) >= 3:
                copies.append(f"{path.relative_to(ROOT)}:{display.lineno}")
    assert copies == []


APP_SIDE = ("menu", "twiml", "webhooks", "journey", "authoring", "softphone")
"""Packages that read Twilio's results through the router (the simulator plays Twilio)."""


def test_twilio_results_are_classified_by_the_router_only() -> None:
    """Which QueueResult ends a call or means it was answered, which DialCallStatus means put
    through: ``ivr/menu/routing.py`` says (QUEUE_ENDED, QUEUE_ANSWERED, DIAL_CONNECTED)."""
    from ivr.menu.routing import DIAL_CONNECTED, QUEUE_ENDED

    words = QUEUE_ENDED | DIAL_CONNECTED
    copies = []
    for package in APP_SIDE:
        for path in (PACKAGE / package).rglob("*.py"):
            if path == PACKAGE / "menu" / "routing.py":
                continue
            for display in _displays(ast.parse(path.read_text(encoding="utf-8"))):
                found = {
                    n.value
                    for n in ast.walk(display)
                    if isinstance(n, ast.Constant) and n.value in words
                }
                if len(found) >= 2:
                    copies.append(f"{path.relative_to(ROOT)}:{display.lineno} {sorted(found)}")
    assert copies == []


WEBHOOK_PATHS = ("/handler/", "/node/", "/menu/", "/queue/", "/transfer/", "/announcement")


def test_webhook_urls_are_built_by_the_routes_only() -> None:
    """The URLs that carry a call's state are ``ivr/twiml/routes.py``'s; nobody formats one
    (the number's entry points, /voice and /handler, are set on Twilio by ivr.account)."""
    built = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "twiml" / "routes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
                if any(p in text for p in WEBHOOK_PATHS):
                    built.append(f"{path.relative_to(ROOT)}:{node.lineno} {text!r}")
    assert built == []
