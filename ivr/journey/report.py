"""The call report's figures, worked out from the events the webhooks recorded.

Event kinds are the shared vocabulary (:class:`ivr.events.Kind`); where a caller went next is
what the webhooks recorded (``detail["next"]``), never worked out again here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..events import ARRIVALS as NODE_ARRIVALS
from ..events import HANDLER_LINE, Event, Kind
from ..menu import Menu, QueueNode, TransferNode
from ..menu.routing import DIAL_CONNECTED, QUEUE_ANSWERED, ends

# -- the vocabulary the report reads, as named sets of the shared event kinds ----------------
CALL_START = Kind.CALL_START
STATUS = Kind.STATUS
CHOICE = Kind.CHOICE
CALLBACK_OFFER = Kind.CALLBACK_OFFER
CALLBACK = Kind.CALLBACK
QUEUE = Kind.QUEUE
QUEUE_WAIT = Kind.QUEUE_WAIT
QUEUE_RESULT = Kind.QUEUE_RESULT
TRANSFER_RESULT = Kind.TRANSFER_RESULT
HANDLER_BRIDGED = Kind.HANDLER_BRIDGED
HANGUP = Kind.HANGUP
STAFF = HANDLER_LINE | {HANDLER_BRIDGED}
"""Kinds of the call-handler line (the staff number)."""
ARRIVALS = (NODE_ARRIVALS - {Kind.QUEUE, Kind.HOURS}) | {CALL_START}
"""Kinds that say the caller arrived at ``node`` (a node's own kind, or the call's start);
queues are counted by their own events."""
INPUT_KINDS = frozenset({CHOICE, CALLBACK_OFFER})
"""Kinds that carry a caller's answer to a question, right or wrong."""

PROBLEMS = ("invalid", "silence")


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Count, median and 95th percentile of some durations in seconds."""
    med, p95 = percentile(values, 50), percentile(values, 95)
    return {
        "count": len(values),
        "median": None if med is None else round(med, 1),
        "p95": None if p95 is None else round(p95, 1),
    }


@dataclass
class Report:
    """What ``ivr report`` shows; every field is plain data (``as_dict`` is JSON-ready)."""

    since: float | None
    until: float | None
    generated: float
    calls: dict[str, Any]
    choices: list[dict[str, Any]]
    hangups: list[dict[str, Any]]
    hot_spots: list[dict[str, Any]]
    queues: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    callbacks: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _detail(e: Event, *names: str) -> Any:
    for name in names:
        if e.detail.get(name) not in (None, ""):
            return e.detail[name]
    return None


PLACES = {Kind.QUEUE: "queue", Kind.TRANSFER: "transfer"}
"""Where a caller can hang up, by the kind of event that put them there: in a queue, during a
transfer, or (every other node, whatever its kind) in the menu."""


@dataclass(frozen=True)
class MenuFacts:
    """What the report needs to know about the menu's nodes (all optional)."""

    places: Mapping[str, str] = field(default_factory=dict)
    """Node id -> where a caller there is: ``queue``, ``transfer`` or ``menu``."""
    ends: frozenset[str] = frozenset()
    """Nodes after which the menu itself ends the call (hang-up nodes, final messages)."""
    queues: Mapping[str, str] = field(default_factory=dict)
    """Queue node -> Twilio queue name."""
    numbers: Mapping[str, str] = field(default_factory=dict)
    """Transfer node -> number dialled."""

    @classmethod
    def from_menu(cls, menu: Menu) -> MenuFacts:
        """Read the facts from the menu's model (the router says where the call ends)."""
        queues = {n: node.queue for n, node in menu.nodes.items() if isinstance(node, QueueNode)}
        numbers = {
            n: node.number for n, node in menu.nodes.items() if isinstance(node, TransferNode)
        }
        places = {
            n: "queue" if n in queues else "transfer" if n in numbers else "menu"
            for n in menu.nodes
        }
        return cls(places, ends(menu), queues, numbers)


@dataclass
class ReportBuilder:
    """Adds up calls, their events and callbacks into a :class:`Report`."""

    now: float
    facts: MenuFacts
    n_calls: int = 0
    staff_calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    choices: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    confidences: dict[tuple[str, str, str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    inputs: Counter[str] = field(default_factory=Counter)
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)
    hangups: Counter[tuple[str, str]] = field(default_factory=Counter)
    queue_names: dict[str, str] = field(default_factory=dict)
    reached: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    results: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    transfers: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    transfer_to: dict[str, str] = field(default_factory=dict)
    cb_requested: int = 0
    cb_done: int = 0
    cb_times: list[float] = field(default_factory=list)
    include_test_calls: bool = False
    test_calls: set[str] = field(default_factory=set)
    """Test callers' calls (``test`` on the call-start event), left out of the figures."""

    def add_call(self, call: Any, evs: list[Event]) -> None:
        if evs and all(e.kind in STAFF for e in evs if e.kind != STATUS):
            # A call handler's own call to the staff line (ivr/webhooks/handler.py).
            self.staff_calls += 1
            return
        if not self.include_test_calls and any(
            e.kind == CALL_START and e.detail.get("test") for e in evs
        ):
            # A tester trying the draft menu: their calls would distort the figures.
            self.test_calls.add(call.call_sid)
            return
        self.n_calls += 1
        self.statuses[call.status or "in progress"] += 1
        if call.duration is not None:
            self.durations.append(call.duration)
        facts = self.facts
        start = min([call.started] + [e.at for e in evs])
        place: tuple[str, str] | None = None
        terminal: str | None = None
        # Queue visits still open: node -> (earliest sign of entering, latest wait heard of).
        visits: dict[str, list[float]] = {}

        def enter(node: str, at: float) -> None:
            visit = visits.setdefault(node, [at, 0.0])
            visit[0] = min(visit[0], at)

        def leave(node: str, wait: float | None) -> None:
            entered, waited = visits.pop(node, [None, 0.0])
            self.reached[node].append(max(0.0, (entered if entered is not None else start) - start))
            self.waits[node].append(waited if wait is None else wait)

        def arrive(node: str, at: float, hint: str | None = None) -> tuple[str, str]:
            """The caller reached ``node`` (``hint``: the event that said so, for a node the
            menu no longer has)."""
            nonlocal terminal
            where = facts.places.get(node) or PLACES.get(hint or "", "menu")
            if where == "queue":
                enter(node, at)
            elif node in facts.ends or hint == HANGUP:
                terminal = terminal or "ended by the menu"
            return (where, node)

        for e in evs:
            node = e.node or ""
            if e.kind == STATUS:
                continue
            if e.kind in INPUT_KINDS and (e.kind == CHOICE or e.outcome in PROBLEMS):
                if e.outcome in (*PROBLEMS, "fallback"):
                    self.inputs[node] += 1
                    self.problems[(node, e.outcome)] += 1
                elif e.option is not None:
                    self.inputs[node] += 1
                    via = "key" if e.confidence is None else "speech"
                    choice = (node, e.key or "-", e.option, via)
                    self.choices[choice] += 1
                    if via == "speech":
                        # Per row: a key press beside it has no recogniser confidence.
                        self.confidences[choice].append(e.confidence)
                target = str(_detail(e, "next") or e.option or node)
                place = arrive(target, e.at) if target else place
            elif e.kind == QUEUE:
                enter(node, e.at)
                place = ("queue", node)
                queue = _detail(e, "queue", "Queue")
                if queue:
                    self.queue_names.setdefault(node, str(queue))
            elif e.kind == QUEUE_WAIT:
                waited = _int(_detail(e, "queue_time", "QueueTime")) or 0
                enter(node, e.at - waited)
                visits[node][1] = max(visits[node][1], waited)
                place = ("queue", node)
            elif e.kind == QUEUE_RESULT:
                result = str(_detail(e, "QueueResult") or e.outcome or "unknown").lower()
                waited = _int(_detail(e, "queue_time", "QueueTime"))
                if waited is not None:
                    enter(node, e.at - waited)
                self.results[node][result] += 1
                leave(node, waited)
                if result in QUEUE_ANSWERED:
                    terminal = terminal or "answered"
                elif result == "redirected":
                    terminal = terminal or "taken on by a call handler"
                elif result == "hangup":
                    self.hangups[("queue", node)] += 1
                    terminal = terminal or "hung up in a queue"
                elif result == "leave" and any(x.kind == CALLBACK for x in evs):
                    terminal = terminal or "callback requested"
                elif terminal is None:
                    # queue-full, leave, error: the caller goes on to another node.
                    after = _detail(e, "next")
                    place = arrive(str(after), e.at) if after else ("menu", node)
            elif e.kind == TRANSFER_RESULT:
                status = str(_detail(e, "DialCallStatus") or e.outcome or "unknown").lower()
                self.transfers[node][status] += 1
                if status in DIAL_CONNECTED:
                    terminal = terminal or "transferred"
                elif _detail(e, "next"):
                    place = arrive(str(_detail(e, "next")), e.at)
            elif e.kind == CALLBACK:
                terminal = terminal or "callback requested"
            elif e.kind == HANDLER_BRIDGED:
                # Played to the caller as a handler takes them: answered, whatever follows.
                terminal = terminal or "answered"
                waited = _int(_detail(e, "queue_time"))
                for visit in visits.values():
                    visit[1] = max(visit[1], waited or 0)
            elif e.kind in ARRIVALS:
                if e.kind == HANGUP:
                    terminal = terminal or "ended by the menu"
                if node:
                    place = arrive(node, e.at, e.kind)
        for node in list(visits):
            leave(node, None)
        last = max([e.at for e in evs], default=call.started)
        over = call.ended is not None or self.now - last > 3600
        if terminal is None and over:
            where = place or ("menu", "")
            self.hangups[where] += 1
            terminal = {
                "queue": "hung up in a queue",
                "transfer": "hung up during a transfer",
            }.get(where[0], "hung up in the menu")
        self.outcomes[terminal or "in progress"] += 1

    def add_callback(self, row: Any) -> None:
        if row.call_sid in self.test_calls:
            return
        self.cb_requested += 1
        if row.done_at is not None:
            self.cb_done += 1
            self.cb_times.append(row.done_at - row.requested_at)

    def build(self, since: float | None, until: float | None) -> Report:
        totals = Counter[str]()
        for (node, _key, _option, _via), n in self.choices.items():
            totals[node] += n
        choices = []
        for (node, key, option, via), n in sorted(
            self.choices.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])
        ):
            conf = self.confidences.get((node, key, option, via), [])
            choices.append(
                {
                    "node": node,
                    "key": key,
                    "option": option,
                    "via": via,
                    "count": n,
                    "share": round(n / totals[node], 3) if totals[node] else None,
                    "confidence_median": None if not conf else round(percentile(conf, 50), 2),
                }
            )
        hot = []
        for node in sorted({n for n, _ in self.problems}):
            invalid = self.problems[(node, "invalid")]
            silence = self.problems[(node, "silence")]
            hot.append(
                {
                    "node": node,
                    "inputs": self.inputs[node],
                    "invalid": invalid,
                    "silence": silence,
                    "gave_up": self.problems[(node, "fallback")],
                    "rate": round((invalid + silence) / self.inputs[node], 3)
                    if self.inputs[node]
                    else None,
                }
            )
        hot.sort(key=lambda r: (-(r["invalid"] + r["silence"]), r["node"]))
        hangups = [
            {"where": where, "node": node, "count": n}
            for (where, node), n in sorted(self.hangups.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        queues = []
        for node in sorted(set(self.reached) | set(self.results)):
            queues.append(
                {
                    "node": node,
                    "queue": self.facts.queues.get(node) or self.queue_names.get(node, node),
                    "reached": len(self.reached.get(node, [])),
                    "time_to_reach": summary(self.reached.get(node, [])),
                    "wait": summary(self.waits.get(node, [])),
                    "results": dict(sorted(self.results.get(node, Counter()).items())),
                }
            )
        transfers = [
            {
                "node": node,
                "number": self.facts.numbers.get(node) or self.transfer_to.get(node),
                "attempts": sum(c.values()),
                "outcomes": dict(sorted(c.items())),
            }
            for node, c in sorted(self.transfers.items())
        ]
        return Report(
            since=since,
            until=until,
            generated=self.now,
            calls={
                "total": self.n_calls,
                "handler_line": self.staff_calls,
                "test_calls": len(self.test_calls),
                "by_status": dict(sorted(self.statuses.items())),
                "outcomes": dict(sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
                "duration": summary(self.durations),
            },
            choices=choices,
            hangups=hangups,
            hot_spots=hot,
            queues=queues,
            transfers=transfers,
            callbacks={
                "requested": self.cb_requested,
                "completed": self.cb_done,
                "pending": self.cb_requested - self.cb_done,
                "time_to_complete": summary(self.cb_times),
            },
        )
