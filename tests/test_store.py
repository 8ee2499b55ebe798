"""Live edits: the running app picks up a changed menu file, refuses a broken one, and keeps
callers whose place in the menu vanished on their way."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import MENU, Twilio, minimal_menu, said, verbs, write_menu

from ivr import create_app
from ivr.logs import EscapeControl
from ivr.twiml import UrlRoutes
from ivr.webhooks.store import MenuStore


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rewrite(path: Path, data: dict[str, Any] | str) -> None:
    """Write a new version and move its mtime on, as a save a moment later would."""
    text = data if isinstance(data, str) else json.dumps(data, indent=2)
    stamp = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp + 2_000_000_000, stamp + 2_000_000_000))


@pytest.fixture
def menu_file(tmp_path: Path) -> Path:
    return write_menu(tmp_path, minimal_menu())


@pytest.fixture
def live(config: dict[str, Any], menu_file: Path) -> tuple[Any, Twilio, Clock]:
    app = create_app(config | {"IVR_MENU_FILE": str(menu_file), "IVR_MENU_RELOAD_SECONDS": 1})
    clock = Clock()
    store: MenuStore = app.extensions["ivr"].store
    store.monotonic = clock
    store._checked = clock()
    return app, Twilio(app.test_client()), clock


def test_an_edit_is_served_on_the_next_request_after_the_check_interval(live, menu_file) -> None:
    app, twilio, clock = live
    assert "Welcome." in said(twilio.twiml("/voice"))
    data = minimal_menu()
    data["nodes"]["main"]["prompt"] = "Welcome to the edited menu."
    rewrite(menu_file, data)
    clock.now += 0.5  # within the interval: not even a stat
    assert "Welcome." in said(twilio.twiml("/voice"))
    clock.now += 0.5
    assert "Welcome to the edited menu." in said(twilio.twiml("/voice"))


def test_a_broken_edit_is_refused_and_logged_with_its_location(
    live, menu_file, caplog: pytest.LogCaptureFixture
) -> None:
    app, twilio, clock = live
    data = minimal_menu()
    data["nodes"]["main"]["fallback"] = "queu"
    rewrite(menu_file, data)
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="ivr.store"):
        root = twilio.twiml("/voice")
    assert "Welcome." in said(root)  # the last good menu is still in service
    [record] = [r for r in caplog.records if r.name == "ivr.store"]
    assert "menu edit refused; the last good menu stays in service: " in record.getMessage()
    assert "nodes.main.fallback (line " in record.getMessage()
    # One line per record: the problems' line breaks are written escaped.
    EscapeControl().filter(record)
    assert "\n" not in record.getMessage() and "\\n  - nodes.main.fallback" in record.getMessage()
    assert "did you mean 'queue'" in record.getMessage()
    store = app.extensions["ivr"].store
    assert store.refused is not None and store.refused.problems[0].path == "nodes.main.fallback"

    # Not parsed again until the file changes again; then a good edit goes in.
    caplog.clear()
    clock.now += 1
    twilio.twiml("/voice")
    assert not [r for r in caplog.records if r.name == "ivr.store"]
    data["nodes"]["main"]["fallback"] = "queue"
    data["nodes"]["main"]["prompt"] = "Fixed."
    rewrite(menu_file, data)
    clock.now += 1
    assert "Fixed." in said(twilio.twiml("/voice"))
    assert store.refused is None


def test_invalid_json_mid_save_is_refused(live, menu_file) -> None:
    app, twilio, clock = live
    rewrite(menu_file, '{"start": "main", "nodes": {')
    clock.now += 1
    assert "Welcome." in said(twilio.twiml("/voice"))
    assert "invalid JSON" in str(app.extensions["ivr"].store.refused)


def test_a_missing_file_keeps_the_menu_in_service(live, menu_file) -> None:
    app, twilio, clock = live
    menu_file.unlink()  # an editor's save: delete, then write the new file
    clock.now += 1
    assert "Welcome." in said(twilio.twiml("/voice"))


def test_a_caller_whose_node_vanished_goes_to_the_start_with_an_apology(live, menu_file) -> None:
    app, twilio, clock = live
    data = minimal_menu()
    data["nodes"]["message"] = {"kind": "message", "say": "Hello.", "next": "bye"}
    data["nodes"]["main"]["options"][1]["goto"] = "message"
    rewrite(menu_file, data)
    clock.now += 1
    twilio.twiml("/voice")
    # The caller is in menu "main"; an edit renames it.
    renamed = copy.deepcopy(data)
    renamed["start"] = "top"
    renamed["nodes"]["top"] = renamed["nodes"].pop("main")
    renamed["nodes"]["top"]["prompt"] = "The new top menu."
    rewrite(menu_file, renamed)
    clock.now += 1
    root = twilio.twiml("/menu/main?attempt=1", Digits="2")
    text = said(root)
    assert text.startswith("Sorry, the menu has changed. Here is the start of the menu again.")
    assert "The new top menu." in text
    assert verbs(root) == ["Say", "Gather", "Redirect"]
    # And one whose message node went gets the same.
    root = twilio.twiml("/node/nowhere")
    assert said(root).startswith("Sorry, the menu has changed.")


def test_reload_off_never_looks_at_the_file(config, menu_file) -> None:
    app = create_app(config | {"IVR_MENU_FILE": str(menu_file), "IVR_MENU_RELOAD_SECONDS": 0})
    store = app.extensions["ivr"].store
    assert store.reload_every is None
    data = minimal_menu()
    data["nodes"]["main"]["prompt"] = "Edited."
    rewrite(menu_file, data)
    assert "Welcome." in said(Twilio(app.test_client()).twiml("/voice"))


def test_store_reload_if_changed_directly(menu_file) -> None:
    store = MenuStore(menu_file, lambda m: UrlRoutes("en-GB"))
    assert store.reload_if_changed() is False
    data = minimal_menu()
    data["nodes"]["bye"]["say"] = "Cheerio."
    rewrite(menu_file, data)
    assert store.reload_if_changed() is True
    assert store.served.menu.node("bye").say == "Cheerio."
    assert store.reload_if_changed() is False


def test_switching_an_announcement_on_by_editing_the_file(config, tmp_path: Path) -> None:
    data = json.loads(MENU.read_text(encoding="utf-8"))
    menu_file = write_menu(tmp_path, data)
    noon = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    app = create_app(
        config | {"IVR_MENU_FILE": str(menu_file), "IVR_MENU_RELOAD_SECONDS": 1, "IVR_NOW": noon}
    )
    clock = Clock()
    store = app.extensions["ivr"].store
    store.monotonic, store._checked = clock, clock()
    twilio = Twilio(app.test_client())
    assert "A34" not in said(twilio.twiml("/voice"))
    data["announcements"][0]["enabled"] = True
    rewrite(menu_file, data)
    clock.now += 1
    heard = said(twilio.twiml("/voice")).splitlines()
    assert heard[0].startswith("Staffordshire Police.")  # the 999 warning stays first
    assert heard[1].startswith("If you are calling about the road closure")


def test_an_edit_of_the_default_language_rebuilds_the_urls(live, menu_file) -> None:
    app, twilio, clock = live
    data = minimal_menu()
    data["defaults"]["language"] = "cy-GB"
    data["defaults"]["voice"] = "Polly.Gwyneth"
    data["defaults"]["speech"] = False
    rewrite(menu_file, data)
    clock.now += 1
    root = twilio.twiml("/voice")
    # The new default needs no lang= in the URLs (and en-GB is no longer a language here).
    assert root.find("Gather").get("action") == "/menu/main?attempt=1"
    assert root.find("Gather/Say").get("voice") == "Polly.Gwyneth"


DEEP = '{"start": "main",\n "nodes": ' + "[" * 100_000 + "]" * 100_000 + "}"
"""A hostile file: brackets nested 100,000 deep (Python's JSON parser recurses on them)."""


def test_a_menu_nested_100000_deep_is_a_located_problem(tmp_path, live, menu_file, caplog):
    from click.testing import CliRunner

    from ivr.cli import cli
    from ivr.errors import MenuError
    from ivr.menu import parse_menu

    with pytest.raises(MenuError) as refused:
        parse_menu(DEEP, "deep.json")
    [problem] = refused.value.problems
    # The 65th bracket deep: the menu's "{" is the first, so the 64th "[" of line 2.
    assert (problem.line, problem.column) == (2, len(' "nodes": ') + 64)
    assert "nested more than 64 levels deep" in problem.message
    # `ivr validate` says so, located, with no traceback.
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP, encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(deep)])
    assert result.exit_code == 1
    assert "(line 2, column 74): invalid JSON: nested more than 64 levels deep" in result.output
    assert "Traceback" not in result.output
    # The live reload keeps the last good menu, with one logged error.
    app, twilio, clock = live
    rewrite(menu_file, DEEP)
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="ivr.store"):
        assert "Welcome." in said(twilio.twiml("/voice"))
    [record] = [r for r in caplog.records if r.name == "ivr.store"]
    assert "nested more than 64 levels deep" in record.getMessage()
