"""The editor schema: JSON Schema for ``menus.json``, generated from the menu model.

Editors (VS Code, JetBrains, vim with a language server) read the file named in the menu's
``"$schema"`` and then complete field names and flag mistakes as the author types.
"""

from __future__ import annotations

import json
from typing import Any

from ..menu import MenuFile

SCHEMA_FILE = "menus.schema.json"
SCHEMA_ID = "https://ivr101.example/menus.schema.json"


def menu_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a menu file."""
    schema = MenuFile.model_json_schema(by_alias=True)
    # pydantic lists node ids as patternProperties, which lets any other name through; an
    # editor should flag "main menu" (a space) as it is typed, as `ivr validate` does.
    schema["properties"]["nodes"]["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def schema_text() -> str:
    """The schema as the committed file holds it: sorted keys' order kept, 2-space indent."""
    return json.dumps(menu_schema(), indent=2, ensure_ascii=False) + "\n"


def undescribed(schema: dict[str, Any]) -> list[str]:
    """Paths of properties in ``schema`` that have no description (for the tests)."""
    missing: list[str] = []
    for def_name, definition in {"(root)": schema, **schema.get("$defs", {})}.items():
        for prop, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{def_name}.{prop}")
    return missing
