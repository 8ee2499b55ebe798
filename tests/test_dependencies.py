"""No private or deprecated internals of any dependency in ``ivr/``, and the pins say so.

A private name (a leading underscore) or a deprecated attribute of Werkzeug, Flask, twilio,
SQLAlchemy and the rest can change in any release: Werkzeug's main branch set
``Request.parameter_storage_class`` to None, and every signed webhook then answered 500.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import Twilio
from flask import Request
from packaging.requirements import Requirement

from ivr import create_app

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ivr"
DEPENDENCIES = (
    "werkzeug",
    "flask",
    "twilio",
    "sqlalchemy",
    "pydantic",
    "gunicorn",
    "gevent",
    "psycopg",
    "click",
    "jinja2",
    "phonenumbers",
    "dotenv",
)
# Underscore names that their library documents as public API (named so to stay clear of
# user-chosen names): SQLAlchemy's Row._asdict/_mapping/_fields, Werkzeug's
# LocalProxy._get_current_object, and namedtuple's own methods.
DOCUMENTED = {"_asdict", "_mapping", "_fields", "_replace", "_make", "_get_current_object"}
# Public but deprecated (Werkzeug 3.2 deprecates the storage class attributes).
DEPRECATED = {"parameter_storage_class", "dict_storage_class", "list_storage_class"}


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _ours(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """Every underscore name ``ivr`` defines itself: functions, classes, attributes, slots."""
    names: set[str] = set()
    for _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)  # __slots__ entries, getattr names
    return {n for n in names if n.startswith("_")}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses() -> list[str]:
    """Every use in ``ivr/`` of a name that is private to a dependency, as ``file:line: what``."""
    trees = _modules()
    ours = _ours(trees)
    found = []
    for path, tree in trees:
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                if top in DEPENDENCIES:
                    if any(_private(part) for part in node.module.split(".")):
                        found.append(f"{where}:{node.lineno}: from {node.module} import")
                    for alias in node.names:
                        if _private(alias.name):
                            found.append(f"{where}:{node.lineno}: {node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] in DEPENDENCIES and any(_private(p) for p in parts):
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.Attribute):
                if node.attr in DEPRECATED:
                    found.append(f"{where}:{node.lineno}: .{node.attr} (deprecated)")
                elif (
                    _private(node.attr)
                    and node.attr not in ours
                    and node.attr not in DOCUMENTED
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                ):
                    found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # A dependency's registered internals named by string ("werkzeug.url_quote").
                # ("sqlalchemy.url" is Alembic's documented option for the database URL.)
                if (
                    re.fullmatch(r"(werkzeug|flask|twilio|sqlalchemy)\.[a-z_]+", node.value)
                    and node.value != "sqlalchemy.url"
                ):
                    found.append(f"{where}:{node.lineno}: {node.value!r}")
    return found


def test_ivr_uses_no_private_or_deprecated_names_of_its_dependencies():
    assert private_uses() == []


def test_the_check_finds_what_it_looks_for(tmp_path, monkeypatch):
    """The scan itself: each kind of private use in a module is reported."""
    probe = PACKAGE / "_probe_private_uses.py"
    probe.write_text(
        "from werkzeug.urls import _unquote\n"
        "import werkzeug._internal\n"
        "from twilio.request_validator import compare\n"
        "x = request._load_form_data()\n"
        "y = request.parameter_storage_class\n"
        "z = 'werkzeug.url_quote'\n"
        "ok = row._asdict()\n",
        encoding="utf-8",
    )
    try:
        found = [line.split(": ", 1)[1] for line in private_uses() if "_probe_" in line]
    finally:
        probe.unlink()
    assert sorted(found) == [
        "'werkzeug.url_quote'",
        "._load_form_data",
        ".parameter_storage_class (deprecated)",
        "import werkzeug._internal",
        "werkzeug.urls._unquote",
    ]


def test_signed_webhooks_do_not_need_parameter_storage_class(config, monkeypatch):
    """Werkzeug's main branch sets it to None (and will remove it): the app must not care."""
    monkeypatch.setattr(Request, "parameter_storage_class", None)
    client = create_app(config).test_client()
    twilio = Twilio(client)
    assert twilio.post("/voice").status_code == 200
    assert twilio.post("/menu/main?attempt=1&x=caf%C3%A9", Digits="1").status_code == 200
    assert twilio.post("/queue/crime_queue/wait?cycle=1", QueuePosition="2").status_code == 200
    assert client.post("/voice", data={"CallSid": "CA1"}).status_code == 403


def _pins() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in data["project"]["dependencies"]]
    return {r.name.lower(): r for r in requirements}


@pytest.mark.parametrize(
    "name", ["werkzeug", "flask", "twilio", "sqlalchemy", "pydantic", "gunicorn", "gevent"]
)
def test_pins_are_a_known_good_range_holding_what_is_installed(name):
    pin = _pins()[name]
    installed = version(name)
    assert pin.specifier.contains(installed), f"{name} {installed} is outside {pin.specifier}"
    bounds = {s.operator: s.version for s in pin.specifier}
    assert set(bounds) == {">=", "<"}, f"{name}: a lower (tested) and an upper bound"
    # The upper bound is the next major version after the tested one.
    assert int(bounds["<"].split(".")[0]) == int(bounds[">="].split(".")[0]) + 1
