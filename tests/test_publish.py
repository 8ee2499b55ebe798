"""`ivr publish`: a checked draft replaces the live menu in one step, the previous one kept for
`ivr publish --rollback`; the running app picks it up like any edit."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Twilio, minimal_menu, said

from ivr import create_app
from ivr.authoring import publish as publishing
from ivr.cli import cli


def draft_menu(prompt: str = "Welcome to the new menu.") -> dict[str, Any]:
    data = minimal_menu()
    data["nodes"]["main"]["prompt"] = prompt
    return data


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    live = tmp_path / "menus.json"
    live.write_text(json.dumps(minimal_menu(), indent=2), encoding="utf-8")
    draft = tmp_path / "menus.draft.json"
    draft.write_text(json.dumps(draft_menu(), indent=2), encoding="utf-8")
    return live, draft


def publish(live: Path, *args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(
        cli,
        ["publish", *args, "--to", str(live), "--scripts", str(live.parent / "calls")],
        **kwargs,
    )


def test_publish_checks_shows_the_diff_and_replaces_the_live_file(files) -> None:
    live, draft = files
    before = live.read_bytes()
    result = publish(live, str(draft), "--yes")
    assert result.exit_code == 0, result.output
    assert "validate --strict: passed" in result.output
    assert f"call scripts: skipped, no call scripts ({live.parent / 'calls'} does not exist)" in (
        result.output
    )
    assert (
        "nodes.main.prompt (every language)\n    was: Welcome.\n    now: Welcome to the new menu."
        in (result.output)
    )
    previous = live.parent / "menus.previous.json"
    assert f"{live}: published from {draft}; the menu it replaced is kept as {previous}" in (
        result.output
    )
    assert live.read_bytes() == draft.read_bytes()
    assert previous.read_bytes() == before
    # Nothing half-written left beside it.
    assert sorted(p.name for p in live.parent.iterdir()) == [
        "menus.draft.json",
        "menus.json",
        "menus.previous.json",
    ]


def test_a_draft_that_fails_strict_is_not_published(files) -> None:
    live, draft = files
    data = draft_menu()
    data["defaults"]["repeat_key"] = None  # a warning: no repeat key
    draft.write_text(json.dumps(data, indent=2), encoding="utf-8")
    before = live.read_bytes()
    result = publish(live, str(draft), "--yes")
    assert result.exit_code == 1
    assert "validate --strict: FAILED" in result.output
    assert "warning: nodes.main (line " in result.output
    assert f"{draft}: not published" in result.output
    assert live.read_bytes() == before
    draft.write_text('{"start": "nowhere"', encoding="utf-8")
    result = publish(live, str(draft), "--yes")
    assert result.exit_code == 1 and "error: (top level) (line 1" in result.output
    assert live.read_bytes() == before


def test_accept_warnings_publishes_a_draft_with_warnings_but_never_one_with_errors(files):
    """An incident announcement can put routes over their listening budget: the author can
    still publish it, seeing the warnings, but a draft with errors never goes live."""
    live, draft = files
    data = draft_menu()
    data["defaults"]["repeat_key"] = None  # a warning: no repeat key
    draft.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = publish(live, str(draft), "--yes", "--accept-warnings")
    assert result.exit_code == 0, result.output
    assert "validate: passed" in result.output
    assert "warning: nodes.main (line " in result.output
    assert live.read_bytes() == draft.read_bytes()
    before = live.read_bytes()
    draft.write_text('{"start": "nowhere"', encoding="utf-8")
    result = publish(live, str(draft), "--yes", "--accept-warnings")
    assert result.exit_code == 1 and "error: (top level) (line 1" in result.output
    assert live.read_bytes() == before


def test_it_will_not_publish_without_asking(files) -> None:
    live, draft = files
    before = live.read_bytes()
    result = publish(live, str(draft))  # CliRunner's stdin is not a terminal
    assert result.exit_code == 1
    assert "cannot ask for confirmation (stdin is not a terminal): pass --yes" in result.output
    assert live.read_bytes() == before


def test_it_asks_and_takes_no_for_an_answer(files, monkeypatch) -> None:
    live, draft = files
    before = live.read_bytes()
    monkeypatch.setattr("ivr.cli.authoring.interactive", lambda: True)  # as at a terminal
    result = publish(live, str(draft), input="n\n")
    assert result.exit_code == 1, result.output
    assert f"Publish {draft} as {live}? [y/N]" in result.output
    assert live.read_bytes() == before
    result = publish(live, str(draft), input="y\n")
    assert result.exit_code == 0, result.output
    assert live.read_bytes() == draft.read_bytes()


def test_rollback_puts_the_previous_menu_back_and_a_second_undoes_it(files) -> None:
    live, draft = files
    first = live.read_bytes()
    assert publish(live, str(draft), "--yes").exit_code == 0
    result = publish(live, "--rollback", "--yes")
    assert result.exit_code == 0, result.output
    assert (
        "nodes.main.prompt (every language)\n    was: Welcome to the new menu.\n    now: Welcome."
        in (result.output)
    )
    assert live.read_bytes() == first
    assert publish(live, "--rollback", "--yes").exit_code == 0
    assert live.read_bytes() == draft.read_bytes()


def test_rollback_needs_a_previous_menu(files) -> None:
    live, _ = files
    result = publish(live, "--rollback", "--yes")
    assert result.exit_code == 1
    assert "no previous menu to roll back to" in result.output


def test_the_draft_comes_from_the_setting(files, monkeypatch) -> None:
    live, draft = files
    monkeypatch.setenv("IVR_DRAFT_MENU_FILE", str(draft))
    assert publish(live, "--yes").exit_code == 0
    assert live.read_bytes() == draft.read_bytes()
    monkeypatch.delenv("IVR_DRAFT_MENU_FILE")
    assert publish(live, "--yes").exit_code == 2  # no draft named anywhere


def test_the_running_app_serves_the_published_menu(config, files) -> None:
    live, draft = files
    app = create_app(config | {"IVR_MENU_FILE": str(live), "IVR_MENU_RELOAD_SECONDS": 1})
    store = app.extensions["ivr"].store
    twilio = Twilio(app.test_client())
    assert said(twilio.twiml("/voice")).startswith("Welcome.")
    publishing.publish(draft.read_bytes(), live)
    store.monotonic = lambda: store._checked + 1
    assert said(twilio.twiml("/voice")).startswith("Welcome to the new menu.")


def test_the_live_file_keeps_its_permissions_and_a_failed_write_leaves_it(tmp_path, monkeypatch):
    live = tmp_path / "menus.json"
    live.write_text("old", encoding="utf-8")
    os.chmod(live, 0o640)
    publishing.replace_atomically(live, b"new")
    assert live.read_text() == "new"
    assert stat.S_IMODE(live.stat().st_mode) == 0o640

    def full_disk(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publishing.os, "replace", full_disk)
    with pytest.raises(OSError):
        publishing.replace_atomically(live, b"newer")
    assert live.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["menus.json"]


# -- call scripts (ivr test): run when the folder and the runner exist --------------------------


def write_script(folder: Path, heard: str) -> None:
    """A call script for the draft: the caller hears ``heard`` first."""
    folder.mkdir()
    (folder / "greeting.yaml").write_text(
        f'calls:\n  - name: greeting\n    steps:\n      - hear: "{heard}"\n', encoding="utf-8"
    )


@pytest.mark.parametrize(("heard", "passed"), [("the new menu", True), ("the old menu", False)])
def test_call_scripts_run_against_the_draft(files, heard, passed) -> None:
    live, draft = files
    write_script(live.parent / "calls", heard)
    result = publish(live, str(draft), "--yes")
    if passed:
        assert result.exit_code == 0, result.output
        assert "call scripts: passed\n  1 of 1 scenario(s) passed" in result.output
        assert (
            json.loads(live.read_text())["nodes"]["main"]["prompt"]
            == draft_menu()["nodes"]["main"]["prompt"]
        )
    else:
        assert result.exit_code == 1
        assert "call scripts: FAILED" in result.output
        assert "greeting.yaml::greeting" in result.output and "the old menu" in result.output
        assert "0 of 1 scenario(s) passed" in result.output
        assert json.loads(live.read_text())["nodes"]["main"]["prompt"] == "Welcome."
