"""`ivr validate` reports every problem of a file in one run, each at its line and column:
what the model refuses does not hide the reference, key and translation checks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import bilingual_menu, minimal_menu, write_menu

from ivr.cli import cli
from ivr.errors import MenuError
from ivr.menu import parse_menu


def problems(data: dict | str) -> list[str]:
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    with pytest.raises(MenuError) as info:
        parse_menu(text)
    return [str(p) for p in info.value.problems]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_bad_phone_number_does_not_hide_an_unknown_goto_elsewhere() -> None:
    data = minimal_menu(transfer={"kind": "transfer", "number": "0300 123", "on_fail": "bye"})
    data["nodes"]["main"]["options"][1]["goto"] = "mesage"
    data["nodes"]["message"]["next"] = "transfer"
    text = json.dumps(data, indent=2)
    goto, number = line_of(text, '"mesage"'), line_of(text, '"0300 123"')
    assert problems(text) == [
        f"nodes.main.options[1].goto (line {goto}, column 19): refers to "
        "node 'mesage', which does not exist (did you mean 'message'?)",
        f"nodes.transfer.number (line {number}, column 17): '0300 123' is not a valid phone number",
    ]


def test_a_node_with_a_bad_value_still_has_its_references_checked() -> None:
    # Both problems in the one node: the number the model refuses, the branch to nowhere.
    data = minimal_menu(transfer={"kind": "transfer", "number": "12345", "on_fail": "byee"})
    data["nodes"]["message"]["next"] = "transfer"
    found = problems(data)
    assert len(found) == 2, found
    assert found[0].startswith("nodes.transfer.number (line ")
    assert found[1].startswith("nodes.transfer.on_fail (line ")
    assert found[1].endswith("refers to node 'byee', which does not exist (did you mean 'bye'?)")


def test_an_unknown_field_does_not_hide_references_keys_or_translations() -> None:
    data = bilingual_menu()
    data["nodes"]["bye"]["sya"] = "typo"  # the model refuses the whole file for this
    data["nodes"]["main"]["fallback"] = "queu"  # a reference to nowhere
    data["nodes"]["main"]["options"][1]["key"] = "1"  # a key used twice
    data["nodes"]["message"]["say"] = {"en-GB": "Hello."}  # no Welsh
    found = [p.split(" (line ", 1)[0] + ": " + p.split("): ", 1)[1] for p in problems(data)]
    assert found == [
        "nodes.main.options[1].key: key '1' is already used by options[0]",
        "nodes.main.fallback: refers to node 'queu', which does not exist (did you mean 'queue'?)",
        "nodes.message.say: has no cy-GB translation",
        "nodes.bye.sya: is not a known field (check the spelling)",
    ]


def test_a_broken_option_keeps_the_paths_of_the_options_after_it() -> None:
    data = minimal_menu()
    options = data["nodes"]["main"]["options"]
    options[0]["key"] = "55"
    options.append({"key": "3", "say": "For nowhere, press 3.", "goto": "nowhere"})
    found = problems(data)
    assert [p.split(" (line")[0] for p in found] == [
        "nodes.main.options[0].key",
        "nodes.main.options[2].goto",
    ]


def test_a_node_of_no_known_kind_still_counts_as_a_node() -> None:
    data = minimal_menu()
    data["nodes"]["message"]["kind"] = "announcement"
    data["nodes"]["queue"]["on_full"] = "byebye"
    # main's option 2 leads to the node of no known kind: that is not "does not exist".
    found = problems(data)
    assert [p.split(" (line")[0] for p in found] == ["nodes.queue.on_full", "nodes.message"]
    assert "unknown node kind" in found[1]


def test_duplicate_keys_are_reported_with_every_other_problem() -> None:
    data = minimal_menu()
    data["nodes"]["main"]["fallback"] = "nowhere"
    text = json.dumps(data, indent=2).replace(
        '"kind": "hangup",', '"kind": "hangup",\n      "kind": "hangup",'
    )
    found = problems(text)
    assert len(found) == 2, found
    assert found[0].startswith("nodes.main.fallback (line ")
    line = text.index('"kind": "hangup",\n      "kind"') + len('"kind": "hangup",\n      ')
    assert found[1] == (
        f"nodes.bye.kind (line {text[:line].count(chr(10)) + 1}, column 7): "
        "duplicate key 'kind' in one object"
    )


def test_announcements_and_defaults_are_checked_with_the_rest() -> None:
    data = minimal_menu()
    data["defaults"]["timeout"] = 0
    data["defaults"]["checks"] = {"main": ["nowhere"]}
    data["announcements"] = [{"say": "x", "key": "5"}, {"say": "y", "key": "6", "goto": "nope"}]
    found = [p.split(" (line")[0] for p in problems(data)]
    assert found == [
        "defaults.timeout",
        "defaults.checks.main[0]",
        "announcements[0]",
        "announcements[1].goto",
    ]


def test_validate_prints_every_error_at_once(tmp_path) -> None:
    data = minimal_menu(transfer={"kind": "transfer", "number": "0300 123", "on_fail": "bye"})
    data["nodes"]["main"]["options"][1]["goto"] = "mesage"
    data["nodes"]["message"]["next"] = "transfer"
    data["nodes"]["bye"]["sya"] = "typo"
    path = write_menu(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{path}: 3 error(s)"
    assert [line.split(" (line")[0] for line in lines[1:]] == [
        "  error: nodes.main.options[1].goto",
        "  error: nodes.bye.sya",  # top to bottom of the file
        "  error: nodes.transfer.number",
    ]


def test_parts_of_any_shape_are_read_without_a_crash() -> None:
    # Found by the hardening fuzzer: a kind that is a list, a menu with no options at all.
    data = minimal_menu(odd={"kind": []}, empty={"kind": "menu", "fallback": "queue"})
    data["nodes"]["queue"]["on_error"] = "nowhere"
    found = [p.split(" (line")[0] for p in problems(data)]
    assert found == ["nodes.queue.on_error", "nodes.odd", "nodes.empty.options"]
