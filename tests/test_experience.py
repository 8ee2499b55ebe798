"""Caller-experience checks in `ivr validate`: located warnings, --strict, and the shipped
menu within its own limits (defaults.checks). Times are those `ivr paths` walks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MENU, bilingual_menu, minimal_menu, write_menu

from ivr.authoring.checks import experience, review, speaking_seconds
from ivr.authoring.paths import walk_paths
from ivr.cli import cli
from ivr.errors import MenuError
from ivr.menu import load_menu, parse_menu


def warnings_of(data: dict[str, Any]) -> list[str]:
    return [f"{p.path}: {p.message}" for p in experience(parse_menu(json.dumps(data)))]


def option(key: str, goto: str = "queue") -> dict[str, Any]:
    return {"key": key, "say": f"For this, press {key}.", "goto": goto}


def validate(path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["validate", *args, str(path)])


# -- the shipped menu ----------------------------------------------------------------------------


def test_the_shipped_menu_passes_validate_strict() -> None:
    result = validate(MENU, "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert result.output.startswith(f"{MENU}: OK")


def test_the_shipped_menu_is_within_the_listening_budgets_of_issue_14() -> None:
    menu = load_menu(MENU)
    checks = menu.defaults.checks
    assert set(checks.main) == {"crime_queue", "business_queue", "general_queue"}
    budget = menu.defaults.budget
    assert (budget.main, budget.any) == (30, 45)
    assert all(b.any is not None and b.any <= 45 for b in menu.defaults.budgets.values())
    keyed = [r for r in walk_paths(menu).routes if r.by_keys]
    quickest: dict[tuple[str, str], float] = {}
    for r in keyed:
        where = (r.destination, r.language)
        quickest[where] = min(r.seconds, quickest.get(where, r.seconds))
    # Every destination reached by keys, in every language, by its quickest route of keys.
    assert {language for _, language in quickest} == {"en-GB", "cy-GB"}
    assert ("transfer_report_fraud", "cy-GB") in quickest
    for (destination, language), seconds in quickest.items():
        limit = 30 if destination in checks.main else 45
        assert seconds <= limit, (destination, language, seconds)


# -- each check ----------------------------------------------------------------------------------


def test_seven_options_are_a_located_warning_and_fail_strict(tmp_path: Path) -> None:
    data = minimal_menu()
    data["nodes"]["main"]["options"] = [option(k) for k in "123456"] + [option("7", "message")]
    path = write_menu(tmp_path, data)
    text = path.read_text()
    line = text[: text.index('"options"')].count("\n") + 1
    result = validate(path)
    assert result.exit_code == 0, result.output  # a warning: the menu can be served
    assert (
        f"  warning: nodes.main.options (line {line}, column 18): offers 7 options; callers "
        "keep track of 5 at most (defaults.checks.max_options)"
    ) in result.output
    strict = validate(path, "--strict")
    assert strict.exit_code == 1
    assert f"{path}: 1 warning(s), refused by --strict" in strict.output


def test_more_than_three_menus_deep() -> None:
    data = minimal_menu(
        m2={"kind": "menu", "options": [option("1", "m3")], "fallback": "queue"},
        m3={"kind": "menu", "options": [option("1", "m4")], "fallback": "queue"},
        m4={"kind": "menu", "options": [option("1", "deep")], "fallback": "queue"},
        deep={"kind": "hangup", "say": "Deep."},
    )
    data["nodes"]["main"]["options"].append(option("3", "m2"))
    assert warnings_of(data) == [
        "nodes.deep: callers go through 4 menus to reach it (keys 3 1 1 1), more than 3 "
        "(defaults.checks.max_menus)"
    ]
    data["defaults"]["checks"] = {"max_menus": 4}
    assert warnings_of(data) == []


def test_a_menu_with_no_repeat_key() -> None:
    data = minimal_menu()
    data["defaults"]["repeat_key"] = None
    assert warnings_of(data) == [
        "nodes.main: has no repeat key: a caller who missed an option cannot hear them again "
        "(set repeat_key here or in defaults)"
    ]


def test_an_option_whose_key_is_never_said_is_reachable_by_speech_only() -> None:
    data = minimal_menu()
    data["nodes"]["main"]["options"][1]["say"] = "For a message, just say message."
    assert warnings_of(data) == [
        "nodes.main.options[1].say: callers are never told the key for 'message' (2): "
        "they can reach it by speech only"
    ]


def test_without_speech_an_unsaid_key_reaches_nothing() -> None:
    data = bilingual_menu()
    data["nodes"]["main"]["options"][1]["say"] = {
        "en-GB": "For a message, press 2.",
        "cy-GB": "Am neges, dywedwch neges.",
    }
    assert warnings_of(data) == [
        "nodes.main.options[1].say: cy-GB callers are never told the key for 'message' (2): "
        "with no speech in this language, they cannot reach it at all"
    ]


def test_a_node_that_speaks_too_long() -> None:
    data = minimal_menu()
    data["nodes"]["message"]["say"] = " ".join(["word"] * 60)  # 24 s at 150 words a minute
    assert warnings_of(data) == [
        "nodes.message: speaks for 24s in en-GB, longer than 20s "
        "(defaults.checks.max_prompt_seconds)"
    ]
    data["defaults"]["checks"] = {"max_prompt_seconds": 25}
    assert warnings_of(data) == []


def test_a_menu_is_timed_until_its_last_option_by_the_paths_clock() -> None:
    menu = parse_menu(json.dumps(minimal_menu()))
    # "Welcome." and two options of five words: 11 words at 150 words a minute.
    assert speaking_seconds(menu, "main", "en-GB") == pytest.approx(11 / 2.5)
    routes = walk_paths(menu).routes
    # The same clock as `ivr paths`: the route by option 2 hears exactly the menu first.
    via_2 = next(r for r in routes if r.keys == ("2",))
    message = speaking_seconds(menu, "message", "en-GB") + speaking_seconds(menu, "bye", "en-GB")
    assert via_2.seconds == pytest.approx(speaking_seconds(menu, "main", "en-GB") + message)


def test_languages_that_reach_different_destinations() -> None:
    data = bilingual_menu()
    assert warnings_of(data) == []  # Welsh (9) leads back to main, in Welsh: every destination
    # Now Welsh leads to a Welsh menu without the message.
    data["nodes"]["main"]["options"][2]["goto"] = "cymraeg"
    data["nodes"]["cymraeg"] = copy.deepcopy(data["nodes"]["main"])
    del data["nodes"]["cymraeg"]["options"][1:]
    assert warnings_of(data) == [
        "nodes.bye: en-GB callers reach it by keys, cy-GB callers cannot",
    ]


def test_a_destination_over_the_listening_budget() -> None:
    data = minimal_menu()
    data["defaults"]["checks"] = {"main": ["queue"]}
    data["defaults"]["budget"] = {"main": 2, "any": 60}
    menu = parse_menu(json.dumps(data))
    seconds = next(r.seconds for r in walk_paths(menu).fastest if r.destination == "queue")
    assert seconds == pytest.approx(2.4)  # "Welcome." + option 1, at 150 words a minute
    assert warnings_of(data) == [
        "nodes.queue: callers listen 2.4s before reaching it (keys 1), over the main budget "
        "of 2s (defaults.budget.main)"
    ]
    data["defaults"]["budget"] = {"main": 60, "any": 3}
    assert warnings_of(data) == [
        "nodes.bye: callers listen 5s before reaching it (keys 2), over the any budget of 3s "
        "(defaults.budget.any)"
    ]


def test_a_language_can_have_budgets_of_its_own() -> None:
    data = bilingual_menu()
    data["defaults"]["checks"] = {"main": ["queue"]}
    data["defaults"]["budget"] = {"main": 5}
    found = warnings_of(data)
    assert found == [
        "nodes.queue: cy-GB callers listen 9s before reaching it (keys 9 1), over the main "
        "budget of 5s (defaults.budget.main)"
    ]
    data["defaults"]["budgets"] = {"cy-GB": {"main": 12}}
    assert warnings_of(data) == []
    data["defaults"]["budgets"] = {"cy-GB": {"main": 6}}
    assert warnings_of(data) == [
        "nodes.queue: cy-GB callers listen 9s before reaching it (keys 9 1), over the main "
        "budget of 6s (defaults.budgets.cy-GB.main)"
    ]
    data["defaults"]["budgets"] = {"cy-GB": {"main": 12}}
    assert warnings_of(data) == []


def test_the_budget_is_written_as_issue_14_writes_it(tmp_path: Path) -> None:
    """``"defaults": {"budget": {"main": 30, "any": 60}}``, literally."""
    data = minimal_menu()
    data["defaults"]["budget"] = {"main": 30, "any": 60}
    data["defaults"]["checks"] = {"main": ["queue"]}
    menu = parse_menu(json.dumps(data))
    assert (menu.defaults.budget.main, menu.defaults.budget.any) == (30, 60)
    result = validate(write_menu(tmp_path, data), "--strict")
    assert result.exit_code == 0, result.output
    data["defaults"]["budget"] = {"main": 1, "any": 60}
    result = validate(write_menu(tmp_path, data), "--strict")
    assert result.exit_code == 1 and "over the main budget of 1s" in result.output


def test_the_budget_is_not_a_check_setting_and_the_error_says_where_it_went() -> None:
    data = minimal_menu()
    data["defaults"]["checks"] = {"budget": {"main": 30, "any": 60}}
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    [problem] = info.value.problems
    assert problem.path == "defaults.checks.budget"
    assert "defaults.budget" in problem.message and problem.line is not None


def test_main_destinations_must_exist_and_be_reached_by_keys() -> None:
    data = minimal_menu()
    data["defaults"]["checks"] = {"main": ["nowhere"]}
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    [problem] = info.value.problems
    assert problem.path == "defaults.checks.main[0]"
    assert "refers to node 'nowhere', which does not exist" in problem.message
    data["defaults"]["checks"] = {"main": ["bye"]}
    data["defaults"]["budgets"] = {"fr-FR": {"main": 10}}
    data["nodes"]["message"]["next"] = None
    data["nodes"]["main"]["fallback"] = "bye"
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    assert [p.path for p in info.value.problems] == ["defaults.budgets.fr-FR"]
    del data["defaults"]["budgets"]
    assert warnings_of(data) == [
        "defaults.checks.main[0]: 'bye' is a main destination, but no caller reaches it by keys"
    ]


def test_review_locates_every_warning(tmp_path: Path) -> None:
    data = minimal_menu(orphan={"kind": "hangup"})
    data["defaults"]["repeat_key"] = None
    path = write_menu(tmp_path, data)
    found = review(path).warnings
    assert [(p.path, p.line is not None) for p in found] == [
        ("nodes.main", True),
        ("nodes.orphan", True),
    ]
    assert found[0].line < found[1].line  # in the order of the file
