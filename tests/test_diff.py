"""`ivr diff`: what an edit changes for callers, from the one model of the menu."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MENU, minimal_menu, write_menu

from ivr.authoring import diff_report
from ivr.authoring.diff import diff_files, diff_menus
from ivr.cli import cli
from ivr.menu import parse_menu


def shipped() -> dict[str, Any]:
    return json.loads(MENU.read_text(encoding="utf-8"))


def save(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    result = diff_menus(parse_menu(json.dumps(old)), parse_menu(json.dumps(new)))
    return [(c.section, c.kind, c.message) for c in result.changes]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["diff", *args])


@pytest.fixture
def swapped(tmp_path: Path) -> Path:
    """The shipped menu with keys 1 and 2 swapped in `main` and the cyber prompt reworded."""
    data = shipped()
    options = data["nodes"]["main"]["options"]
    crime, business = options[1], options[2]
    crime["key"], business["key"] = "2", "1"
    crime["say"] = {
        k: v.replace("press 1", "press 2").replace("pwyswch 1", "pwyswch 2")
        for k, v in crime["say"].items()
    }
    business["say"] = {
        k: v.replace("press 2", "press 1").replace("pwyswch 2", "pwyswch 1")
        for k, v in business["say"].items()
    }
    options[1], options[2] = business, crime
    data["nodes"]["cyber"]["prompt"]["en-GB"] = "Fraud and cyber crime."
    return save(tmp_path / "swapped.json", data)


def test_keys_swapped_and_a_prompt_reworded(swapped: Path) -> None:
    result = run(str(MENU), str(swapped))
    assert result.exit_code == 1, result.output
    out = result.output
    assert "main: key 1 now goes where key 2 went (business_hours)" in out
    assert "main: key 2 now goes where key 1 went (crime_queue)" in out
    assert (
        "nodes.cyber.prompt (en-GB)\n"
        "    was: Cyber crime and fraud.\n"
        "    now: Fraud and cyber crime." in out
    )
    # Callers who press the old keys end somewhere else, by the routes `ivr paths` walks.
    assert (
        "keys 1 used to end in crime_queue and now end in "
        "business_queue (open) or general_queue (closed)" in out
    )
    assert (
        "keys 9 2 used to end in business_queue (open) or general_queue (closed) "
        "and now end in crime_queue" in out
    )
    # ...so an announcement is suggested.
    assert "Suggestion: Keys were renumbered, e.g. main: key 1 now goes where key 2 went" in out


def test_identical_files_exit_0() -> None:
    result = run(str(MENU), str(MENU))
    assert result.exit_code == 0
    assert result.output == f"{MENU} → {MENU}: nothing changes for callers\n"


def test_an_invalid_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"start": "main", "nodes": {}}', encoding="utf-8")
    result = run(str(MENU), str(bad))
    assert result.exit_code == 2
    assert f"{bad}: 2 error(s)" in result.output
    assert run(str(MENU), str(tmp_path / "missing.json")).exit_code == 2


def test_json_output_of_an_invalid_file_is_a_json_error(tmp_path: Path) -> None:
    data = shipped()
    data["nodes"]["main"]["options"][0]["goto"] = "nowhere"
    bad = save(tmp_path / "bad.json", data)
    result = CliRunner().invoke(cli, ["diff", str(MENU), str(bad), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["error"] == "invalid menu" and error["file"] == str(bad)
    (problem,) = error["problems"]
    assert problem["path"] == "nodes.main.options[0].goto" and problem["line"]
    assert "nowhere" in problem["message"]


def test_notes_are_not_callers_business(tmp_path: Path) -> None:
    data = shipped()
    data["nodes"]["main"]["notes"] = "Reviewed in March."
    data["defaults"]["checks"]["max_options"] = 4
    data["defaults"]["budget"]["any"] = 50
    data["defaults"]["budgets"] = {"cy-GB": {"main": 35}}
    assert run(str(MENU), str(save(tmp_path / "n.json", data))).exit_code == 0


def test_json_output(swapped: Path) -> None:
    result = run(str(MENU), str(swapped), "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["changed"] is True
    moved = [c for c in data["changes"] if c["kind"] == "moved"]
    assert [(c["path"], c["old"], c["new"]) for c in moved] == [
        ("nodes.main.options[1]", "2", "1"),
        ("nodes.main.options[2]", "1", "2"),
    ]
    crime = next(
        t for t in data["timings"] if (t["destination"], t["language"]) == ("crime_queue", "en-GB")
    )
    assert (crime["keys_before"], crime["keys_after"], crime["changed"]) == ("1", "2", True)
    assert crime["after"] > crime["before"]


def test_markdown_for_a_pull_request(swapped: Path) -> None:
    result = run(str(MENU), str(swapped), "--format", "markdown")
    assert result.exit_code == 1
    out = result.output
    assert out.startswith(f"### Menu changes for callers: `{MENU}` → `{swapped}`")
    assert (
        "| `nodes.cyber.prompt` | en-GB | Cyber crime and fraud. | Fraud and cyber crime. |" in out
    )
    assert "| destination | language | before | after | change |" in out
    assert "> **Suggestion:** Keys were renumbered" in out


def test_options_added_removed_and_sent_elsewhere() -> None:
    old = minimal_menu(extra={"kind": "hangup", "say": "Extra."})
    old["nodes"]["main"]["options"].append({"key": "3", "say": "Extra, press 3.", "goto": "extra"})
    new = minimal_menu(other={"kind": "hangup", "say": "Other."})
    new["nodes"]["main"]["options"][1]["goto"] = "queue"  # key 2: message -> queue
    new["nodes"]["main"]["options"].append({"key": "4", "say": "Other, press 4.", "goto": "other"})
    new["nodes"]["main"]["fallback"] = "other"
    found = diff(old, new)
    assert ("nodes", "added", "new hangup 'other'") in found
    assert ("nodes", "removed", "hangup 'extra' removed") in found
    assert ("options", "retargeted", "main: key 2 now goes to queue (was message)") in found
    assert ("options", "added", "main: new option, key 4 to other") in found
    assert ("options", "removed", "main: option removed, key 3 to extra") in found
    assert ("branches", "changed", "main: fallback now goes to other (was queue)") in found


def test_an_option_sent_where_another_already_goes_is_retargeted_not_renumbered() -> None:
    """Cyber key 3 now goes to cyber_queue, where key 4 already goes: one change, no move."""
    old, new = shipped(), shipped()
    (three,) = (o for o in new["nodes"]["cyber"]["options"] if o["key"] == "3")
    three["goto"] = "cyber_queue"
    result = diff_menus(parse_menu(json.dumps(old)), parse_menu(json.dumps(new)))
    options = [(c.kind, c.message) for c in result.changes if c.section == "options"]
    assert options == [("retargeted", "cyber: key 3 now goes to cyber_queue (was bullying_info)")]
    assert [c for c in result.changes if c.section in ("words", "settings")] == []


def test_an_option_removed_and_the_next_moved_up_is_a_renumbering() -> None:
    old, new = shipped(), shipped()
    options = new["nodes"]["cyber"]["options"]
    del options[2]  # online bullying, key 3
    options[2]["key"] = "3"
    options[2]["say"] = {k: v.replace("4", "3") for k, v in options[2]["say"].items()}
    found = [(k, m) for s, k, m in diff(old, new) if s in ("options", "words")]
    assert ("moved", "cyber: key 3 now goes where key 4 went (cyber_queue)") in found
    assert ("removed", "cyber: option removed, key 3 to bullying_info") in found
    assert len([f for f in found if f[0] in ("moved", "removed", "added", "retargeted")]) == 2


def test_announcements_switched_on_and_off() -> None:
    old = shipped()
    new = shipped()
    new["announcements"][0]["enabled"] = True
    found = diff(old, new)
    assert found == [
        (
            "announcements",
            "on",
            "announcement 'A34 closure at Stone (example)' switched on "
            "(from 2026-11-29 08:00 until 2026-11-30 20:00)",
        )
    ]
    assert diff(new, old)[0][:2] == ("announcements", "off")


def test_a_renumbering_with_an_announcement_on_needs_no_suggestion(swapped: Path) -> None:
    data = json.loads(swapped.read_text(encoding="utf-8"))
    data["announcements"][1]["enabled"] = True
    save(swapped, data)
    result = diff_files(MENU, swapped)
    assert result.changed and not result.suggestions


def test_settings_and_listening_time(tmp_path: Path) -> None:
    data = shipped()
    data["nodes"]["transfer_report_fraud"]["number"] = "+443001232041"
    data["nodes"]["crime_queue"]["say"]["en-GB"] += " Thank you."
    found = diff(shipped(), data)
    assert (
        "settings",
        "changed",
        'nodes.transfer_report_fraud.number: "+443001232040" → "+443001232041"',
    ) in found
    result = diff_menus(parse_menu(json.dumps(shipped())), parse_menu(json.dumps(data)))
    slower = [t for t in result.timings if t.changed]
    assert [(t.destination, t.language) for t in slower] == [("crime_queue", "en-GB")]
    assert slower[0].after - slower[0].before == pytest.approx(0.8)  # two words
    assert "+1s" in diff_report.text(result)


def test_against_a_git_revision(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    menu = write_menu(repo, minimal_menu())

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "menus.json")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "menu")
    data = minimal_menu()
    data["nodes"]["main"]["prompt"] = "Welcome to the new menu."
    save(menu, data)
    result = run("--git", "HEAD", str(menu))
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"menus.json@HEAD → {menu}:")
    assert (
        "nodes.main.prompt (every language)\n    was: Welcome.\n    now: Welcome to the new menu."
        in result.output
    )
    bad = run("--git", "no-such-revision", str(menu))
    assert bad.exit_code == 2
    assert "cannot read it from git" in bad.output


def test_usage() -> None:
    assert run().exit_code == 2
    assert run("--git", "HEAD", "a.json", "b.json").exit_code == 2
