"""One clock: `ivr paths` and the simulator agree on every route of the 101 menu.

`ivr paths` walks the rendered TwiML offline; here each route it found is played by the
simulator (`ivr call`), a caller who knows the menu (barge-in) doing exactly the route's steps.
The sentences heard and the moment the destination is reached must be the same.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import MENU, OFFICE_HOURS

from ivr import create_app
from ivr.authoring.paths import Route, walk_paths
from ivr.caller import Call, DialResult, Input, WSGITransport
from ivr.caller.strategy import DialTarget, GatherPrompt, QueueState
from ivr.caller.trace import CallEventKind
from ivr.menu import load_menu, parse_menu

ROUTES = [r for r in walk_paths(load_menu(MENU)).routes if "queue leave" not in r.steps]
"""Every route but leaving a queue for a callback (that needs the offer's own key presses)."""


class RouteCaller:
    """Does a route's steps in order: keys at once (barge-in), silences, and what each queue
    and transfer does; a queue the route reaches as its destination answers."""

    def __init__(self, steps: tuple[str, ...]) -> None:
        self.inputs: deque[Input] = deque()
        self.queues: deque[str] = deque()
        self.dials: deque[str] = deque()
        for step in steps:
            kind, _, value = step.partition(" ")
            if kind == "press":
                self.inputs.append(Input.press(value, barge_in=True))
            elif kind == "silence":
                self.inputs.append(Input.silence())
            elif kind == "queue":
                self.queues.append(value)
            elif kind == "dial":
                self.dials.append(value)

    def on_gather(self, prompt: GatherPrompt) -> Input:
        return self.inputs.popleft() if self.inputs else Input.hangup()

    def on_queue(self, state: QueueState) -> str:
        return self.queues.popleft() if self.queues else "answer"

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        status = self.dials.popleft() if self.dials else "completed"
        return DialResult(status, 60 if status == "completed" else 0)  # type: ignore[arg-type]


def test_the_walk_finds_the_routes_worth_checking() -> None:
    assert {r.label.split()[0] for r in ROUTES} == {"queue", "transfer", "message", "hang"}
    # Every destination (but the hang-up after leaving a queue, left out above), and each
    # route in Welsh too: the same keys after 9, which leads to the main menu in Welsh.
    destinations = {"crime_queue", "business_queue", "cyber_queue", "general_queue"}
    destinations |= {"transfer_report_fraud", "report_fraud_goodbye", "all_busy"}
    english = {(r.keys, r.destination) for r in ROUTES if r.language == "en-GB"}
    welsh = {(r.keys, r.destination) for r in ROUTES if r.language == "cy-GB"}
    assert {destination for _, destination in english} == destinations
    assert welsh == {(("9", *keys), destination) for keys, destination in english}
    assert len(english) + len(welsh) == len(ROUTES)


TOKEN = secrets.token_hex(8)


@functools.cache
def app_at(moment: datetime) -> Any:
    """The 101 menu's app with its clock fixed (one per moment the routes need)."""
    return create_app(
        {"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_MENU_FILE": str(MENU)}
        | {"IVR_NOW": moment, "IVR_LOG_LEVEL": "WARNING"}
    )


def assert_the_simulator_agrees(app: Any, route: Route) -> None:
    """Play ``route``'s inputs through the app in the simulator: it hears what the walk says,
    and reaches the destination (the enqueue, the dial, the hang-up) at the walk's time."""
    record = Call(
        WSGITransport(app), "http://localhost/voice", RouteCaller(route.steps), auth_token=TOKEN
    ).run()
    says = [e for e in record.events if e.kind == CallEventKind.SAY]
    reached = {"queue": CallEventKind.ENQUEUE, "transfer": CallEventKind.DIAL}.get(
        route.label.split()[0], CallEventKind.HANGUP
    )
    at = [e for e in record.events if e.kind == reached][-1].at
    if reached != CallEventKind.HANGUP:
        says = [e for e in says if e.at < at]
    assert [e.text for e in says] == list(route.heard)
    assert at == pytest.approx(route.seconds, abs=0.05)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: " ".join(r.keys) + " " + r.destination)
def test_paths_and_the_simulator_hear_the_same_and_arrive_together(route: Route) -> None:
    app = app_at(route.at or OFFICE_HOURS)
    assert_the_simulator_agrees(app, route)


# -- with an announcement switched on ----------------------------------------------------------


def _announcing() -> str:
    """menus.json with the A34 announcement (key 5) switched on all the time (no window)."""
    data = json.loads(Path(MENU).read_text(encoding="utf-8"))
    announcement = data["announcements"][0]
    announcement.update(enabled=True)
    announcement.pop("starts", None)
    announcement.pop("ends", None)
    return json.dumps(data)


ANNOUNCING = _announcing()
ANNOUNCED_ROUTES = [
    r for r in walk_paths(parse_menu(ANNOUNCING)).routes if "queue leave" not in r.steps
]


@functools.cache
def announcing_app(moment: datetime, folder: str) -> Any:
    menu = Path(folder) / "announcing.json"
    menu.write_text(ANNOUNCING, encoding="utf-8")
    return create_app(
        {"TESTING": True, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_MENU_FILE": str(menu)}
        | {"IVR_NOW": moment, "IVR_LOG_LEVEL": "WARNING"}
    )


def test_with_an_announcement_the_walk_hears_it_after_the_999_warning() -> None:
    quickest = [r for r in ANNOUNCED_ROUTES if r.destination == "crime_queue" and r.keys == ("1",)]
    assert quickest, "pressing 1 reaches the crime queue"
    for route in quickest:
        assert route.heard[0].startswith("Staffordshire Police.")
        assert "A34" in route.heard[1]


@pytest.mark.parametrize(
    "route", ANNOUNCED_ROUTES, ids=lambda r: " ".join(r.keys) + " " + r.destination
)
def test_with_an_announcement_paths_and_the_simulator_agree(
    route: Route, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = str(tmp_path_factory.getbasetemp())
    app = announcing_app(route.at or OFFICE_HOURS, folder)
    assert_the_simulator_agrees(app, route)
