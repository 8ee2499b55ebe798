"""A draft menu for test callers: IVR_DRAFT_MENU_FILE and IVR_TEST_CALLERS.

A test caller hears the draft for the whole call, from any worker (``menu=draft`` travels in
every URL); everyone else hears the published menu, which a broken draft never affects. Test
calls are marked in the journey log and left out of `ivr report`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from conftest import Twilio, minimal_menu, said

from ivr import create_app, settings
from ivr.cli import cli
from ivr.errors import ConfigError
from ivr.events import Event, Kind
from ivr.twiml import UrlRoutes

TESTER = "+447700900001"
PUBLIC = "+447700900002"
MARKER = "This is the DRAFT menu."


def draft_menu() -> dict[str, Any]:
    data = minimal_menu()
    data["nodes"]["main"]["prompt"] = MARKER
    data["nodes"]["message"]["say"] = "Draft message."
    return data


def write(path: Path, data: dict[str, Any] | str) -> Path:
    """Write a version, its modification time a moment after the last (a later save)."""
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    if before is not None:
        os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))
    return path


class Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    published = write(tmp_path / "menus.json", minimal_menu())
    draft = write(tmp_path / "menus.draft.json", draft_menu())
    return published, draft


def app_for(config: dict[str, Any], files: tuple[Path, Path], **more: Any) -> Any:
    published, draft = files
    return create_app(
        config
        | {
            "IVR_MENU_FILE": str(published),
            "IVR_DRAFT_MENU_FILE": str(draft),
            "IVR_TEST_CALLERS": frozenset({TESTER}),
        }
        | more
    )


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_two_callers_one_server_only_the_test_caller_hears_the_draft(config, files) -> None:
    twilio = Twilio(app_for(config, files).test_client())
    tester = twilio.twiml("/voice", From=TESTER)
    assert MARKER in said(tester)
    assert query(tester.find("Gather").get("action")) == {"attempt": ["1"], "menu": ["draft"]}
    public = twilio.twiml("/voice", From=PUBLIC)
    assert MARKER not in said(public)
    assert said(public).startswith("Welcome.")
    assert public.find("Gather").get("action") == "/menu/main?attempt=1"


def test_the_whole_call_stays_on_the_draft_whichever_worker_answers(config, files) -> None:
    first, second = app_for(config, files), app_for(config, files)
    root = Twilio(first.test_client()).twiml("/voice", From=TESTER)
    action = root.find("Gather").get("action")
    # The next webhook reaches another worker: the URL alone says which menu the call is on.
    root = Twilio(second.test_client()).twiml(action, From=TESTER, Digits="2")
    assert said(root) == "Draft message."
    assert root.find("Redirect").text == "/node/bye?menu=draft"
    root = Twilio(second.test_client()).twiml(action, From=TESTER, Digits="1")
    enqueue = root.find("Enqueue")
    assert query(enqueue.get("waitUrl")) == {"cycle": ["0"], "menu": ["draft"]}
    assert query(enqueue.get("action")) == {"menu": ["draft"]}


def test_caller_ids_are_compared_exactly_in_e164(config, files) -> None:
    twilio = Twilio(app_for(config, files).test_client())
    for caller in ("client:" + TESTER, "sip:" + TESTER + "@example.org", "Tester <" + TESTER + ">"):
        assert MARKER not in said(twilio.twiml("/voice", From=caller)), caller
    # The setting takes any UK form; Twilio's From is E.164.
    loaded = settings.load(environ={"IVR_TEST_CALLERS": "07700 900001, +44 7700 900003"})
    assert loaded["IVR_TEST_CALLERS"] == frozenset({TESTER, "+447700900003"})
    with pytest.raises(ConfigError, match="IVR_TEST_CALLERS: 'ring me' is not a phone number"):
        settings.load(environ={"IVR_TEST_CALLERS": "ring me"})


def test_a_broken_draft_is_refused_and_the_published_menu_is_never_affected(
    config, files, caplog: pytest.LogCaptureFixture
) -> None:
    published, draft = files
    write(draft, '{"start": "main", "nodes": {')
    with caplog.at_level(logging.ERROR, logger="ivr.store"):
        app = app_for(config, files, IVR_MENU_RELOAD_SECONDS=1)  # starts all the same
    assert any("draft menu refused" in r.getMessage() for r in caplog.records)
    twilio = Twilio(app.test_client())
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        root = twilio.twiml("/voice", From=TESTER)
    assert said(root).startswith("Welcome.")  # the published menu, said so in the log
    assert "/menu/main?attempt=1" == root.find("Gather").get("action")
    assert any(
        "a test caller hears the published menu: no draft in service (it was refused)"
        in r.getMessage()
        for r in caplog.records
    )
    # Fixed: the next call of a test caller hears it.
    draft_store = app.extensions["ivr"].menus.draft
    write(draft, draft_menu())
    draft_store.monotonic = lambda: draft_store._checked + 5
    assert MARKER in said(twilio.twiml("/voice", From=TESTER))
    assert said(twilio.twiml("/voice", From=PUBLIC)).startswith("Welcome.")


def test_the_draft_reloads_live_and_a_broken_edit_keeps_the_last_good_draft(
    config, files, caplog: pytest.LogCaptureFixture
) -> None:
    published, draft = files
    app = app_for(config, files, IVR_MENU_RELOAD_SECONDS=1)
    store = app.extensions["ivr"].menus.draft
    clock = [1000.0]
    store.monotonic = lambda: clock[0]
    store._checked = clock[0]
    twilio = Twilio(app.test_client())
    edited = draft_menu()
    edited["nodes"]["main"]["prompt"] = "The draft, edited."
    write(draft, edited)
    clock[0] += 1
    assert said(twilio.twiml("/voice", From=TESTER)).startswith("The draft, edited.")
    write(draft, '{"start": "nowhere", "nodes": {}}')
    clock[0] += 1
    with caplog.at_level(logging.ERROR, logger="ivr.store"):
        root = twilio.twiml("/voice", From=TESTER)
    assert said(root).startswith("The draft, edited.")
    [record] = [r for r in caplog.records if r.name == "ivr.store" and r.levelno >= logging.ERROR]
    assert "draft menu edit refused; the last good draft menu stays in service" in (
        record.getMessage()
    )
    assert said(twilio.twiml("/voice", From=PUBLIC)).startswith("Welcome.")


def test_without_a_draft_test_callers_hear_the_published_menu(
    config, files, caplog: pytest.LogCaptureFixture
) -> None:
    published, _ = files
    app = create_app(config | {"IVR_MENU_FILE": str(published), "IVR_TEST_CALLERS": {TESTER}})
    with caplog.at_level(logging.WARNING, logger="ivr.store"):
        root = Twilio(app.test_client()).twiml("/voice", From=TESTER)
    assert said(root).startswith("Welcome.")
    assert any("IVR_DRAFT_MENU_FILE is not set" in r.getMessage() for r in caplog.records)


def test_a_test_call_is_marked_at_its_start(config, files) -> None:
    events = Events()
    published, draft = files
    app = create_app(
        config
        | {
            "IVR_MENU_FILE": str(published),
            "IVR_DRAFT_MENU_FILE": str(draft),
            "IVR_TEST_CALLERS": frozenset({TESTER}),
        },
        recorder=events,
    )
    twilio = Twilio(app.test_client())
    twilio.call_sid = "CA" + "1" * 32
    twilio.twiml("/voice", From=TESTER, To="+441785000101")
    twilio.call_sid = "CA" + "2" * 32
    twilio.twiml("/voice", From=PUBLIC, To="+441785000101")
    starts = [e for e in events.events if e.kind == Kind.CALL_START]
    assert [e.detail for e in starts] == [
        {"to": "+441785000101", "test": True},
        {"to": "+441785000101"},
    ]


def test_the_report_leaves_test_calls_out_unless_asked(config, files, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journeys.db'}"
    app = app_for(config, files, DATABASE_URL=url)
    twilio = Twilio(app.test_client())
    for sid, caller in (("CA" + "1" * 32, TESTER), ("CA" + "2" * 32, PUBLIC)):
        twilio.call_sid = sid
        root = twilio.twiml("/voice", From=caller)
        twilio.twiml(root.find("Gather").get("action"), From=caller, Digits="1")
        twilio.post("/status", From=caller, CallStatus="completed", CallDuration="30")
    app.extensions["ivr"].journey.close()

    def report(*args: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["report", "--format", "json", "--database", url, *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    figures = report()
    assert (figures["calls"]["total"], figures["calls"]["test_calls"]) == (1, 1)
    assert [(c["node"], c["count"]) for c in figures["choices"]] == [("main", 1)]
    figures = report("--include-test-calls")
    assert (figures["calls"]["total"], figures["calls"]["test_calls"]) == (2, 0)


def test_every_url_of_the_draft_says_so() -> None:
    routes = UrlRoutes("en-GB", "/ivr", menu="draft")
    urls = [
        routes.node("a", "en-GB"),
        routes.choose("a", 2, "cy-GB"),
        routes.queue_wait("q", "en-GB", 3),
        routes.queue_result("q", "en-GB"),
        routes.transfer_result("t", "en-GB"),
        routes.recover("a", "en-GB"),
        routes.announcement("en-GB"),
        routes.queue_callback("q", "en-GB", "offer", 1, 2, 3),
    ]
    assert all(query(u)["menu"] == ["draft"] for u in urls), urls
    assert routes.choose("a", 2, "cy-GB") == "/ivr/menu/a?attempt=2&lang=cy-GB&menu=draft"
    assert "menu=" not in UrlRoutes("en-GB", "/ivr").node("a", "cy-GB")
