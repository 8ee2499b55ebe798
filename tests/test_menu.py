from __future__ import annotations

import json

import pytest
from conftest import MENU, minimal_menu

from ivr.errors import MenuError
from ivr.menu import MenuNode, load_menu, parse_menu, routing, to_e164


def problems(data: dict | str) -> list[str]:
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    with pytest.raises(MenuError) as info:
        parse_menu(text)
    return [str(p) for p in info.value.problems]


def test_the_101_menu_is_valid_with_no_warnings():
    menu = load_menu(MENU)
    assert menu.warnings == []
    assert menu.start == "main"  # the 999 warning is its prompt; Welsh is its key 9
    assert set(menu.queues()) == {"call-handlers", "business-crime", "general-enquiries"}


def test_json_syntax_error_has_line_and_column():
    text = '{\n  "start": "main",\n  "nodes": {\n    "main": { "kind": "hangup", }\n  }\n}'
    [problem] = problems(text)
    assert "invalid JSON" in problem
    assert "(line 4, column 33)" in problem


def test_unknown_node_reference_names_the_path_and_a_suggestion():
    data = minimal_menu()
    data["nodes"]["main"]["options"][1]["goto"] = "mesage"
    [problem] = problems(data)
    assert problem.startswith("nodes.main.options[1].goto (line ")
    assert "'mesage', which does not exist (did you mean 'message'?)" in problem


def test_duplicate_keys_in_a_menu():
    data = minimal_menu()
    data["nodes"]["main"]["options"][1]["key"] = "1"
    [problem] = problems(data)
    assert problem.startswith("nodes.main.options[1].key")
    assert "already used by options[0]" in problem


def test_option_key_clashing_with_repeat_key():
    data = minimal_menu()
    data["nodes"]["main"]["options"][1]["key"] = "*"
    [problem] = problems(data)
    assert "is this menu's repeat key" in problem


def test_duplicate_json_object_keys_are_refused_with_their_line():
    text = '{"start": "a",\n "nodes": {"a": {"kind": "hangup"},\n "a": {"kind": "hangup"}}}'
    [problem] = problems(text)
    assert "duplicate key 'a'" in problem and "line 3" in problem


def test_missing_start_node():
    data = minimal_menu()
    data["start"] = "nowhere"
    assert problems(data) == [
        "start (line 2, column 12): refers to node 'nowhere', which does not exist"
    ]


def test_start_is_required():
    data = minimal_menu()
    del data["start"]
    assert [p for p in problems(data) if p.startswith("start")] == ["start: is required"]


@pytest.mark.parametrize("number", ["12345", "+44 20 7946", "not a number", "0300 123"])
def test_invalid_phone_numbers(number):
    data = minimal_menu(
        transfer={"kind": "transfer", "number": number, "on_fail": "bye"},
    )
    data["nodes"]["main"]["options"][1]["goto"] = "transfer"
    [problem] = problems(data)
    assert problem.startswith("nodes.transfer.number")
    assert "phone number" in problem


def test_phone_numbers_are_normalised_to_e164():
    assert to_e164("0300 123 2040") == "+443001232040"
    assert to_e164("+44 300 123 2040") == "+443001232040"


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp3", "example.com/a.mp3", "http://"])
def test_invalid_urls(url):
    data = minimal_menu(message={"kind": "message", "play": url, "next": "bye"})
    [problem] = problems(data)
    assert problem.startswith("nodes.message.play") and "not an http(s) URL" in problem


def test_unknown_field_and_unknown_kind():
    data = minimal_menu()
    data["nodes"]["bye"]["sya"] = "typo"
    data["nodes"]["message"]["kind"] = "announcement"
    found = problems(data)
    assert any(p.startswith("nodes.bye.sya") and "not a known field" in p for p in found), found
    assert any(p.startswith("nodes.message") and "unknown node kind" in p for p in found), found


def test_a_menu_that_falls_back_to_itself_is_refused():
    data = minimal_menu()
    data["nodes"]["main"]["fallback"] = "main"
    [problem] = problems(data)
    assert "fall back to itself" in problem


def test_missing_translation_is_an_error():
    data = minimal_menu()
    data["languages"] = {"cy-GB": {"voice": "Polly.Gwyneth", "speech": False}}
    data["nodes"]["bye"]["say"] = {"en-GB": "Goodbye."}
    found = problems(data)
    assert "nodes.bye.say (line 40, column 14): has no cy-GB translation" in found
    # Plain strings in a two-language menu are refused too, each at its own place.
    assert (
        "nodes.message.say (line 35, column 14): needs a translation for each language "
        "(en-GB, cy-GB)" in found
    )


def test_unknown_placeholder_in_a_phrase():
    data = minimal_menu()
    data["defaults"]["phrases"] = {"position": "You are number {place}."}
    [problem] = problems(data)
    assert "unknown placeholder {place}" in problem


def test_unreachable_nodes_are_warnings_not_errors():
    data = minimal_menu(orphan={"kind": "hangup"})
    menu = parse_menu(json.dumps(data))
    [warning] = menu.warnings
    assert warning.path == "nodes.orphan"
    assert str(warning).endswith(": is not reachable from the start node")


def test_unreadable_file(tmp_path):
    with pytest.raises(MenuError) as info:
        load_menu(tmp_path / "missing.json")
    assert "cannot read the file" in str(info.value)


# -- transitions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def menu():
    return load_menu(MENU)


@pytest.mark.parametrize(
    "digits,expected",
    [
        ("1", "crime_queue"),
        ("2", "business_hours"),
        ("3", "cyber"),
        ("4", "general_queue"),
        ("9", "main"),  # the main menu again, in Welsh
    ],
)
def test_keys_choose_options(menu, digits, expected):
    step = routing.choose(menu, "main", digits, "", 1, "en-GB")
    assert (step.node, step.outcome, step.key, step.attempt) == (expected, "option", digits, 1)


@pytest.mark.parametrize(
    "speech,expected",
    [
        ("I'd like to report a crime", "crime_queue"),
        ("business crime please", "business_hours"),
        ("it's about fraud", "cyber"),
        ("press three", "cyber"),
        ("four", "general_queue"),
        ("General enquiry.", "general_queue"),
        ("cyber crime", "cyber"),
    ],
)
def test_speech_chooses_options(menu, speech, expected):
    step = routing.choose(menu, "main", "", speech, 1, "en-GB")
    assert step.node == expected and step.outcome == "option"
    assert step.confidence is not None and 0 < step.confidence <= 1


def test_unmatched_speech_counts_as_invalid(menu):
    step = routing.choose(menu, "main", "", "the weather is lovely", 1, "en-GB")
    assert (step.node, step.outcome, step.notice, step.attempt) == ("main", "invalid", "invalid", 2)


def test_invalid_key_then_attempt_limit_then_fallback(menu):
    node: MenuNode = menu.node("main")
    step = routing.choose(menu, "main", "8", "", 1, "en-GB")
    assert (step.node, step.attempt, step.notice) == ("main", 2, "invalid")
    step = routing.choose(menu, "main", "", "", 2, "en-GB")
    assert (step.node, step.attempt, step.notice) == ("main", 3, "silence")
    step = routing.choose(menu, "main", "7", "", menu.attempts(node), "en-GB")
    assert (step.node, step.outcome) == (node.fallback, "fallback")


def test_repeat_keeps_the_attempt_and_back_goes_back(menu):
    assert routing.choose(menu, "cyber", "*", "", 2, "en-GB").node == "cyber"
    assert routing.choose(menu, "cyber", "*", "", 2, "en-GB").attempt == 2
    back = routing.choose(menu, "cyber", "#", "", 1, "en-GB")
    assert (back.node, back.outcome) == ("main", "back")
    # The main menu has no back node, so '#' is just an invalid key there.
    assert routing.choose(menu, "main", "#", "", 1, "en-GB").outcome == "invalid"


def test_menu_is_immutable(menu):
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type varies
        menu.node("main").fallback = "x"


# Every QueueResult Twilio documents (https://www.twilio.com/docs/voice/twiml/enqueue#attributes-action),
# none at all, and one Twilio might add.
QUEUE_RESULTS = (
    "bridged",
    "bridging-in-process",
    "queue-full",
    "hangup",
    "redirected",
    "redirected-from-bridged",
    "leave",
    "error",
    "system-error",
    "",
    "something-new",
)


@pytest.mark.parametrize("on_leave", [True, False], ids=["with on_leave", "without on_leave"])
def test_a_queue_result_takes_the_branch_it_is_routed_along(on_leave: bool) -> None:
    """Where the router sends a caller after a queue, the branch coverage credits and the edge
    the picture draws are one rule: the branch's edge leads where the caller goes."""
    data = json.loads(MENU.read_text(encoding="utf-8"))
    if not on_leave:
        for node in data["nodes"].values():
            if node["kind"] == "queue":
                node.pop("on_leave", None)
                node.pop("callback", None)
    menu = parse_menu(json.dumps(data))
    queues = [n for n, node in menu.nodes.items() if node.kind == "queue"]
    assert any(menu.nodes[n].on_leave is not None for n in queues) is on_leave
    for node_id in queues:
        out = {e.branch: e.target for e in routing.edges(menu, node_id)}
        assert ("leave" in out) is (menu.nodes[node_id].on_leave is not None)
        for result in QUEUE_RESULTS:
            step = routing.after_queue(menu, node_id, "en-GB", result)
            taken = routing.branch(routing.Kind.QUEUE_RESULT, result, None, {}, menu.nodes[node_id])
            if step is None:
                assert taken is None, (node_id, result)
            else:
                assert out[taken] == step.node, (node_id, result, taken)
        # ivr paths tries one result per branch, and each takes its own branch.
        for name in out:
            result = routing.QUEUE_RESULTS[name]
            assert (
                routing.branch(routing.Kind.QUEUE_RESULT, result, None, {}, menu.nodes[node_id])
                == name
            )


def test_a_transfer_result_takes_the_branch_it_is_routed_along() -> None:
    menu = load_menu(MENU)
    transfers = [n for n, node in menu.nodes.items() if node.kind == "transfer"]
    assert transfers
    for node_id in transfers:
        out = {e.branch: e.target for e in routing.edges(menu, node_id)}
        for status in ("completed", "answered", "busy", "no-answer", "failed", "canceled", ""):
            step = routing.after_transfer(menu, node_id, "en-GB", status)
            taken = routing.branch(routing.Kind.TRANSFER_RESULT, status, None, {})
            if step is None:
                assert taken is None
            else:
                assert out[taken] == step.node
