"""Who is on the phone: the strategies that decide what the simulated caller does."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

InputKind = Literal["dtmf", "speech", "silence", "hangup"]
QueueChoice = Literal["wait", "answer", "hangup", "queue-full", "error"]
DialStatus = Literal["completed", "answered", "busy", "no-answer", "failed", "canceled"]

_KEYS = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class Input:
    """One thing the caller does when the call listens: keys, words, silence or hang-up."""

    kind: InputKind
    value: str = ""

    @classmethod
    def press(cls, keys: str) -> Input:
        if not _KEYS.match(keys):
            raise ValueError(f"keys must be 0-9, * or #: {keys!r}")
        return cls("dtmf", keys)

    @classmethod
    def say(cls, words: str) -> Input:
        return cls("speech", words)

    @classmethod
    def silence(cls) -> Input:
        return cls("silence")

    @classmethod
    def hangup(cls) -> Input:
        return cls("hangup")

    def __str__(self) -> str:
        if self.kind == "dtmf":
            return f"press {self.value}"
        if self.kind == "speech":
            return f"say {self.value!r}"
        return self.kind


@dataclass(frozen=True)
class GatherPrompt:
    """A <Gather> (or <Record>) waiting for the caller."""

    input: tuple[str, ...]
    num_digits: int | None
    finish_on_key: str
    timeout: float
    language: str | None = None
    hints: str | None = None
    in_queue: bool = False
    record: bool = False


@dataclass(frozen=True)
class QueueState:
    """Where the caller is in a queue. ``cycle`` is 0 on entry, then counts waitUrl runs."""

    queue: str
    sid: str
    position: int
    queue_time: int
    size: int
    cycle: int


@dataclass(frozen=True)
class DialTarget:
    """One party a <Dial> rings: kind is number, client, sip, queue, conference, sim or
    application."""

    kind: str
    value: str


@dataclass(frozen=True)
class DialResult:
    status: DialStatus = "completed"
    duration: int = 60


class Caller(Protocol):
    """What the person on the phone does at each point where the call waits for them."""

    def on_gather(self, prompt: GatherPrompt) -> Input: ...

    def on_queue(self, state: QueueState) -> QueueChoice: ...

    def on_dial(self, targets: list[DialTarget]) -> DialResult: ...


class ScriptedCaller:
    """Play a fixed list of inputs in order; hang up when they run out.

    In a queue: keep waiting ``queue_waits`` waitUrl cycles, then ``queue`` happens
    ("answer": a handler answers; "hangup": the caller gives up); ``"queue-full"`` makes
    the queue refuse the call on entry, and ``"error"`` makes Twilio fail to queue it
    (QueueResult=error). Gathers inside a waitUrl document take the next input
    too, but hear silence rather than a hang-up when the script has run out.
    """

    def __init__(
        self,
        steps: Iterable[Input] = (),
        *,
        queue: Literal["answer", "hangup", "queue-full", "error"] = "answer",
        queue_waits: int = 1,
        dial: DialResult | None = None,
    ) -> None:
        self.steps: deque[Input] = deque(steps)
        self.queue = queue
        self.queue_waits = queue_waits
        self.dial = dial or DialResult()

    def on_gather(self, prompt: GatherPrompt) -> Input:
        if self.steps:
            return self.steps.popleft()
        return Input.silence() if prompt.in_queue else Input("hangup", "end of script")

    def on_queue(self, state: QueueState) -> QueueChoice:
        if self.queue in ("queue-full", "error"):
            return self.queue
        if state.cycle < self.queue_waits:
            return "wait"
        return self.queue

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        return self.dial


def parse_input(line: str) -> Input:
    """Read what a person typed: keys (0-9 * #), ``h`` or ``hangup``, nothing (silence), or
    words (speech)."""
    text = line.strip()
    if not text:
        return Input.silence()
    if text.lower() in ("h", "hangup", "hang-up", "/hangup", "/h"):
        return Input.hangup()
    compact = text.replace(" ", "")
    if _KEYS.match(compact):
        return Input.press(compact)
    return Input.say(text)


class InteractiveCaller:
    """Ask a person at each point: ``ask(prompt)`` returns their line, EOFError hangs up."""

    def __init__(self, ask: Callable[[str], str]) -> None:
        self.ask = ask

    def _line(self, prompt: str) -> str | None:
        try:
            return self.ask(prompt)
        except (EOFError, KeyboardInterrupt):
            return None

    def on_gather(self, prompt: GatherPrompt) -> Input:
        accepts = []
        if "dtmf" in prompt.input:
            accepts.append("keys 0-9 * #")
        if "speech" in prompt.input:
            accepts.append("words to say")
        what = "record: words to say" if prompt.record else " or ".join(accepts)
        line = self._line(f"[{what}; Enter = silence; h = hang up]")
        return Input.hangup() if line is None else parse_input(line)

    def on_queue(self, state: QueueState) -> QueueChoice:
        options = "Enter = keep waiting, a = a handler answers, h = hang up"
        if state.cycle == 0:
            options += ", f = queue full, e = Twilio cannot queue the call"
        line = self._line(f"[in queue {state.queue!r}: {options}]")
        if line is None:
            return "hangup"
        choice = line.strip().lower()[:1]
        if choice == "a":
            return "answer"
        if choice == "h":
            return "hangup"
        if choice == "f" and state.cycle == 0:
            return "queue-full"
        if choice == "e" and state.cycle == 0:
            return "error"
        return "wait"

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        line = self._line("[dialling: Enter = answered, b = busy, n = no answer, f = failed]")
        choice = (line or "").strip().lower()[:1]
        statuses: dict[str, DialStatus] = {"b": "busy", "n": "no-answer", "f": "failed"}
        status = statuses.get(choice, "completed")
        return DialResult(status, 60 if status == "completed" else 0)
