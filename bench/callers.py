"""Virtual callers for the served benchmark and the soak: random walks through the menu.

A :class:`RandomCaller` is a strategy for the simulator's interpreter (``ivr.caller``): at
each prompt it presses an offered key, an invalid one, repeat or back, says something,
stays silent or hangs up; in a queue it holds a few cycles, then is answered, gives up, or
finds the queue full; a transfer connects, is busy or is not answered. So the calls reach
every kind of route: menus, invalid keys, silence, queues with hold cycles, transfers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlencode, urlsplit

from ivr.caller import DialResult, GatherPrompt, Input, QueueState
from ivr.caller import Response as CallerResponse
from ivr.caller.transport import TransportFailure

SPOKEN = ["report a crime", "fraud", "general enquiry", "something else", "um", "press two"]
INPUTS = (
    ("key", 55),
    ("invalid", 8),
    ("repeat", 5),
    ("back", 5),
    ("silence", 10),
    ("speech", 10),
    ("hangup", 7),
)


class RandomCaller:
    """A caller who does something different at every prompt (reproducible with ``seed``)."""

    def __init__(self, rng: random.Random | None = None, max_inputs: int = 12) -> None:
        self.rng = rng or random.Random()
        self.inputs = 0
        self.max_inputs = max_inputs
        self.queue_waits = self.rng.choice([0, 1, 1, 2, 3])
        roll = self.rng.random()
        self.queue_end = (
            "queue-full"
            if roll < 0.05
            else "error"
            if roll < 0.08
            else "hangup"
            if roll < 0.25
            else "answer"
        )
        self.kinds = [k for k, _ in INPUTS]
        self.weights = [w for _, w in INPUTS]

    def on_gather(self, prompt: GatherPrompt) -> Input:
        self.inputs += 1
        if prompt.in_queue:
            return Input.silence()
        if self.inputs > self.max_inputs:
            return Input.hangup()
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "key":
            return Input.press(self.rng.choice("12345"))
        if kind == "invalid":
            return Input.press(self.rng.choice("6789"))
        if kind == "repeat":
            return Input.press("*")
        if kind == "back":
            return Input.press("#")
        if kind == "speech" and "speech" in prompt.input:
            return Input.say(self.rng.choice(SPOKEN))
        if kind == "hangup":
            return Input.hangup()
        return Input.silence()

    def on_queue(self, state: QueueState):
        if state.cycle == 0 and self.queue_end in ("queue-full", "error"):
            return self.queue_end
        if state.cycle < self.queue_waits:
            return "wait"
        return "hangup" if self.queue_end == "hangup" else "answer"

    def on_dial(self, targets):
        status = self.rng.choice(["completed", "completed", "busy", "no-answer", "failed"])
        return DialResult(status, 60 if status == "completed" else 0)  # type: ignore[arg-type]


_NODE = re.compile(r"^/(node|menu|queue|transfer)/[^/]+")


def route_name(url: str) -> str:
    """The webhook a URL is for, node ids and queries left out: ``/menu/[id]``."""
    path = urlsplit(url).path
    return _NODE.sub(lambda m: f"/{m.group(1)}/[id]", path)


Send = Callable[[str, str, bytes, dict[str, str], str], tuple[int, str, bytes]]


class FormTransport:
    """A transport for the interpreter over any HTTP client: ``send(method, url, body,
    headers, name)`` returns ``(status, content type, body)``; status 0 is no answer."""

    def __init__(self, send: Send) -> None:
        self.send = send

    def request(
        self, method: str, url: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> CallerResponse:
        body = urlencode(params).encode() if method == "POST" else b""
        all_headers = dict(headers)
        if method == "POST":
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, content_type, data = self.send(method, url, body, all_headers, route_name(url))
        if status == 0:
            raise TransportFailure(f"no answer from {url}")
        return CallerResponse(status, content_type, data)
