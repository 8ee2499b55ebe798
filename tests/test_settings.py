"""Settings (ivr.settings): read in one place, documented once, parsed with located errors."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr import settings
from ivr.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_documents_every_setting_exactly_once() -> None:
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    assert sorted(names) == sorted(set(names)), "a setting is listed twice"
    assert set(names) == settings.NAMES


def test_readme_configuration_table_lists_every_setting_exactly_once() -> None:
    """The README's "Configuration" table names each setting once, and nothing else."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table = re.search(r"^\| setting \| default \| meaning \|\n(?:\|.*\n)+", section, re.M)
    assert table, "the Configuration table was not found"
    names = []
    for row in table.group().splitlines()[2:]:
        first = row.split("|")[1]
        names += re.findall(r"`([A-Z][A-Z0-9_]*)`", first)
    assert sorted(names) == sorted(set(names)), "a setting is listed twice"
    assert set(names) == settings.NAMES
    assert names == [s.name for s in settings.SETTINGS], "not in the order settings.py declares"


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in (ROOT / "ivr").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                if isinstance(node.value, ast.Name) and node.value.id == "os":
                    readers.append(path.relative_to(ROOT).as_posix())
            if isinstance(node, ast.ImportFrom) and node.module == "dotenv":
                readers.append(path.relative_to(ROOT).as_posix())
    assert set(readers) == {"ivr/settings.py"}


def test_values_are_parsed_and_overrides_win() -> None:
    env = {
        "PORT": "8000",
        "IVR_ALLOW_UNSIGNED": "yes",
        "IVR_JOURNEY_LOG": "off",
        "IVR_HANDLER_NUMBERS": "+447700900001, 07700 900002",
        "IVR_NOW": "2026-07-01T09:00",
        "IVR_MAX_BODY_BYTES": "1024",
    }
    loaded = settings.load({"PORT": 9000}, environ=env)
    assert loaded["PORT"] == 9000
    assert loaded["IVR_ALLOW_UNSIGNED"] is True
    assert loaded["IVR_JOURNEY_LOG"] is False
    assert loaded["IVR_HANDLER_NUMBERS"] == {"+447700900001", "+447700900002"}  # E.164
    assert loaded["IVR_NOW"] == datetime(2026, 7, 1, 8, tzinfo=UTC)  # BST
    assert loaded["MAX_CONTENT_LENGTH"] == 1024
    assert loaded["IVR_WORKERS"] is None


def test_overrides_given_as_text_are_parsed_as_the_environment_is() -> None:
    """create_app's config may carry text; it is read by the same parsers, once, here."""
    text = {
        "IVR_HANDLER_NUMBERS": "+447700900001, 07700 900002",
        "IVR_HANDLER_PIN": " 246813 ",
        "IVR_HANDLER_REQUIRE_ATTESTATION": "b",
        "IVR_TRUSTED_PROXIES": "2",
        "TESTING": "yes",
    }
    loaded = settings.load(text, environ={})
    assert loaded["IVR_HANDLER_NUMBERS"] == {"+447700900001", "+447700900002"}
    assert loaded["IVR_HANDLER_PIN"] == "246813"
    assert loaded["IVR_HANDLER_REQUIRE_ATTESTATION"] == ("A", "B")
    assert loaded["IVR_TRUSTED_PROXIES"] == 2
    assert loaded["TESTING"] == "yes"  # not a setting: Flask's, as given
    assert settings.load({"MAX_CONTENT_LENGTH": "10"}, environ={})["MAX_CONTENT_LENGTH"] == 10
    with pytest.raises(ConfigError, match="IVR_HANDLER_NUMBERS: 'nine' is not a phone number"):
        settings.load({"IVR_HANDLER_NUMBERS": "nine"}, environ={})


def test_overrides_given_as_lists_or_numbers_get_the_same_checks() -> None:
    """create_app's config in Python's own types: a list of numbers comes out in E.164, a PIN
    given as a number is checked as its digits (and a short one refused)."""
    loaded = settings.load(
        {
            "IVR_HANDLER_NUMBERS": ["07700 900001", "+447700900002"],
            "IVR_TEST_CALLERS": ("07700 900003",),
            "IVR_HANDLER_PIN": 24681357,
            "IVR_HANDLER_REQUIRE_ATTESTATION": ["b"],
            "IVR_WORKERS": 3,
        },
        environ={},
    )
    assert loaded["IVR_HANDLER_NUMBERS"] == {"+447700900001", "+447700900002"}
    assert set(loaded["IVR_TEST_CALLERS"]) == {"+447700900003"}
    assert loaded["IVR_HANDLER_PIN"] == "24681357"
    assert loaded["IVR_HANDLER_REQUIRE_ATTESTATION"] == ("A", "B")
    assert loaded["IVR_WORKERS"] == 3
    with pytest.raises(ConfigError, match="IVR_HANDLER_PIN: must be 6 or more digits"):
        settings.load({"IVR_HANDLER_PIN": 12}, environ={})


def test_settings_are_parsed_only_in_settings() -> None:
    """The webhooks read parsed values from ``app.config``; none parses a setting again."""
    again = []
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        if path.name == "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "parse"
                and isinstance(node.value, ast.Name)
                and node.value.id in ("settings", "settings_")
            ):
                again.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert again == []


def test_an_unreadable_value_names_its_setting() -> None:
    with pytest.raises(ConfigError, match="IVR_WORKERS: must be at least 1, not 0"):
        settings.load(environ={"IVR_WORKERS": "0"})
    with pytest.raises(ConfigError, match="PORT: must be a whole number"):
        settings.load(environ={"PORT": "eighty"})
