"""Every route through a menu: the keys that reach each destination and how long it takes.

A destination is where a call leaves the menu: a queue, a transfer, or a message (or hang-up
node) after which the call ends. The walk asks the webhooks' own answers
(:class:`ivr.twiml.answers.Answers`: the router's decisions, rendered) what a caller hears at
each step, and times those documents with the simulator's clock (:mod:`ivr.caller.clock`):
so a route's listening time here is the moment ``ivr call --barge-in`` with the same keys
reaches the destination. A caller presses as soon as the prompt offering their key has been
heard; a route through a fallback waits out every attempt in silence.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..caller.clock import Clock, nested, spoken_text
from ..menu import HangupNode, HoursNode, Menu, MenuNode, QueueNode, TransferNode
from ..menu.hours import sample_moments
from ..menu.routing import QUEUE_RESULTS, edges, ends, reachable, switched_on
from ..twiml import Renderer, UrlRoutes
from ..twiml.answers import Answer, Answers

REFERENCE_WEEK = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
"""Where the walk looks for an open and a closed moment of each hours node (a Monday)."""
NO_ANSWER = "(no answer)"
CLOCK = frozenset({"(open)", "(closed)"})
"""Conditions the time of the call decides (hours nodes): a caller still gets there by keys."""

QUEUE_CONDITIONS = {"full": "(queue full)", "error": "(queue error)", "leave": "(leaves queue)"}
"""How a route names each way out of a queue (the branches are the router's)."""


@dataclass(frozen=True)
class Route:
    """One way from the start node to a destination."""

    destination: str
    """The destination node."""
    label: str
    """What the destination is: ``queue call-handlers``, ``transfer +44...``, ``message``."""
    keys: tuple[str, ...]
    """Keys pressed, and conditions such as ``(no answer)`` or ``(queue full)``, in order."""
    nodes: tuple[str, ...]
    seconds: float
    menus: int
    language: str
    heard: tuple[str, ...] = ()
    """Every sentence the caller hears on the way, in order (what the simulator transcribes)."""
    at: dt.datetime | None = None
    """The moment the route was walked at, when opening hours decide it."""
    steps: tuple[str, ...] = ()
    """What the caller and Twilio do on the way, in order: ``press 1``, ``silence``,
    ``queue queue-full`` / ``queue error`` / ``queue leave``, ``dial no-answer``."""

    @property
    def by_keys_only(self) -> bool:
        return all(not k.startswith("(") for k in self.keys)

    @property
    def pressed(self) -> tuple[str, ...]:
        """The keys the caller presses, without the conditions met on the way."""
        return tuple(k for k in self.keys if not k.startswith("("))

    @property
    def by_keys(self) -> bool:
        """Reached by pressing keys, at some time of day: nothing failed on the way (no
        silence, no full queue, no failed transfer)."""
        return all(not k.startswith("(") or k in CLOCK for k in self.keys)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keys"] = list(self.keys)
        data["nodes"] = list(self.nodes)
        data["heard"] = list(self.heard)
        data["steps"] = list(self.steps)
        data["seconds"] = round(self.seconds, 1)
        data["at"] = None if self.at is None else self.at.isoformat()
        return data


@dataclass(frozen=True)
class Finding:
    """Something wrong with the menu's routes; ``kind`` is dead-end, loop, unreachable, slow
    or deep."""

    kind: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.node}: {self.message}"


@dataclass
class PathReport:
    """All routes, the fastest to each destination, and the findings."""

    routes: list[Route]
    fastest: list[Route]
    """One per destination (the quickest), slowest first."""
    findings: list[Finding] = field(default_factory=list)
    words_per_minute: int = 150

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "words_per_minute": self.words_per_minute,
            "destinations": [r.as_dict() for r in self.fastest],
            "routes": [r.as_dict() for r in self.routes],
            "findings": [asdict(f) for f in self.findings],
        }


@dataclass(frozen=True)
class _Here:
    """Where the walk is: the node whose document plays, and what the caller did on the way."""

    node: str
    language: str
    keys: tuple[str, ...]
    nodes: tuple[str, ...]
    seconds: float
    menus: int
    heard: tuple[str, ...]
    at: dt.datetime | None
    steps: tuple[str, ...] = ()
    seen: frozenset[tuple[str, str]] = frozenset()
    """(node, language) pairs the route has been through."""

    def then(self, **changes: Any) -> _Here:
        return replace(self, **changes)


class _Walker:
    """Plays the menu's documents as a caller who knows the menu would, branch by branch."""

    def __init__(self, menu: Menu, clock: Clock) -> None:
        self.menu = menu
        self.clock = clock
        self.routes = UrlRoutes(menu.defaults.language)
        self.answers = Answers(menu, Renderer(menu, self.routes))
        self.found: list[Route] = []
        self._parsed: dict[str, ET.Element] = {}

    def walk(self) -> list[Route]:
        menu = self.menu
        start = _Here(menu.start, menu.defaults.language, (), (), 0.0, 0, (), None)
        # What /voice says: a switched-on announcement is heard (whatever its window: the
        # time is what callers spend while it plays), else the start node.
        announcements = switched_on(menu)
        if announcements:
            first = self.answers.start_with(announcements)
        else:
            first = self.answers.arrive(menu.start, start.language, REFERENCE_WEEK)
        self.document(first, start)
        return self.found

    def parsed(self, twiml: str) -> ET.Element:
        """A document's verbs, parsed once per walk (the renderer caches the documents)."""
        root = self._parsed.get(twiml)
        if root is None:
            root = self._parsed[twiml] = ET.fromstring(twiml)
        return root

    def arrive(self, here: _Here, label: str) -> None:
        self.found.append(
            Route(
                here.node,
                label,
                here.keys,
                here.nodes,
                here.seconds,
                here.menus,
                here.language,
                here.heard,
                here.at,
                here.steps,
            )
        )

    def enter(self, node_id: str, language: str, here: _Here) -> _Here | None:
        """The caller reaches ``node_id`` in ``language``: None when the route comes back to
        where it has been (a node in the same language: a language option may lead to its own
        menu, in another language, and that is a new place)."""
        if (node_id, language) in here.seen or node_id not in self.menu.nodes:
            return None  # a loop back (or a broken reference, which validation reports)
        return here.then(
            node=node_id,
            language=language,
            nodes=(*here.nodes, node_id),
            seen=here.seen | {(node_id, language)},
        )

    def document(self, answer: Answer, here: _Here) -> None:
        """Play one answer's verbs from the top; branch where the caller or Twilio decides."""
        step = answer.step
        if step is not None and (step.node, step.language) != (here.node, here.language):
            # The answer already holds the next node (a choice, an hours node resolved).
            entered = self.enter(step.node, step.language, here)
            if entered is None:
                return
            here = entered
        elif not here.nodes:
            entered = self.enter(here.node, here.language, here)
            assert entered is not None
            here = entered
        for verb in self.parsed(answer.twiml):
            tag = verb.tag
            if tag == "Say":
                here = here.then(
                    seconds=here.seconds + self.clock.verb_seconds(verb),
                    heard=(*here.heard, spoken_text(verb)),
                )
            elif tag in ("Play", "Pause"):
                here = here.then(seconds=here.seconds + self.clock.verb_seconds(verb))
            elif tag == "Gather":
                self.gather(verb, here)
                # Silence: Twilio plays everything, waits out the timeout and falls through.
                heard = tuple(spoken_text(v) for v in nested(verb) if v.tag == "Say")
                here = here.then(
                    seconds=here.seconds + self.clock.verb_seconds(verb),
                    heard=(*here.heard, *heard),
                    steps=(*here.steps, "silence"),
                )
            elif tag == "Redirect":
                self.redirect(verb.text or "", here)
                return
            elif tag == "Enqueue":
                self.enqueue(here)
                return
            elif tag == "Dial":
                self.dial(verb, here)
                return
            elif tag == "Hangup":
                node = self.menu.node(here.node)
                self.arrive(here, "hang up" if isinstance(node, HangupNode) else "message")
                return

    def gather(self, gather: ET.Element, here: _Here) -> None:
        """Each option of the menu whose prompt this is: the caller presses its key as soon as
        the prompt offering it has been heard."""
        place = self.routes.parse(gather.get("action", ""))
        # While announcements play, a key of the start menu is its answer (their own keys
        # are not routes of the menu itself).
        announcing = place.webhook == "announcement"
        node = self.menu.nodes.get(self.menu.start if announcing else place.node or "")
        if not (place.webhook == "menu" or announcing) or not isinstance(node, MenuNode):
            return
        attempt = place.number("attempt", 1)
        if attempt > 1:
            return  # after a silence the walk goes on to the fallback; keys are timed once
        for option in node.options:
            offset = self.clock.input_offset(gather, option.key)
            heard = []
            spent = 0.0
            for verb in nested(gather):
                if spent >= offset:
                    break
                if verb.tag == "Say":
                    heard.append(spoken_text(verb))
                spent += self.clock.verb_seconds(verb)
            # Choosing a language is not a level of the menu a caller finds their way through.
            level = not (option.language or self.menu.is_language_choice(node))
            pressed = here.then(
                keys=(*here.keys, option.key),
                seconds=here.seconds + offset,
                heard=(*here.heard, *heard),
                steps=(*here.steps, f"press {option.key}"),
                menus=here.menus + level,
            )
            if announcing:
                answer, _ = self.answers.announcement(option.key, here.language, REFERENCE_WEEK)
            else:
                answer = self.answers.choose(
                    node.id if hasattr(node, "id") else place.node or "",
                    option.key,
                    "",
                    attempt,
                    here.language,
                )
            step = answer.step
            if step is not None and (step.node, step.language) == (here.node, here.language):
                # The option leads back to this very place (Welsh offered again in Welsh):
                # a loop back; document() would take it for the menu already entered.
                continue
            self.document(answer, pressed)

    def redirect(self, url: str, here: _Here) -> None:
        place = self.routes.parse(url)
        language = place.params["lang"]
        if place.webhook == "menu" and place.node is not None:
            # The Gather fell through: Twilio posts no Digits.
            attempt = place.number("attempt", 1)
            answer = self.answers.choose(place.node, "", "", attempt, language)
            if answer.step is not None and answer.step.outcome == "fallback":
                menu = self.menu.node(place.node)
                level = not self.menu.is_language_choice(menu)
                here = here.then(keys=(*here.keys, NO_ANSWER), menus=here.menus + level)
            self.document(answer, here.then(language=language))
        elif place.webhook == "node" and place.node in self.menu.nodes:
            target = place.node
            # A step's document may already have put the caller there (a choice of an hours
            # node renders as a redirect to it).
            same = target == here.node and language == here.language
            entered = here if same else self.enter(target, language, here)
            if entered is None:
                return
            if isinstance(self.menu.node(target), HoursNode):
                self.hours(target, entered)
                return
            self.document(self.answers.arrive(target, language, REFERENCE_WEEK), entered)

    def hours(self, node_id: str, here: _Here) -> None:
        """Both ways out of an hours node, at a moment its weekly hours are open and closed
        (a closure's own message is said only on its days, and is left out)."""
        moments = sample_moments(self.menu.node(node_id), REFERENCE_WEEK)
        for outcome in ("open", "closed"):
            if outcome in moments:
                at = moments[outcome]
                answer = self.answers.arrive(node_id, here.language, at)
                self.document(answer, here.then(keys=(*here.keys, f"({outcome})"), at=at))

    def enqueue(self, here: _Here) -> None:
        node = self.menu.node(here.node)
        assert isinstance(node, QueueNode)
        self.arrive(here, f"queue {node.queue}")
        for edge in edges(self.menu, here.node):
            result = QUEUE_RESULTS[edge.branch]
            answer = self.answers.after_queue(here.node, here.language, result)
            steps = (*here.steps, f"queue {result}")
            condition = QUEUE_CONDITIONS[edge.branch]
            self.document(answer, here.then(keys=(*here.keys, condition), steps=steps))

    def dial(self, dial: ET.Element, here: _Here) -> None:
        node = self.menu.node(here.node)
        assert isinstance(node, TransferNode)
        self.arrive(here, f"transfer {node.number}")
        # Nobody answers: Twilio rings for the Dial's timeout, then asks the action.
        rang = float(dial.get("timeout") or 30)
        answer = self.answers.after_transfer(here.node, here.language, "no-answer")
        failed = here.then(
            keys=(*here.keys, "(transfer fails)"),
            seconds=here.seconds + rang,
            steps=(*here.steps, "dial no-answer"),
        )
        self.document(answer, failed)


def _destinations(menu: Menu) -> set[str]:
    """Where a call can finish: a queue, a transfer, or a node with no way out (the router's
    :func:`~ivr.menu.routing.ends`: a hang-up, a last message, any kind that ends the call)."""
    handed_on = {n for n, node in menu.nodes.items() if isinstance(node, QueueNode | TransferNode)}
    return handed_on | ends(menu)


def _in_cycle(menu: Menu, node_id: str) -> bool:
    seen: set[str] = set()
    todo = deque(e.target for e in edges(menu, node_id) if e.target != node_id)
    while todo:
        current = todo.popleft()
        if current == node_id:
            return True
        if current in seen or current not in menu.nodes:
            continue
        seen.add(current)
        todo.extend(e.target for e in edges(menu, current) if e.target != current)
    return False


def walk_paths(
    menu: Menu,
    *,
    words_per_minute: int = 150,
    max_seconds: float = 60.0,
    max_menus: int = 3,
    play_seconds: float = 10.0,
) -> PathReport:
    """Walk every route through ``menu`` and flag what a caller would suffer from."""
    routes = _Walker(menu, Clock(words_per_minute, play_seconds)).walk()
    findings: list[Finding] = []

    # Where no destination can be reached: a dead end, or a loop with no way out.
    destinations = _destinations(menu)
    can_finish = set(destinations)
    changed = True
    while changed:
        changed = False
        for node_id in menu.nodes:
            if node_id not in can_finish and any(
                e.target in can_finish for e in edges(menu, node_id)
            ):
                can_finish.add(node_id)
                changed = True
    reached = reachable(menu)
    for node_id in menu.nodes:
        if node_id not in reached:
            findings.append(Finding("unreachable", node_id, "no route from the start reaches it"))
        elif node_id not in can_finish:
            if _in_cycle(menu, node_id):
                findings.append(
                    Finding("loop", node_id, "a loop with no way out to a queue, transfer or end")
                )
            else:
                findings.append(Finding("dead-end", node_id, "leads nowhere a call can end"))

    # The quickest route to each destination, by keys alone where keys reach it at all: a
    # destination met only when something fails (no answer, queue full) is listed, not timed.
    best: dict[str, Route] = {}
    fewest_menus: dict[str, Route] = {}
    for route in routes:
        current = best.get(route.destination)
        if current is None or (route.by_keys_only, -route.seconds) > (
            current.by_keys_only,
            -current.seconds,
        ):
            best[route.destination] = route
        if route.by_keys_only and (
            route.destination not in fewest_menus
            or route.menus < fewest_menus[route.destination].menus
        ):
            fewest_menus[route.destination] = route
    for node_id, route in best.items():
        if not route.by_keys_only:
            continue
        if route.seconds > max_seconds:
            findings.append(
                Finding(
                    "slow",
                    node_id,
                    f"{route.label}: the quickest route (keys {' '.join(route.keys) or 'none'}) "
                    f"takes {route.seconds:.0f}s of listening, over {max_seconds:g}s",
                )
            )
        quickest = fewest_menus[node_id]
        if quickest.menus > max_menus:
            findings.append(
                Finding(
                    "deep",
                    node_id,
                    f"{route.label}: needs {quickest.menus} menus, more than {max_menus}",
                )
            )
    fastest = sorted(best.values(), key=lambda r: (-r.seconds, r.destination))
    routes.sort(key=lambda r: (-r.seconds, r.destination))
    return PathReport(routes, fastest, findings, words_per_minute)


def table(routes: list[Route]) -> str:
    """A Markdown table: destination, keys, listening time, menus."""
    lines = [
        "| destination | node | keys | listening | menus |",
        "|---|---|---|---:|---:|",
    ]
    for r in routes:
        keys = " ".join(r.keys) if r.keys else "(none)"
        lines.append(f"| {r.label} | `{r.destination}` | {keys} | {r.seconds:.0f}s | {r.menus} |")
    return "\n".join(lines)
