"""Routing: where a caller goes next. The one owner of every "next node" rule.

Each function is a pure decision ``(menu, node, what happened, clock) -> Step``: no Flask, no
TwiML, no I/O. The webhooks ask it, and record the answer; the paths walker, the report, the
softphone and call-script coverage read that answer or enumerate the same rules through
:func:`edges` - nobody works a route out again.

Every way out of a node is a *branch* with a stable name (``key 1``, ``repeat``, ``back``,
``invalid``, ``silence``, ``fallback``, ``next``, ``open``, ``closed``, ``closure 2026-12-25``,
``full``, ``error``, ``leave``, ``failed``, ``announcement 5``): :func:`edges` lists them from
the model, :func:`branch` names the one a recorded event took.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..events import Kind
from ..numbers import callback_number
from .hours import is_open
from .menu import Menu
from .model import (
    KEYS,
    Announcement,
    HangupNode,
    HoursNode,
    MenuNode,
    MessageNode,
    Node,
    Option,
    QueueNode,
    Text,
    TransferNode,
)

QUEUE_ANSWERED = frozenset({"bridged", "bridging-in-process", "redirected-from-bridged"})
"""QueueResult values that mean a call handler took the caller."""
QUEUE_ENDED = QUEUE_ANSWERED | {"hangup", "redirected"}
"""QueueResult values after which the call is over for the menu: the caller spoke to someone,
hung up, or was taken elsewhere by a call handler (Twilio's <Enqueue action>)."""
DIAL_CONNECTED = frozenset({"completed", "answered"})
"""DialCallStatus values that mean the transfer happened."""

CALLBACK_ATTEMPTS = 3
"""Tries at keying a callback number before the caller goes back to holding."""

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
    "hash": "#",
    "pound": "#",
}
_WORD = re.compile(r"[a-z0-9*#']+")


@dataclass(frozen=True)
class Step:
    """Where a caller goes next, and why."""

    node: str
    language: str
    attempt: int = 1
    notice: str | None = None
    """A phrase to say first: ``invalid``, ``silence``, ``moved``, ``apology``, ``queue_full``
    or ``transfer_failed``."""
    outcome: str = "next"
    """What happened: option, repeat, back, invalid, silence, fallback, next, moved, open,
    closed, closure, announcement, start, or Twilio's result word (queue-full, busy, ...)."""
    key: str | None = None
    confidence: float | None = None
    messages: tuple[Text, ...] = ()
    """Words to say before arriving: closures' own messages on the way through hours nodes."""
    closure: str | None = None
    """The closure (its first date, ISO) that shut an hours node."""


@dataclass(frozen=True)
class Match:
    """A caller's input matched to an option."""

    option: Option | None
    key: str | None
    confidence: float | None = None


class Edge(NamedTuple):
    """One way out of a node: its branch name, where it leads, and how the picture draws it."""

    node: str
    branch: str
    target: str
    label: str
    """The picture's label: the key (``1``, ``2 cy-GB``, ``# back``), ``fallback``, ``open``..."""
    style: str = "solid"
    """solid, or dashed for what happens when something fails (fallback, overflow)."""
    drawn: bool = True
    """False for branches the picture leaves out (repeat, retries, closures: loops and
    duplicates of a drawn edge)."""


# -- menus -----------------------------------------------------------------------------------


def match(menu: Menu, node: MenuNode, digits: str, speech: str, language: str) -> Match:
    """Match a key press or a spoken answer to one of ``node``'s options."""
    digits = digits.strip()
    if digits:
        key = digits[:1]
        return Match(next((o for o in node.options if o.key == key), None), key)
    words = _WORD.findall(speech.lower())
    if not words:
        return Match(None, None)
    # "press one", "two", "option 3": a spoken key.
    spoken_keys = [_DIGIT_WORDS.get(w, w) for w in words if _DIGIT_WORDS.get(w, w) in KEYS]
    if len(words) <= 3 and len(spoken_keys) == 1:
        key = spoken_keys[0]
        option = next((o for o in node.options if o.key == key), None)
        if option is not None:
            return Match(option, key, 1.0)
    said = " ".join(words)
    best: tuple[float, Option | None] = (0.0, None)
    for option in node.options:
        for phrase in menu.phrases(option, language):
            target = " ".join(_WORD.findall(phrase.lower()))
            if not target:
                continue
            if re.search(rf"\b{re.escape(target)}\b", said):
                # The longest phrase heard wins: "business crime" beats "crime".
                score = 1.0 + len(target) / 1000
            else:
                score = difflib.SequenceMatcher(None, target, said).ratio()
            if score > best[0]:
                best = (score, option)
    if best[1] is not None and best[0] >= 0.75:
        return Match(best[1], best[1].key, round(min(best[0], 1.0), 2))
    return Match(None, None, round(best[0], 2) if best[0] else None)


def choose(menu: Menu, node_id: str, digits: str, speech: str, attempt: int, language: str) -> Step:
    """The step after a caller answered (or did not answer) menu ``node_id``."""
    node = menu.nodes[node_id]
    if not isinstance(node, MenuNode):
        return Step(node_id, language, outcome="next")
    m = match(menu, node, digits, speech, language)
    if m.option is not None:
        return Step(
            m.option.goto,
            m.option.language or language,
            outcome="option",
            key=m.key,
            confidence=m.confidence,
        )
    if m.key is not None and m.key == menu.repeat_key(node):
        return Step(node_id, language, attempt=attempt, outcome="repeat", key=m.key)
    if m.key is not None and m.key == menu.back_key(node):
        return Step(node.back or menu.start, language, outcome="back", key=m.key)
    silent = m.key is None and not speech.strip()
    notice = "silence" if silent else "invalid"
    if attempt >= menu.attempts(node):
        return Step(node.fallback, language, notice=notice, outcome="fallback", key=m.key)
    return Step(
        node_id,
        language,
        attempt=attempt + 1,
        notice=notice,
        outcome=notice,
        key=m.key,
        confidence=m.confidence,
    )


# -- the clock: opening hours and announcements ------------------------------------------------


def hours(menu: Menu, node_id: str, language: str, at: dt.datetime) -> Step:
    """The step out of hours node ``node_id`` at ``at`` (an aware datetime)."""
    node = menu.nodes[node_id]
    if not isinstance(node, HoursNode):
        return Step(node_id, language, outcome="next")
    open_now, closure = is_open(node, at)
    if open_now:
        return Step(node.open, language, outcome="open")
    if closure is None:
        return Step(node.closed, language, outcome="closed")
    return Step(
        node.closed,
        language,
        outcome="closure",
        messages=(closure.say,),
        closure=closure.date.isoformat(),
    )


def resolve(menu: Menu, node_id: str, language: str, at: dt.datetime) -> Step:
    """Follow hours nodes from ``node_id`` to the node a caller hears, and what to say first.

    Validation forbids a loop made only of hours nodes, so this ends.
    """
    messages: list[Text] = []
    step = Step(node_id, language)
    while isinstance(menu.nodes.get(node_id), HoursNode):
        hop = hours(menu, node_id, language, at)
        messages.extend(hop.messages)
        node_id = hop.node
        step = hop
    return Step(
        node_id,
        language,
        outcome=step.outcome,
        messages=tuple(messages),
        closure=step.closure,
    )


def active_announcements(menu: Menu, at: dt.datetime) -> list[Announcement]:
    """The announcements that play for a call starting at ``at``, in file order."""
    return [a for a in menu.file.announcements if a.active(at)]


def switched_on(menu: Menu) -> list[Announcement]:
    """The announcements switched on, whatever their windows, in file order: what callers will
    hear while each plays (``ivr paths`` and the budgets count them)."""
    return [a for a in menu.file.announcements if a.enabled]


def announcement_key(
    menu: Menu, digits: str, language: str, at: dt.datetime
) -> tuple[Step, Announcement | None]:
    """Where a key pressed during the start-of-call announcements leads, and whose key it was.

    An announcement's own key goes to its node. A caller who knows the menu may press ahead
    (1 for English): that is their answer to the start menu when it is one of its options.
    Anything else starts the menu.
    """
    key = digits.strip()[:1]
    found = next((a for a in active_announcements(menu, at) if key and a.key == key), None)
    if found is not None and found.goto is not None:
        return Step(found.goto, language, outcome="announcement", key=key), found
    start = menu.nodes.get(menu.start)
    if isinstance(start, MenuNode) and match(menu, start, digits, "", language).option:
        return choose(menu, menu.start, digits, "", 1, language), found
    return Step(menu.start, language, outcome="start", key=key or None), found


# -- queues and transfers ----------------------------------------------------------------------


QUEUE_RESULTS = {"full": "queue-full", "error": "error", "leave": "leave"}
"""For each branch out of a queue, a ``QueueResult`` that takes it (``ivr paths`` tries each)."""


def _queue_exits(node: QueueNode) -> dict[str, str | None]:
    """Each branch out of a queue and where it leads (``leave`` only where the node says)."""
    return {"full": node.on_full, "error": node.on_error, "leave": node.on_leave}


def queue_branch(node: QueueNode | None, result: str) -> str | None:
    """The branch Twilio's ``QueueResult`` takes out of queue ``node`` (None: the call is over).

    A ``leave`` from a queue with no ``on_leave`` goes where errors go, so it takes the error
    branch. Without the node (a call on a menu that is gone) ``leave`` is taken at its word.
    """
    if result in QUEUE_ENDED:
        return None
    if result == "queue-full":
        return "full"
    if result == "leave" and (node is None or node.on_leave is not None):
        return "leave"
    return "error"


def after_queue(menu: Menu, node_id: str, language: str, result: str) -> Step | None:
    """Where a caller goes after ``<Enqueue>`` ends with Twilio's ``QueueResult``.

    ``None``: the call is over (answered, hung up, or taken elsewhere).
    """
    node: QueueNode = menu.node(node_id)
    taken = queue_branch(node, result)
    if taken is None:
        return None
    target = _queue_exits(node)[taken]
    assert target is not None
    # A caller who chose to leave (a callback) hears no apology; error, system-error, or
    # anything Twilio adds later: apologise and route on.
    notice = "queue_full" if taken == "full" else None if result == "leave" else "apology"
    return Step(target, language, notice=notice, outcome=result or "error")


def after_transfer(menu: Menu, node_id: str, language: str, status: str) -> Step | None:
    """Where a caller goes after ``<Dial>`` ends with Twilio's ``DialCallStatus``."""
    node: TransferNode = menu.node(node_id)
    if status in DIAL_CONNECTED:
        return None
    return Step(node.on_fail, language, notice="transfer_failed", outcome=status or "failed")


# -- the callback offer while holding ----------------------------------------------------------


def offers_callback(node: QueueNode, position: int, avg_wait: int) -> bool:
    """Whether to offer a callback to a caller at ``position`` with Twilio's ``avg_wait``
    (seconds, Twilio's ``AvgQueueTime``)."""
    offer = node.callback
    if offer is None:
        return False
    if offer.after_position is None and offer.after_wait is None:
        return True
    return (offer.after_position is not None and position >= offer.after_position) or (
        offer.after_wait is not None and avg_wait >= offer.after_wait
    )


@dataclass(frozen=True)
class CallbackStep:
    """The next move in the callback offer (see :func:`callback`).

    ``then``: ``hold`` (back to the queue's hold loop), ``confirm`` (ask to confirm the caller's
    own number), ``enter`` (ask for a number; ``attempt`` counts tries), ``confirmed`` (the
    request is made for ``number``; the caller leaves the queue).
    """

    then: str
    outcome: str
    """offered, declined, confirm, enter, invalid, requested, gave-up."""
    number: str | None = None
    attempt: int = 1
    notices: tuple[str, ...] = ()
    """Phrases to say first: ``callback_invalid``, ``callback_back_to_queue``."""
    own: str | None = None
    """The caller's own number when it can be rung back (to read its last digits)."""


NOT_STORED = CallbackStep("hold", "not-stored", notices=("callback_failed",))
"""The request could not be stored: nothing is promised, and the caller holds on."""


CALLBACK_ACCEPT = "1"
"""The key that takes the callback offer while holding."""
CALLBACK_OWN_NUMBER = "1"
"""At the confirmation: call back the number the caller rang from."""
CALLBACK_OTHER_NUMBER = "2"
"""At the confirmation: key another number."""


def callback(step: str, digits: str, caller: str | None, attempt: int = 1) -> CallbackStep:
    """The decision at one step of the offer: ``offer`` (a key pressed while holding),
    ``confirm`` (1: the caller's own number, 2: another) or ``number`` (a keyed number)."""
    digits = (digits or "").strip()
    own = callback_number(caller)
    if step == "offer":
        if digits != CALLBACK_ACCEPT:
            # Silence is the offer timing out: hold on quietly; another key: say so.
            back = ("callback_back_to_queue",) if digits else ()
            return CallbackStep("hold", "declined", notices=back)
        if own is None:
            # Withheld, international or not callable: ask for a number straight away.
            return CallbackStep("enter", "enter")
        return CallbackStep("confirm", "offered", own=own)
    if step == "confirm":
        if digits == CALLBACK_OWN_NUMBER and own is not None:
            return CallbackStep("confirmed", "requested", number=own)
        if digits == CALLBACK_OTHER_NUMBER or own is None:
            return CallbackStep("enter", "enter")
        return CallbackStep("hold", "declined", notices=("callback_back_to_queue",))
    if step == "number":
        number = callback_number(digits)
        if number is not None:
            return CallbackStep("confirmed", "requested", number=number)
        if attempt >= CALLBACK_ATTEMPTS:
            return CallbackStep(
                "hold", "gave-up", notices=("callback_invalid", "callback_back_to_queue")
            )
        return CallbackStep("enter", "invalid", attempt=attempt + 1, notices=("callback_invalid",))
    return CallbackStep("hold", "declined")


# -- the shape of the menu: every branch, and which one an event took --------------------------


def edges(menu: Menu, node_id: str) -> Iterator[Edge]:
    """Every way out of a node, from the same rules the functions above apply."""
    node = menu.nodes[node_id]
    if isinstance(node, MenuNode):
        for o in node.options:
            label = o.key if o.language is None else f"{o.key} {o.language}"
            yield Edge(node_id, f"key {o.key}", o.goto, label)
        repeat = menu.repeat_key(node)
        if repeat:
            yield Edge(node_id, "repeat", node_id, f"{repeat} repeat", drawn=False)
        back = menu.back_key(node)
        if back and node.back is not None:
            yield Edge(node_id, "back", node.back, f"{back} back")
        if menu.attempts(node) > 1:
            yield Edge(node_id, "invalid", node_id, "invalid", "dashed", drawn=False)
            yield Edge(node_id, "silence", node_id, "silence", "dashed", drawn=False)
        yield Edge(node_id, "fallback", node.fallback, "fallback", "dashed")
    elif isinstance(node, MessageNode):
        if node.next:
            yield Edge(node_id, "next", node.next, "next")
    elif isinstance(node, QueueNode):
        for name, target in _queue_exits(node).items():
            if target is not None:
                yield Edge(node_id, name, target, name, "dashed")
    elif isinstance(node, TransferNode):
        yield Edge(node_id, "failed", node.on_fail, "failed", "dashed")
    elif isinstance(node, HoursNode):
        yield Edge(node_id, "open", node.open, "open")
        yield Edge(node_id, "closed", node.closed, "closed")
        for closure in node.closures:
            when = closure.date.isoformat()
            yield Edge(node_id, f"closure {when}", node.closed, f"closed {when}", drawn=False)
    elif not isinstance(node, HangupNode):  # pragma: no cover - the model admits no other kinds
        raise TypeError(f"unknown node kind {type(node).__name__}")


def announcement_edges(menu: Menu) -> Iterator[Edge]:
    """The keys offered by enabled announcements, each a way from the start of the call."""
    for a in menu.file.announcements:
        if a.enabled and a.key is not None and a.goto is not None:
            yield Edge("(announcement)", f"announcement {a.key}", a.goto, a.key)


BRANCHING = frozenset(
    {Kind.CHOICE, Kind.HOURS, Kind.QUEUE_RESULT, Kind.TRANSFER_RESULT, Kind.ANNOUNCEMENT}
)
"""Kinds of event that record a decision at the node they name, so :func:`branch` names the
branch taken (a message's ``next`` is taken by arriving where it leads)."""


def branch(
    kind: str,
    outcome: str | None,
    key: str | None,
    detail: dict[str, Any],
    node: Node | None = None,
) -> str | None:
    """The branch (as :func:`edges` names it) that a recorded event took, if it took one.

    ``node`` is the menu's node the event happened at, when it is known: a queue's result
    needs it (see :func:`queue_branch`).
    """
    if kind == Kind.CHOICE:
        if outcome == "option" and key:
            return f"key {key}"
        return outcome if outcome in ("repeat", "back", "invalid", "silence", "fallback") else None
    if kind == Kind.HOURS:
        if outcome == "closure" and detail.get("closure"):
            return f"closure {detail['closure']}"
        return outcome if outcome in ("open", "closed") else None
    if kind == Kind.QUEUE_RESULT:
        if outcome is None:
            return None
        return queue_branch(node if isinstance(node, QueueNode) else None, outcome)
    if kind == Kind.TRANSFER_RESULT:
        return None if outcome in DIAL_CONNECTED else "failed"
    if kind == Kind.ANNOUNCEMENT and outcome == "announcement" and key:
        return f"announcement {key}"
    if kind == Kind.MESSAGE:
        return "next"
    return None


def ends(menu: Menu) -> frozenset[str]:
    """The nodes after which the menu itself ends the call: no way out of them."""
    return frozenset(node_id for node_id in menu.nodes if next(edges(menu, node_id), None) is None)


def reachable(menu: Menu) -> set[str]:
    """Every node some route from the start (or an announcement, or a fault) reaches."""
    seen = {menu.start}
    todo = deque([menu.start])
    roots = [menu.defaults.error_node] + [a.goto for a in menu.file.announcements]
    for root in roots:
        if root and root in menu.nodes and root not in seen:
            seen.add(root)
            todo.append(root)
    while todo:
        for edge in edges(menu, todo.popleft()):
            if edge.target in menu.nodes and edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return seen
