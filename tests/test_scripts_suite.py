"""Menu coverage: the model's edges, the app's events mapped to them, and the shipped suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.menu import load_menu
from ivr.scripts import Target, discover, load_file, run_all
from ivr.scripts.coverage import edges_taken, final_node, measure, model_edges
from ivr.scripts.results import Result

ROOT = Path(__file__).resolve().parent.parent
MENU = str(ROOT / "menus.json")
CALLS = ROOT / "tests" / "calls"
FIXTURE = CALLS / "menus" / "announcement-on.json"


@pytest.fixture(scope="module")
def suite() -> list[Result]:
    scripts = [s for f in discover([CALLS]) for s in load_file(f)]
    results = run_all(scripts, Target(menu=MENU), jobs=1)
    assert all(r.passed for r in results), [r.message() for r in results if not r.passed]
    return results


def test_the_announcement_fixture_is_menus_json_with_the_announcement_on() -> None:
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    menu = json.loads(Path(MENU).read_text(encoding="utf-8"))
    menu["$schema"] = "../../../menus.schema.json"
    menu["announcements"][0]["enabled"] = True
    assert fixture == menu, (
        f"{FIXTURE.relative_to(ROOT)} must be menus.json with announcements[0].enabled true: "
        "copy menus.json over it and switch the announcement on"
    )


def test_model_edges_are_per_language_where_a_caller_can_take_them(tmp_path: Path) -> None:
    edges = model_edges(load_menu(MENU))
    keys = {e.key for e in edges}
    # The call starts in English at the main menu; Welsh (9) leads to the same menu in Welsh,
    # where 9 is offered again: an edge of its own, back to where the caller is.
    assert ("main", "key 9", "en-GB") in keys and ("main", "key 9", "cy-GB") in keys
    # So everything is in both.
    for language in ("en-GB", "cy-GB"):
        assert ("main", "key 1", language) in keys
        assert ("main", "fallback", language) in keys
        assert ("cyber", "back", language) in keys
        assert ("business_hours", "closed", language) in keys
        assert ("crime_queue", "leave", language) in keys
        assert ("transfer_report_fraud", "failed", language) in keys
    target = {e.key: e.target for e in edges}
    assert target[("main", "key 9", "en-GB")] == target[("main", "key 9", "cy-GB")] == "main"
    assert target[("cyber", "back", "cy-GB")] == "main"
    assert target[("business_queue", "full", "en-GB")] == "crime_queue"
    # Without the Welsh option no caller takes any edge in Welsh.
    data = json.loads(Path(MENU).read_text(encoding="utf-8"))
    options = data["nodes"]["main"]["options"]
    data["nodes"]["main"]["options"] = [o for o in options if o["key"] != "9"]
    english = tmp_path / "english.json"
    english.write_text(json.dumps(data), encoding="utf-8")
    languages = {e.language for e in model_edges(load_menu(str(english)))}
    assert languages == {"en-GB"}


def journey(*events: dict) -> list[dict]:
    base = {"node": None, "key": None, "outcome": None, "language": "en-GB", "next": None}
    return [{**base, "closure": None, "announcement": None, **e} for e in events]


def test_the_apps_events_map_to_edges_in_the_callers_language_at_each_node() -> None:
    events = journey(
        {"kind": "call-start", "node": "main"},
        {
            "kind": "choice",
            "node": "main",
            "key": "9",
            "outcome": "option",
            "language": "cy-GB",
            "next": "main",
        },
        {
            "kind": "choice",
            "node": "main",
            "key": "9",
            "outcome": "option",
            "language": "cy-GB",
            "next": "main",
        },
        {
            "kind": "choice",
            "node": "main",
            "key": "*",
            "outcome": "repeat",
            "language": "cy-GB",
            "next": "main",
        },
        {
            "kind": "choice",
            "node": "main",
            "key": "7",
            "outcome": "invalid",
            "language": "cy-GB",
            "next": "main",
        },
        {
            "kind": "choice",
            "node": "main",
            "outcome": "silence",
            "language": "cy-GB",
            "next": "main",
        },
        {
            "kind": "choice",
            "node": "main",
            "key": "2",
            "outcome": "option",
            "language": "cy-GB",
            "next": "business_hours",
        },
        {
            "kind": "hours",
            "node": "business_hours",
            "outcome": "closure",
            "language": "cy-GB",
            "next": "business_closed",
            "closure": "2026-12-25",
        },
        {"kind": "message", "node": "business_closed", "language": "cy-GB"},
        {"kind": "queue", "node": "general_queue", "language": "cy-GB"},
        {
            "kind": "queue-result",
            "node": "general_queue",
            "outcome": "queue-full",
            "language": "cy-GB",
            "next": "all_busy",
        },
    )
    assert edges_taken(events) == [
        ("main", "key 9", "en-GB"),  # chosen in English: the language it was taken in
        ("main", "key 9", "cy-GB"),
        ("main", "repeat", "cy-GB"),
        ("main", "invalid", "cy-GB"),
        ("main", "silence", "cy-GB"),
        ("main", "key 2", "cy-GB"),
        ("business_hours", "closure 2026-12-25", "cy-GB"),
        ("business_closed", "next", "cy-GB"),
        ("general_queue", "full", "cy-GB"),
    ]
    assert final_node(events) == "all_busy"


def test_transfers_announcements_and_queue_results_map_to_their_branches() -> None:
    events = journey(
        {"kind": "call-start", "node": "main"},
        {
            "kind": "announcement",
            "node": "major_incident",
            "key": "5",
            "outcome": "announcement",
            "announcement": "A34",
        },
        {"kind": "queue", "node": "crime_queue"},
        {"kind": "queue-result", "node": "crime_queue", "outcome": "bridged"},
    )
    assert edges_taken(events) == [
        ("(announcement)", "announcement 5", "en-GB"),
        ("major_incident", "next", "en-GB"),
    ]
    assert final_node(events) == "crime_queue"
    failed = journey(
        {"kind": "call-start", "node": "x"},
        {"kind": "transfer-result", "node": "t", "outcome": "busy", "next": "bye"},
        {"kind": "transfer-result", "node": "t", "outcome": "completed"},
        {"kind": "queue-result", "node": "q", "outcome": "leave", "next": "cb"},
        {"kind": "queue-result", "node": "q", "outcome": "system-error", "next": "e"},
    )
    assert edges_taken(failed) == [
        ("t", "failed", "en-GB"),
        ("q", "leave", "en-GB"),
        ("q", "error", "en-GB"),
    ]


def test_the_shipped_suite_takes_every_edge_of_menus_json(suite: list[Result]) -> None:
    report = measure(MENU, suite)
    assert report.uncovered == [], report.render()
    assert report.percent == 100.0


def test_the_shipped_suite_also_takes_the_branches_the_model_will_list(suite) -> None:
    """Repeat, invalid and silence on every menu in both languages, and the announcement's key:
    the edges issue 12's model adds, so the suite stays at 100% when it does."""
    taken = {edge for r in suite for edge in edges_taken(r.journey)}
    for node in ("main", "cyber", "report_fraud_choice", "bullying_choice"):
        for language in ("en-GB", "cy-GB"):
            for branch in ("repeat", "invalid", "silence"):
                assert (node, branch, language) in taken, (node, branch, language)
    assert ("(announcement)", "announcement 5", "en-GB") in taken
    closures = {r.name for r in suite if r.file.endswith("closures.yaml")}
    names = [c.name for c in load_menu(MENU).node("business_hours").closures]
    assert closures == set(names) | {f"{n}, in Welsh" for n in names}


def test_a_scenario_on_another_menu_counts_only_for_edges_that_are_the_same(
    suite: list[Result], tmp_path: Path
) -> None:
    on_fixture = [r for r in suite if r.menu == str(FIXTURE)]
    assert on_fixture
    assert measure(MENU, on_fixture).covered  # main 1, main 4 ... the same in both menus
    data = json.loads(Path(MENU).read_text(encoding="utf-8"))
    (one,) = [o for o in data["nodes"]["main"]["options"] if o["key"] == "1"]
    one["goto"] = "general_queue"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data), encoding="utf-8")
    moved = [
        Result(r.file, r.name, r.line, r.status, menu=str(other), journey=r.journey)
        for r in suite
        if r.menu == MENU
    ]
    report = measure(MENU, moved)
    uncovered = {e.key for e in report.uncovered}
    # main 1 leads elsewhere in the other menu, so taking it there says nothing about ours.
    assert ("main", "key 1", "en-GB") in uncovered and ("main", "key 2", "en-GB") not in uncovered
