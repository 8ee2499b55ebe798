"""`ivr paths`: routes, listening times and findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.authoring.paths import walk_paths
from ivr.cli import cli
from ivr.menu import load_menu, parse_menu


def menu_of(nodes: dict, start: str = "welcome", **defaults):
    data = {"start": start, "defaults": {"timeout": 5, "attempts": 2, **defaults}, "nodes": nodes}
    return parse_menu(json.dumps(data))


FIVE = "one two three four five"  # five words: 2 seconds at 150 words a minute
# Options say their key, so a caller who knows the menu presses at the end of their words
# (the barge-in rule of ivr/caller/clock.py); five words each too.
PRESS_1 = "For the queue, press 1."
PRESS_2 = "To leave us, press 2."


def simple_nodes() -> dict:
    return {
        "welcome": {"kind": "message", "say": FIVE, "next": "main"},
        "main": {
            "kind": "menu",
            "prompt": FIVE,
            "options": [
                {"key": "1", "say": PRESS_1, "goto": "q"},
                {"key": "2", "say": PRESS_2, "goto": "bye"},
            ],
            "fallback": "q",
        },
        "q": {
            "kind": "queue",
            "queue": "handlers",
            "say": FIVE,
            "on_full": "bye",
            "on_error": "bye",
        },
        "bye": {"kind": "hangup", "say": FIVE},
    }


def test_the_101_menu_passes_cleanly():
    report = walk_paths(load_menu("menus.json"))
    assert report.ok, report.findings
    by_node = {r.destination: r for r in report.fastest}
    assert by_node["crime_queue"].keys == ("1",)
    assert by_node["crime_queue"].menus == 1
    assert by_node["transfer_report_fraud"].keys == ("3", "1", "1")
    # Welsh (9) leads back to the main menu in Welsh: a place of its own, not a loop, and
    # not a level of the menu either.
    welsh = [r for r in report.routes if r.destination == "crime_queue" and r.keys == ("9", "1")]
    assert [(r.language, r.menus, r.nodes) for r in welsh] == [
        ("cy-GB", 1, ("main", "main", "crime_queue"))
    ]
    seconds = [r.seconds for r in report.fastest]
    assert seconds == sorted(seconds, reverse=True)


def test_a_language_option_offered_again_in_its_own_language_is_a_loop_back():
    """Welsh offered on the Welsh menu too (key 9 leads to this menu in Welsh from either
    language, as in menus.json): pressing it again is a way back, not a place to walk forever."""

    def both(text: str) -> dict:
        return {"en-GB": text, "cy-GB": text}

    nodes = {
        "main": {
            "kind": "menu",
            "prompt": both(FIVE),
            "options": [
                {
                    "key": "9",
                    "say": both("Am Gymraeg, pwyswch 9."),
                    "language": "cy-GB",
                    "goto": "main",
                },
                {"key": "1", "say": both(PRESS_1), "goto": "q"},
            ],
            "fallback": "q",
        },
        "q": {
            "kind": "queue",
            "queue": "handlers",
            "say": both(FIVE),
            "hold": {"messages": [both(FIVE)], "reminder": both(FIVE)},
            "on_full": "bye",
            "on_error": "bye",
        },
        "bye": {"kind": "hangup", "say": both(FIVE)},
    }
    data = {
        "start": "main",
        "defaults": {"timeout": 5, "attempts": 2},
        "languages": {"cy-GB": {"voice": "Polly.Gwyneth"}},
        "nodes": nodes,
    }
    report = walk_paths(parse_menu(json.dumps(data)))
    keyed = {(r.keys, r.language, r.destination) for r in report.routes if r.by_keys_only}
    assert keyed == {(("1",), "en-GB", "q"), (("9", "1"), "cy-GB", "q")}
    assert not [r for r in report.routes if r.keys[:2] == ("9", "9")]


def test_listening_time_counts_words_up_to_the_chosen_option():
    report = walk_paths(menu_of(simple_nodes()))
    by_node = {r.destination: r for r in report.fastest}
    # welcome 2s + prompt 2s + option 1 2s + queue say 2s
    assert by_node["q"].seconds == pytest.approx(8.0)
    assert by_node["q"].keys == ("1",)
    # welcome + prompt + options 1 and 2 + goodbye
    assert by_node["bye"].seconds == pytest.approx(10.0)
    assert report.ok


def test_a_slower_speaking_rate_takes_longer():
    fast = walk_paths(menu_of(simple_nodes()), words_per_minute=150).fastest[0]
    slow = walk_paths(menu_of(simple_nodes()), words_per_minute=75).fastest[0]
    assert slow.seconds == pytest.approx(2 * fast.seconds)


def test_no_answer_routes_wait_out_every_attempt():
    report = walk_paths(menu_of(simple_nodes()))
    silent = [r for r in report.routes if r.keys == ("(no answer)",)]
    assert len(silent) == 1
    # welcome, then twice: the whole menu (prompt, 2 options, repeat phrase) + 5s timeout
    # + the "did not hear" phrase; then the queue's words.
    menu = menu_of(simple_nodes())
    words = lambda text: len(text.split()) / 2.5  # noqa: E731
    repeat = words(menu.defaults.phrases.repeat)
    notice = words(menu.defaults.phrases.silence)
    expected = 2 + 2 * (6 + repeat + 5 + notice) + 2
    assert silent[0].seconds == pytest.approx(expected)


def test_slow_and_deep_destinations_are_flagged():
    nodes = {
        "welcome": {"kind": "message", "say": FIVE, "next": "m1"},
        "m1": {
            "kind": "menu",
            "options": [{"key": "1", "say": FIVE, "goto": "m2"}],
            "fallback": "q",
        },
        "m2": {
            "kind": "menu",
            "options": [{"key": "1", "say": FIVE, "goto": "m3"}],
            "fallback": "q",
        },
        "m3": {
            "kind": "menu",
            "options": [{"key": "1", "say": FIVE, "goto": "m4"}],
            "fallback": "q",
        },
        "m4": {
            "kind": "menu",
            "options": [{"key": "1", "say": FIVE, "goto": "deep"}],
            "fallback": "q",
        },
        "deep": {"kind": "queue", "queue": "deep", "on_full": "q", "on_error": "q"},
        "q": {"kind": "queue", "queue": "handlers", "on_full": "q2", "on_error": "q2"},
        "q2": {"kind": "hangup", "say": FIVE},
    }
    report = walk_paths(menu_of(nodes), max_seconds=5)
    kinds = {(f.kind, f.node) for f in report.findings}
    assert ("deep", "deep") in kinds
    assert ("slow", "deep") in kinds
    # q2 is met only when a queue fails: listed, never flagged.
    assert not [f for f in report.findings if f.node == "q2"]
    assert not report.ok


def test_unreachable_nodes_and_loops_without_a_way_out():
    nodes = {
        "welcome": {"kind": "message", "say": FIVE, "next": "a"},
        "a": {"kind": "menu", "options": [{"key": "1", "say": FIVE, "goto": "b"}], "fallback": "b"},
        "b": {"kind": "message", "say": FIVE, "next": "a"},
        "lost": {"kind": "hangup", "say": FIVE},
    }
    report = walk_paths(menu_of(nodes))
    kinds = {(f.kind, f.node) for f in report.findings}
    assert ("unreachable", "lost") in kinds
    assert {("loop", "a"), ("loop", "b")} <= kinds
    # The welcome is not in the loop, but only leads into it: a dead end.
    assert ("dead-end", "welcome") in kinds
    assert not report.routes


def test_cli_paths_prints_the_table_and_passes():
    result = CliRunner().invoke(cli, ["paths", "menus.json"])
    assert result.exit_code == 0, result.output
    assert "| destination | node | keys | listening | menus |" in result.output
    assert "`crime_queue` | 1 |" in result.output
    assert "OK" in result.output


def test_cli_paths_exits_1_on_findings(tmp_path):
    menu = tmp_path / "menu.json"
    menu.write_text(json.dumps({"start": "welcome", "nodes": simple_nodes()}))
    result = CliRunner().invoke(cli, ["paths", str(menu), "--max-seconds", "3"])
    assert result.exit_code == 1
    assert "slow: q:" in result.output


def test_cli_paths_json():
    result = CliRunner().invoke(cli, ["paths", "menus.json", "--json"])
    data = json.loads(result.output)
    assert data["findings"] == []
    assert {d["destination"] for d in data["destinations"]} >= {"crime_queue", "general_queue"}


def test_every_keyed_route_leads_the_real_webhooks_to_its_destination():
    """Cross-check: dial the 101 app in-process with each route's keys (ivr.caller)."""
    from ivr import create_app
    from ivr.caller import Call, DialResult, Input, ScriptedCaller, WSGITransport

    app = create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": "cross-check",
            "PUBLIC_BASE_URL": None,
            "IVR_ALLOW_UNSIGNED": False,
            "IVR_LOG_LEVEL": "WARNING",
        }
    )
    report = walk_paths(load_menu("menus.json"))
    keyed = [r for r in report.routes if r.by_keys_only]
    assert len(keyed) >= 7
    for route in keyed:
        caller = ScriptedCaller([Input.press(k) for k in route.keys], dial=DialResult())
        record = Call(
            WSGITransport(app), "http://localhost/voice", caller, auth_token="cross-check"
        ).run()
        outcome = record.outcome
        assert outcome.kind != "error", (route, outcome.summary())
        kind, _, what = route.label.partition(" ")
        if kind == "queue":
            assert (outcome.kind, outcome.queue) == ("enqueued", what), route
            arrived = record.of_kind("enqueue")[0].at
        elif kind == "transfer":
            assert (outcome.kind, outcome.dialled) == ("dialled", (what,)), route
            arrived = record.of_kind("dial")[0].at
        else:
            assert outcome.kind == "message", route
            arrived = record.events[-1].at
        # The simulator hears every menu in full; the estimate presses as soon as it can.
        assert arrived + 0.5 >= route.seconds, (route, arrived)


def test_a_switched_on_announcement_counts_in_the_listening_time(tmp_path):
    """What callers hear: the 999 warning, then the announcement in both languages, then
    their key (a caller who knows the menu presses it as the announcement ends)."""
    data = json.loads((Path("menus.json")).read_text(encoding="utf-8"))
    off = {r.destination: r for r in walk_paths(parse_menu(json.dumps(data))).fastest}
    data["announcements"][0]["enabled"] = True  # A34, key 5; its window does not matter
    on = {r.destination: r for r in walk_paths(parse_menu(json.dumps(data))).fastest}
    crime = on["crime_queue"]
    assert crime.heard[0].startswith("Staffordshire Police.")
    assert crime.heard[1].startswith("If you are calling about the road closure on the A34")
    assert crime.heard[2].startswith("Os ydych chi'n ffonio am gau'r ffordd")
    # 20 + 20 words of announcement at 150 a minute: 16 s more than the warning and option 1.
    assert crime.seconds > off["crime_queue"].seconds
    assert crime.keys == ("1",)
    file = tmp_path / "menus.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["paths", "--json", str(file)])
    routes = json.loads(result.output)["routes"]
    assert any("A34" in " ".join(r["heard"]) for r in routes)
