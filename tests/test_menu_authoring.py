"""The authoring extensions of the menu model: hours nodes, announcements, translations."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ivr.errors import MenuError
from ivr.menu import HoursNode, parse_menu, routing

UTC = dt.UTC

BASE: dict[str, Any] = {
    "start": "welcome",
    "nodes": {
        "welcome": {
            "kind": "menu",
            "prompt": "Welcome.",
            "options": [{"key": "1", "say": "Business crime, press 1.", "goto": "business"}],
            "fallback": "queue",
        },
        "business": {
            "kind": "hours",
            "timezone": "Europe/London",
            "weekly": {"mon": ["08:00-18:00"], "tue": ["08:00-18:00"]},
            "closures": [{"date": "2026-12-28", "name": "Bank holiday", "say": "Closed today."}],
            "open": "business_queue",
            "closed": "closed_message",
        },
        "closed_message": {"kind": "message", "say": "The team is closed.", "next": "queue"},
        "business_queue": {
            "kind": "queue",
            "queue": "business",
            "on_full": "queue",
            "on_error": "queue",
        },
        "queue": {"kind": "queue", "queue": "general", "on_full": "bye", "on_error": "bye"},
        "bye": {"kind": "hangup", "say": "Goodbye."},
        "a34": {"kind": "message", "say": "The A34 is closed.", "next": "queue"},
    },
    "announcements": [
        {
            "name": "A34 closure",
            "say": "If you are calling about the A34, press 5.",
            "starts": "2026-11-29T08:00",
            "ends": "2026-11-30T08:00",
            "key": "5",
            "goto": "a34",
        }
    ],
}


def menu_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_the_base_menu_is_valid_and_every_node_is_reachable() -> None:
    menu = parse_menu(json.dumps(BASE))
    assert menu.warnings == []
    assert isinstance(menu.node("business"), HoursNode)


@pytest.mark.parametrize(
    ("at", "node", "outcome", "message"),
    [
        (dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "business_queue", "open", None),
        (dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC), "closed_message", "closed", None),
        # Summer: 07:30 UTC is 08:30 BST.
        (dt.datetime(2026, 7, 6, 7, 30, tzinfo=UTC), "business_queue", "open", None),
        (
            dt.datetime(2026, 12, 28, 10, 0, tzinfo=UTC),
            "closed_message",
            "closure",
            "Closed today.",
        ),
    ],
)
def test_route_hours(at: dt.datetime, node: str, outcome: str, message: str | None) -> None:
    menu = parse_menu(json.dumps(BASE))
    step = routing.hours(menu, "business", "en-GB", at)
    assert (step.node, step.outcome) == (node, outcome)
    assert step.messages == (() if message is None else (message,))


def test_resolve_follows_chained_hours_nodes_and_collects_closure_messages() -> None:
    data = copy.deepcopy(BASE)
    data["nodes"]["welcome"]["options"][0]["goto"] = "outer"
    data["nodes"]["outer"] = {
        "kind": "hours",
        "weekly": {},
        "closures": [{"date": "2026-12-28", "say": "Outer closed."}],
        "open": "bye",
        "closed": "business",
    }
    menu = parse_menu(json.dumps(data))
    at = dt.datetime(2026, 12, 28, 10, 0, tzinfo=UTC)
    step = routing.resolve(menu, "outer", "en-GB", at)
    assert (step.node, step.messages) == ("closed_message", ("Outer closed.", "Closed today."))
    step = routing.resolve(menu, "welcome", "en-GB", at)
    assert (step.node, step.messages) == ("welcome", ())


def test_edges_of_an_hours_node() -> None:
    menu = parse_menu(json.dumps(BASE))
    assert [(e.branch, e.target, e.label, e.drawn) for e in routing.edges(menu, "business")] == [
        ("open", "business_queue", "open", True),
        ("closed", "closed_message", "closed", True),
        ("closure 2026-12-28", "closed_message", "closed 2026-12-28", False),
    ]


def test_hours_references_are_checked_and_located() -> None:
    data = copy.deepcopy(BASE)
    data["nodes"]["business"]["open"] = "busines_queue"
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    (p,) = info.value.problems
    assert p.path == "nodes.business.open"
    assert "did you mean 'business_queue'" in p.message
    assert p.line is not None


def test_hours_loops_are_refused() -> None:
    data = copy.deepcopy(BASE)
    data["nodes"]["business"]["closed"] = "business"
    assert "nodes.business: leads back to itself through hours nodes only" in problems(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"weekly": {"mon": ["8-18"]}}, "nodes.business.weekly.mon[0]: String should match"),
        ({"timezone": "London"}, "nodes.business.timezone: unknown time zone 'London'"),
        ({"closures": [{"date": "2026-02-30", "say": "x"}]}, "nodes.business.closures[0].date"),
        ({"weekly": {"mon": ["09:00-09:00"]}}, "nodes.business.weekly: mon: '09:00-09:00'"),
    ],
)
def test_bad_schedules_are_located(change: dict[str, Any], expected: str) -> None:
    data = copy.deepcopy(BASE)
    data["nodes"]["business"].update(change)
    assert any(p.startswith(expected) for p in problems(data)), problems(data)


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (dt.datetime(2026, 11, 29, 7, 59, tzinfo=UTC), False),  # 07:59 GMT
        (dt.datetime(2026, 11, 29, 8, 0, tzinfo=UTC), True),
        (dt.datetime(2026, 11, 30, 7, 59, tzinfo=UTC), True),
        (dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC), False),  # ends is exclusive
    ],
)
def test_announcement_window(now: dt.datetime, active: bool) -> None:
    menu = parse_menu(json.dumps(BASE))
    assert [a.name for a in routing.active_announcements(menu, now)] == (
        ["A34 closure"] if active else []
    )
    _, found = routing.announcement_key(menu, "5", "en-GB", now)
    assert (found is not None) is active


def test_announcement_local_times_follow_bst() -> None:
    data = menu_with(
        announcements=[{"say": "Summer.", "starts": "2026-07-01T09:00", "ends": "2026-07-01T10:00"}]
    )
    menu = parse_menu(json.dumps(data))
    assert not routing.active_announcements(
        menu, dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    )  # 10:00 BST
    assert routing.active_announcements(
        menu, dt.datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    )  # 09:00 BST


def test_announcement_with_an_offset_and_switched_off() -> None:
    data = menu_with(
        announcements=[
            {"say": "On.", "starts": "2026-07-01T09:00:00+00:00"},
            {"say": "Off.", "enabled": False},
        ]
    )
    menu = parse_menu(json.dumps(data))
    now = dt.datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert [a.say for a in routing.active_announcements(menu, now)] == ["On."]
    assert routing.announcement_key(menu, "5", "en-GB", now)[1] is None


@pytest.mark.parametrize(
    ("announcement", "expected"),
    [
        ({"say": "x", "key": "5"}, "announcements[0]: `key` and `goto` go together"),
        ({"say": "x", "key": "5", "goto": "nowhere"}, "announcements[0].goto: refers to node"),
        (
            {"say": "x", "starts": "2026-07-01T10:00", "ends": "2026-07-01T09:00"},
            "announcements[0]: `ends` is not after `starts`",
        ),
        ({"say": "x", "key": "55", "goto": "a34"}, "announcements[0].key: Input should be"),
        ({"say": "x", "timezone": "Mars/Olympus"}, "announcements[0].timezone: unknown time zone"),
        ({"say": " "}, "announcements[0].say: is empty"),
    ],
)
def test_bad_announcements_are_located(announcement: dict[str, Any], expected: str) -> None:
    found = problems(menu_with(announcements=[announcement]))
    assert any(p.startswith(expected) for p in found), found


def test_two_enabled_announcements_cannot_share_a_key() -> None:
    a = {"say": "x", "key": "5", "goto": "a34"}
    found = problems(menu_with(announcements=[a, a]))
    assert found == ["announcements[1].key: key '5' is already used by announcements[0]"]
    parse_menu(json.dumps(menu_with(announcements=[a, a | {"enabled": False}])))


def test_an_announcement_target_counts_as_reachable() -> None:
    data = menu_with(announcements=[])
    menu = parse_menu(json.dumps(data))
    assert [w.path for w in menu.warnings] == ["nodes.a34"]


WELSH = {"cy-GB": {"voice": "Polly.Gwyneth", "speech": False, "name": "Cymraeg"}}


def test_with_two_languages_every_node_text_needs_both() -> None:
    found = problems(menu_with(languages=WELSH))
    needs = ": needs a translation for each language (en-GB, cy-GB)"
    for path in (
        "nodes.welcome.prompt",
        "nodes.welcome.options[0].say",
        "nodes.business.closures[0].say",
        "announcements[0].say",
        "nodes.bye.say",
        # A default that is English only counts too: Welsh callers would hear English.
        "nodes.queue.hold.reminder",
    ):
        assert path + needs in found


def test_a_missing_welsh_text_is_named() -> None:
    data = menu_with(languages=WELSH)

    def both(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: both(v) for k, v in value.items()}
        if isinstance(value, list):
            return [both(v) for v in value]
        return value

    data = both(data)
    for path in (
        ("nodes", "welcome", "prompt"),
        ("nodes", "welcome", "options", 0, "say"),
        ("nodes", "closed_message", "say"),
        ("nodes", "bye", "say"),
        ("nodes", "a34", "say"),
    ):
        *head, last = path
        where: Any = data
        for part in head:
            where = where[part]
        where[last] = {"en-GB": where[last], "cy-GB": "Cymraeg"}
    for queue in ("queue", "business_queue"):
        data["nodes"][queue]["hold"] = {
            "reminder": {"en-GB": "Dial 999.", "cy-GB": "Ffoniwch 999."}
        }
    data["nodes"]["business"]["closures"][0]["say"] = {"en-GB": "Closed today.", "cy-GB": ""}
    data["announcements"][0]["say"] = {"en-GB": "Press 5."}
    found = problems(data)
    assert found == [
        "nodes.business.closures[0].say: has no cy-GB translation",
        "announcements[0].say: has no cy-GB translation",
    ]


def test_untranslated_built_in_phrases_are_warnings() -> None:
    data = copy.deepcopy(BASE)
    data["languages"] = WELSH
    data["announcements"] = []
    for node in data["nodes"].values():
        for field in ("prompt", "say"):
            if field in node:
                node[field] = {"en-GB": node[field], "cy-GB": "Cymraeg"}
        for option in node.get("options", []):
            option["say"] = {"en-GB": option["say"], "cy-GB": "Cymraeg"}
        for closure in node.get("closures", []):
            closure["say"] = {"en-GB": closure["say"], "cy-GB": "Cymraeg"}
        if node["kind"] == "queue":
            node["hold"] = {"reminder": None}
    menu = parse_menu(json.dumps(data))
    paths = {w.path for w in menu.warnings}
    assert "defaults.phrases.moved" in paths
    assert "nodes.a34" in paths


def test_a_language_twilio_cannot_recognise_is_keys_only_with_a_warning() -> None:
    data = copy.deepcopy(BASE)
    data["languages"] = {"cy-GB": {"voice": "Polly.Gwyneth"}}  # speech left on by mistake
    data["announcements"] = []
    del data["nodes"]["a34"]

    def both(value: Any) -> Any:
        return {"en-GB": value, "cy-GB": value}

    data["nodes"]["welcome"]["prompt"] = both("Welcome.")
    data["nodes"]["welcome"]["options"][0]["say"] = both("Press 1.")
    data["nodes"]["business"]["closures"][0]["say"] = both("Closed.")
    data["nodes"]["closed_message"]["say"] = both("Closed.")
    data["nodes"]["bye"]["say"] = both("Bye.")
    for queue in ("queue", "business_queue"):
        data["nodes"][queue]["hold"] = {"reminder": both("Dial 999.")}
    menu = parse_menu(json.dumps(data))
    [warning] = [w for w in menu.warnings if w.path == "languages.cy-GB.speech"]
    assert "keys only" in warning.message
    node = menu.node("welcome")
    assert menu.speech_enabled(node, "en-GB") is True
    assert menu.speech_enabled(node, "cy-GB") is False


def test_a_language_choice_needs_only_the_language_it_offers() -> None:
    data = json.loads(Path(__file__).resolve().parent.parent.joinpath("menus.json").read_text())
    options = data["nodes"]["main"]["options"]
    assert (options[0]["say"], options[0]["language"]) == (
        {"cy-GB": "Am Gymraeg, pwyswch 9."},
        "cy-GB",
    )
    menu = parse_menu(json.dumps(data))
    # Asked for another language, the one text it has is the answer.
    assert menu.text(options[0]["say"], "en-GB") == "Am Gymraeg, pwyswch 9."
    options[0]["say"] = {"en-GB": "Welsh, press 9."}
    with pytest.raises(MenuError) as info:
        parse_menu(json.dumps(data, indent=2))
    [problem] = info.value.problems
    assert problem.path == "nodes.main.options[0].say"
    assert problem.message == "has no cy-GB text (the language it offers)"
