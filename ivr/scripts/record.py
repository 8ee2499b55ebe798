"""Scripts written for you: a call as it happened, and a starting suite for a menu.

``ivr call --record`` writes the first; ``ivr test --generate`` the second, one script per
destination of the menu in every language.

Both write what ``ivr test`` reads, and both are checked by running what they wrote: a recorded
call replays green, and so does every generated script.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import yaml

from .. import settings
from ..authoring.paths import QUEUE_CONDITIONS, Route, walk_paths
from ..caller import CallRecord
from ..caller.trace import CallEventKind
from ..menu import (
    HangupNode,
    HoursNode,
    Menu,
    MenuNode,
    MessageNode,
    QueueNode,
    TransferNode,
    load_menu,
)
from ..menu.hours import is_open
from ..menu.routing import CALLBACK_ACCEPT, CALLBACK_OWN_NUMBER
from ..numbers import CALLBACK_EXAMPLE
from .model import SCHEMA_FILE
from .simulator import queue_word

DEFAULT_TO = "+441632960101"  # the simulator's default number called
MODELINE = "# yaml-language-server: $schema={schema}\n"


def _dump(data: Any, header: str, schema: str | None) -> str:
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return (MODELINE.format(schema=schema) if schema else "") + header + body


def _schema_for(file: Path) -> str | None:
    """Where callscript.schema.json is seen from ``file``'s folder: the one in the working
    directory, else in the file's folder or one above it; None (no modeline) when there is
    none, rather than a path to a file that does not exist."""
    folder = file.resolve().parent
    candidates = [Path.cwd().resolve(), folder, *folder.parents]
    found = next((c / SCHEMA_FILE for c in candidates if (c / SCHEMA_FILE).is_file()), None)
    if found is None:
        return None
    return Path(os.path.relpath(found, folder)).as_posix()


# -- a call as it happened ---------------------------------------------------------------------


def script_from_record(
    record: CallRecord,
    *,
    name: str = "recorded call",
    url: str | None = None,
    menu: str | None = None,
    at: dt.datetime | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
) -> dict[str, Any]:
    """A scenario that replays ``record``: the caller's inputs in order, what each queue and
    dial did, and the outcome as the expectation."""
    scenario: dict[str, Any] = {"name": name}
    if from_number:
        scenario["from"] = from_number
    if to_number:
        scenario["to"] = to_number
    if url:
        scenario["url"] = url
    else:
        if menu:
            scenario["menu"] = menu
        if at is not None:
            # The app's clock as it was: hours and announcements route the same on replay.
            scenario["at"] = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    results = [e.result for e in record.of_kind(CallEventKind.QUEUE_RESULT)]
    if results:
        queue = [queue_word(r or "") or "answer" for r in results]
        scenario["queue"] = queue[0] if len(set(queue)) == 1 else queue
        waits = [0]
        for event in record.of_kind(CallEventKind.ENQUEUE, CallEventKind.QUEUE_WAIT):
            if event.kind == CallEventKind.ENQUEUE:
                waits.append(0)
            else:  # a hold document
                waits[-1] += 1
        scenario["waits"] = max(waits)
    dials = [e.result for e in record.events if e.kind == CallEventKind.DIAL_RESULT]
    if dials:
        scenario["dial"] = dials[0] if len(set(dials)) == 1 else dials
    steps: list[dict[str, Any]] = []
    for event in record.events:
        if event.kind != CallEventKind.INPUT:
            continue
        if event.result == "dtmf":
            steps.append({"press": event.digits})
        elif event.result == "speech":
            steps.append({"say": event.speech})
        elif event.result == "silence":
            steps.append({"silence": True})
        elif event.result == "hangup" and not event.detail.get("note"):
            steps.append({"hangup": True})
    # Silence is what a queue's prompts hear once the steps run out: no need to spell it out.
    while steps and steps[-1] == {"silence": True} and _ends_in_queue(record):
        steps.pop()
    scenario["steps"] = steps
    scenario["expect"] = _expectation(record)
    return scenario


def _ends_in_queue(record: CallRecord) -> bool:
    last_input = max(
        (i for i, e in enumerate(record.events) if e.kind == CallEventKind.INPUT), default=-1
    )
    return any(e.kind == CallEventKind.ENQUEUE for e in record.events[:last_input])


def _expectation(record: CallRecord) -> dict[str, Any]:
    outcome = record.outcome
    assert outcome is not None
    expect: dict[str, Any] = {}
    match outcome.kind:
        case "enqueued":
            expect["queue"] = outcome.queue
            if outcome.queue_result != "bridged":
                expect["queue_result"] = outcome.queue_result
        case "dialled":
            expect["transfer"] = outcome.dialled[0] if outcome.dialled else None
        case "message":
            expect["message"] = outcome.heard[-1] if outcome.heard else ""
            expect["hangup"] = True
        case "hangup":
            expect["hangup"] = True
        case "caller-hangup":
            expect["hangup"] = False
        case other:
            expect["outcome"] = other
    languages = [e.language for e in record.events if e.kind == CallEventKind.SAY and e.language]
    if languages:
        expect["language"] = languages[-1]
    return expect


def record_call(
    file: str | Path,
    record: CallRecord,
    *,
    url: str | None,
    menu: str | None,
    from_number: str,
    to_number: str,
) -> Path:
    """Write the call ``record`` as a script (what ``ivr call --record FILE`` does).

    In-process, the app's clock was the real time (or IVR_NOW): the script fixes it with ``at``.
    """
    at = None
    if menu is not None:  # a script names its menu relative to its own folder
        menu = os.path.relpath(Path(menu).resolve(), Path(file).resolve().parent)
    if url is None:
        at = settings.load(dotenv=True)["IVR_NOW"] or dt.datetime.now(dt.UTC)
    scenario = script_from_record(
        record,
        name=Path(file).stem.removesuffix(".call"),
        url=url,
        menu=menu,
        at=at,
        from_number=from_number,
        to_number=to_number if to_number != DEFAULT_TO else None,
    )
    return write_record(file, scenario)


def script_text(scenario: dict[str, Any], file: str | Path | None = None) -> str:
    """A recorded scenario as the text of a call script (the softphone offers it as a
    download); ``file`` is where it will be saved, for the schema modeline's path."""
    where = f"`ivr test {file}`" if file else "`ivr test FILE`"
    header = f"# Recorded with `ivr call --record`; replay it with {where}.\n"
    schema = _schema_for(Path(file)) if file else SCHEMA_FILE
    return _dump(scenario, header, schema)


def write_record(file: str | Path, scenario: dict[str, Any]) -> Path:
    """Write a recorded scenario as a call script."""
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script_text(scenario, path), encoding="utf-8")
    return path


# -- a starting suite ----------------------------------------------------------------------------

# A route's words for a queue's way out (ivr paths names them), back to the branch.
_CONDITIONS = {words: b for b, words in QUEUE_CONDITIONS.items() if b in ("full", "error")}
LEAVES_QUEUE = QUEUE_CONDITIONS["leave"]
CALLBACK_WAITS = 5
"""Hold documents a generated callback script allows: the offer, the confirmation, and room."""


def _callback_settings(node: QueueNode) -> dict[str, Any]:
    """A call that is offered the callback: from a number the offer accepts, with a place in
    line and an average wait at the offer's thresholds."""
    offer = node.callback
    assert offer is not None
    found: dict[str, Any] = {"from": CALLBACK_EXAMPLE, "waits": CALLBACK_WAITS}
    if offer.after_position is not None:
        found["queue_position"] = offer.after_position
    if offer.after_wait is not None:
        found["average_wait"] = offer.after_wait
    return found


def _best_routes(menu: Menu) -> list[Route]:
    """The quickest route to each destination in each language, keys only where possible."""
    best: dict[tuple[str, str], Route] = {}
    for route in walk_paths(menu).routes:
        key = (route.destination, route.language)
        current = best.get(key)
        if current is None or (route.by_keys_only, -route.seconds) > (
            current.by_keys_only,
            -current.seconds,
        ):
            best[key] = route
    languages = list(menu.languages)
    return sorted(best.values(), key=lambda r: (r.destination, languages.index(r.language)))


def _moment(menu: Menu, wanted: list[tuple[HoursNode, bool]]) -> dt.datetime | None:
    """A time at which each hours node is as wanted (open or closed), searched hour by hour."""
    if not wanted:
        return None
    start = dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.UTC)  # a Monday
    for hour in range(24 * 28):
        moment = start + dt.timedelta(hours=hour, minutes=30)
        if all(is_open(node, moment)[0] == want for node, want in wanted):
            return moment
    return None


def _last_words(text: str) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    words = (sentences[-1] if sentences else text).split()
    return " ".join(words[-6:]).rstrip(".")


def scenario_for_route(menu: Menu, route: Route) -> dict[str, Any] | None:
    """A script that follows ``route``; None for a route a script cannot steer (a caller
    leaving a queue)."""
    keys = list(route.keys)
    steps: list[dict[str, Any]] = []
    queue: list[str] = []
    dial: list[str] = []
    hours: list[tuple[HoursNode, bool]] = []
    settings_: dict[str, Any] = {}
    for node_id in route.nodes:
        node = menu.node(node_id)
        last = node_id == route.destination
        if isinstance(node, MenuNode) and not last:
            key = keys.pop(0)
            if key == "(no answer)":
                steps.extend({"silence": True} for _ in range(menu.attempts(node)))
            else:
                steps.append({"press": key})
        elif isinstance(node, HoursNode):
            hours.append((node, keys.pop(0) == "(open)"))
        elif isinstance(node, QueueNode) and not last:
            condition = keys.pop(0)
            if condition == LEAVES_QUEUE and node.callback is not None:
                # Held long enough to be offered a call back, on the number called from.
                settings_ |= _callback_settings(node)
                steps += [{"press": CALLBACK_ACCEPT}, {"press": CALLBACK_OWN_NUMBER}]
                continue
            if condition not in _CONDITIONS:
                return None
            queue.append(_CONDITIONS[condition])
        elif isinstance(node, TransferNode) and not last:
            keys.pop(0)
            dial.append("busy")
    destination = menu.node(route.destination)
    scenario: dict[str, Any] = {"name": f"{route.label}: {' '.join(route.keys)} ({route.language})"}
    scenario |= settings_
    moment = _moment(menu, hours)
    if hours and moment is None:
        return None
    if moment is not None:
        scenario["at"] = moment.strftime("%Y-%m-%dT%H:%M+00:00")
    if isinstance(destination, QueueNode):
        queue.append("answer")
    if queue and set(queue) != {"answer"}:
        scenario["queue"] = queue
    if dial:
        scenario["dial"] = dial
    scenario["steps"] = steps
    expect: dict[str, Any] = {}
    if LEAVES_QUEUE in route.keys:
        expect["queue_result"] = "leave"  # the caller left the queue for the call back
    if isinstance(destination, QueueNode):
        expect["queue"] = destination.queue
    elif isinstance(destination, TransferNode):
        expect["transfer"] = destination.number
    elif isinstance(destination, MessageNode | HangupNode):
        if destination.say is not None:
            expect["message"] = _last_words(menu.text(destination.say, route.language))
        expect["hangup"] = True
    expect["language"] = route.language
    scenario["expect"] = expect
    return scenario


def generate(menu_file: str, folder: str | Path) -> tuple[list[Path], list[Route]]:
    """Write one script per destination of the menu, per language: the files written, and the
    routes no script can steer (a caller leaving a queue by the callback offer)."""
    menu = load_menu(menu_file)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    by_destination: dict[str, list[dict[str, Any]]] = {}
    skipped: list[Route] = []
    for route in _best_routes(menu):
        scenario = scenario_for_route(menu, route)
        if scenario is None:
            skipped.append(route)
            continue
        by_destination.setdefault(route.destination, []).append(scenario)
    written = []
    menu_path = Path(menu_file).resolve()
    for destination, calls in by_destination.items():
        file = out / f"{destination}.yaml"
        try:
            menu_ref = str(menu_path.relative_to(file.parent.resolve()))
        except ValueError:
            menu_ref = _relative(menu_path, file.parent.resolve())
        header = (
            f"# Generated by `ivr test --generate` from {menu_file}: the quickest route to "
            f"{destination!r} in each language.\n# Edit freely: add hear steps for what the "
            "caller must be told on the way.\n"
        )
        data = {"menu": menu_ref, "calls": calls}
        file.write_text(_dump(data, header, _schema_for(file)), encoding="utf-8")
        written.append(file)
    return written, skipped


def _relative(target: Path, folder: Path) -> str:
    return os.path.relpath(target, folder)
