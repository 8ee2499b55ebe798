"""The editor schema: generated from the model, committed, and true of menus.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from ivr.authoring.schema import SCHEMA_FILE, menu_schema, schema_text, undescribed
from ivr.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (ROOT / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "menus.schema.json is stale: run `ivr schema`"


def test_menus_json_names_the_schema() -> None:
    data = json.loads((ROOT / "menus.json").read_text(encoding="utf-8"))
    assert data["$schema"] == f"./{SCHEMA_FILE}"


def test_the_schema_is_valid_and_validates_menus_json() -> None:
    schema = json.loads((ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = json.loads((ROOT / "menus.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


def test_every_field_has_a_description() -> None:
    assert undescribed(menu_schema()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["nodes"]["main"].update(kind="menuu"), "is not valid"),
        (lambda d: d["nodes"]["main"].update(timeout=5, tiemout=5), "tiemout"),
        (lambda d: d.update(announcements=[{"say": "x", "key": "55"}]), "'55'"),
        (lambda d: d.update(announcements=[{"say": "x", "starts": "tomorrow"}]), "tomorrow"),
        (lambda d: d["nodes"].update({"main menu": {"kind": "hangup"}}), "main menu"),
    ],
)
def test_the_schema_catches_what_an_editor_should(change, message: str) -> None:
    data = json.loads((ROOT / "menus.json").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.Draft202012Validator(menu_schema()).validate(data)


def test_cli_schema_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == schema_text()
    result = CliRunner().invoke(cli, ["schema", "-o", "-"])
    assert json.loads(result.output)["$id"].endswith(SCHEMA_FILE)
