"""Every route through a menu: the keys that reach each destination and how long it takes.

A destination is where a call leaves the menu: a queue, a transfer, or a message (or hang-up
node) after which the call ends. The time is what a caller listens to on the way, estimated from
the words the webhooks speak (at a stated speaking rate) plus pauses and, on routes that need
them, timeouts. A caller is assumed to press as soon as their option has been read out, as
Twilio's <Gather> allows; a route through a fallback waits out every attempt in full.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from ..menu import HangupNode, HoursNode, Menu, MenuNode, MessageNode, QueueNode, TransferNode
from ..menu.routing import edges, reachable

NO_ANSWER = "(no answer)"
CLOCK = frozenset({"(open)", "(closed)"})
"""Conditions the time of the call decides (hours nodes): a caller still gets there by keys."""


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
        data["seconds"] = round(self.seconds, 1)
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


class _Walker:
    def __init__(self, menu: Menu, words_per_minute: int, play_seconds: float) -> None:
        self.menu = menu
        self.rate = words_per_minute / 60.0
        self.play_seconds = play_seconds
        self.routes: list[Route] = []

    def said(self, *texts: Any, language: str) -> float:
        words = 0
        for text in texts:
            if text is not None:
                words += len(self.menu.text(text, language).split())
        return words / self.rate

    def walk(self) -> list[Route]:
        self.visit(self.menu.start, self.menu.defaults.language, (), (), 0.0, 0)
        return self.routes

    def visit(
        self,
        node_id: str,
        language: str,
        keys: tuple[str, ...],
        path: tuple[tuple[str, str], ...],
        seconds: float,
        menus: int,
    ) -> None:
        # A caller's place is the node and the language: choosing Welsh in a menu that leads
        # back to itself is a new place (the menu again, in Welsh), not a loop.
        if (node_id, language) in path or node_id not in self.menu.nodes:
            return  # a loop back (or a broken reference, which validation reports)
        path = (*path, (node_id, language))
        node = self.menu.node(node_id)
        menu = self.menu

        def arrive(label: str, extra: float) -> None:
            nodes = tuple(n for n, _ in path)
            self.routes.append(Route(node_id, label, keys, nodes, seconds + extra, menus, language))

        if isinstance(node, MessageNode):
            spent = self.said(node.say, language=language) * node.loop + node.pause
            if node.play is not None:
                spent += self.play_seconds * node.loop
            if node.next is None:
                arrive("message", spent)
            else:
                self.visit(node.next, language, keys, path, seconds + spent, menus)
        elif isinstance(node, MenuNode):
            # A language choice is not a level of the menu a caller has to find their way in,
            # whether it is a menu of its own or one option among others.
            depth = 0 if menu.is_language_choice(node) else 1
            so_far = self.said(node.prompt, language=language)
            for option in node.options:
                so_far += self.said(option.say, language=language)
                self.visit(
                    option.goto,
                    option.language or language,
                    (*keys, option.key),
                    path,
                    seconds + so_far,
                    menus + (0 if option.language else depth),
                )
            # The whole menu, the timeout and the "we did not hear" phrase, every attempt.
            whole = so_far + self.said(
                menu.phrase("repeat", language) if menu.repeat_key(node) else None,
                menu.phrase("back", language) if menu.back_key(node) else None,
                language=language,
            )
            notice = self.said(menu.phrase("silence", language, node), language=language)
            waited = menu.attempts(node) * (whole + menu.timeout(node) + notice)
            self.visit(
                node.fallback, language, (*keys, NO_ANSWER), path, seconds + waited, menus + depth
            )
        elif isinstance(node, QueueNode):
            spent = self.said(node.say, language=language)
            arrive(f"queue {node.queue}", spent)
            for condition, target in (
                ("(queue full)", node.on_full),
                ("(queue error)", node.on_error),
                ("(leaves queue)", node.on_leave),
            ):
                if target:
                    self.visit(target, language, (*keys, condition), path, seconds + spent, menus)
        elif isinstance(node, TransferNode):
            spent = self.said(node.say, language=language)
            arrive(f"transfer {node.number}", spent)
            self.visit(
                node.on_fail,
                language,
                (*keys, "(transfer fails)"),
                path,
                seconds + spent + node.timeout,
                menus,
            )
        elif isinstance(node, HangupNode):
            arrive("hang up", self.said(node.say, language=language))
        elif isinstance(node, HoursNode):
            # Either way may be taken, depending on the time of the call; a closure's own
            # message is not counted (it is said only on closure days).
            for condition, target in (("(open)", node.open), ("(closed)", node.closed)):
                self.visit(target, language, (*keys, condition), path, seconds, menus)


def _destinations(menu: Menu) -> set[str]:
    return {
        node_id
        for node_id, node in menu.nodes.items()
        if isinstance(node, QueueNode | TransferNode | HangupNode)
        or (isinstance(node, MessageNode) and node.next is None)
    }


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
    routes = _Walker(menu, words_per_minute, play_seconds).walk()
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
