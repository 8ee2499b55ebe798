"""Who is on the phone: the strategies that decide what the simulated caller does."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args

InputKind = Literal["dtmf", "speech", "silence", "hangup"]
QueueChoice = Literal[
    "wait",
    "answer",
    "hangup",
    "queue-full",
    "error",
    "system-error",
    "redirected",
    "redirected-from-bridged",
    "bridging-in-process",
]
DialStatus = Literal["completed", "answered", "busy", "no-answer", "failed", "canceled"]
DialEnd = Literal["callee", "caller", "star"]
ON_ENTRY: frozenset[str] = frozenset({"queue-full", "error", "system-error"})
"""Queue outcomes that happen as the caller arrives: the call is never enqueued."""
QUEUE_CHOICES: frozenset[str] = frozenset(get_args(QueueChoice))


def queue_result_of(choice: str) -> str:
    """The QueueResult Twilio sends for a queue choice (``answer`` is Twilio's ``bridged``)."""
    return "bridged" if choice == "answer" else choice


def queue_choice_for(result: str) -> str | None:
    """The queue choice that makes the simulator send QueueResult ``result`` (None: no
    choice does, e.g. ``leave``, which the caller's own keys cause)."""
    for choice in QUEUE_CHOICES - {"wait"}:
        if queue_result_of(choice) == result:
            return choice
    return None


_KEYS = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class Input:
    """One thing the caller does when the call listens: keys, words, silence or hang-up.

    ``barge_in`` (keys): press as soon as the nested prompt offering the first key has been
    heard, cutting the rest short, as Twilio allows (None: the caller's own default; see
    :mod:`ivr.caller.clock`). ``then`` (words at a <Record>): the key that ends the recording
    after them, or ``"hangup"``.
    """

    kind: InputKind
    value: str = ""
    barge_in: bool | None = None
    then: str | None = None

    @classmethod
    def press(cls, keys: str, *, barge_in: bool | None = None) -> Input:
        if not _KEYS.match(keys):
            raise ValueError(f"keys must be 0-9, * or #: {keys!r}")
        return cls("dtmf", keys, barge_in=barge_in)

    @classmethod
    def say(cls, words: str, *, then: str | None = None) -> Input:
        if then is not None and then != "hangup" and not (len(then) == 1 and _KEYS.match(then)):
            raise ValueError(f"then must be one key or 'hangup': {then!r}")
        return cls("speech", words, then=then)

    @classmethod
    def silence(cls) -> Input:
        return cls("silence")

    @classmethod
    def hangup(cls) -> Input:
        return cls("hangup")

    def __str__(self) -> str:
        if self.kind == "dtmf":
            return f"press {self.value}" + (" (barge-in)" if self.barge_in else "")
        if self.kind == "speech":
            return f"say {self.value!r}" + (f" then {self.then}" if self.then else "")
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
    """How a <Dial> goes: Twilio's ``DialCallStatus``, how long the parties talk once
    connected, and who ends it: the ``callee`` hangs up, the ``caller`` hangs up (Twilio still
    requests the action), or the caller presses ``star`` (ends the call leg when the Dial has
    ``hangupOnStar``)."""

    status: DialStatus = "completed"
    duration: int = 60
    ended_by: DialEnd = "callee"


class Caller(Protocol):
    """What the person on the phone does at each point where the call waits for them."""

    def on_gather(self, prompt: GatherPrompt) -> Input: ...

    def on_queue(self, state: QueueState) -> QueueChoice: ...

    def on_dial(self, targets: list[DialTarget]) -> DialResult: ...


class ScriptedCaller:
    """Play a fixed list of inputs in order; hang up when they run out.

    In a queue: keep waiting ``queue_waits`` waitUrl cycles, then ``queue`` happens (any
    Twilio QueueResult: "answer" for bridged, "hangup": the caller gives up, "redirected",
    "redirected-from-bridged", "bridging-in-process"); "queue-full", "error" and
    "system-error" happen on entry instead. Gathers inside a waitUrl document take the next
    input too, but hear silence rather than a hang-up when the script has run out.

    ``barge_in``: every key step (that does not say otherwise) is pressed as soon as the
    prompt offering it has been heard.
    """

    def __init__(
        self,
        steps: Iterable[Input] = (),
        *,
        queue: QueueChoice = "answer",
        queue_waits: int = 1,
        dial: DialResult | None = None,
        barge_in: bool = False,
    ) -> None:
        if queue not in QUEUE_CHOICES or queue == "wait":
            raise ValueError(f"unknown queue outcome {queue!r}")
        self.steps: deque[Input] = deque(steps)
        self.queue = queue
        self.queue_waits = queue_waits
        self.dial = dial or DialResult()
        self.barge_in = barge_in

    def on_gather(self, prompt: GatherPrompt) -> Input:
        if self.steps:
            step = self.steps.popleft()
            if step.kind == "dtmf" and step.barge_in is None:
                step = replace(step, barge_in=self.barge_in)
            return step
        return Input.silence() if prompt.in_queue else Input("hangup", "end of script")

    def on_queue(self, state: QueueState) -> QueueChoice:
        if self.queue in ON_ENTRY:
            return self.queue
        if state.cycle < self.queue_waits:
            return "wait"
        return self.queue

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        return self.dial


_HANGUP_WORDS = ("h", "hangup", "hang-up", "/hangup", "/h")


def parse_input(line: str, *, record: bool = False) -> Input:
    """Read what a person typed: keys (0-9 * #), ``h`` or ``hangup``, nothing (silence), or
    words (speech). At a <Record> (``record``), words may end with the key that stops the
    recording, or with ``h``: "my bike was stolen #"."""
    text = line.strip()
    if not text:
        return Input.silence()
    if text.lower() in _HANGUP_WORDS:
        return Input.hangup()
    compact = text.replace(" ", "")
    if _KEYS.match(compact):
        return Input.press(compact)
    words, _, last = text.rpartition(" ")
    if record and words:
        if len(last) == 1 and _KEYS.match(last):
            return Input.say(words, then=last)
        if last.lower() in _HANGUP_WORDS:
            return Input.say(words, then="hangup")
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
        what = (
            "record: words to say, then a key or h to end"
            if prompt.record
            else " or ".join(accepts)
        )
        line = self._line(f"[{what}; Enter = silence; h = hang up]")
        if line is None:
            return Input.hangup()
        answer = parse_input(line, record=prompt.record)
        # A person at a keypad does not wait for the end of a menu they know: a typed key
        # cuts in once the prompt offering it has been heard (see ivr.caller.clock).
        return replace(answer, barge_in=True) if answer.kind == "dtmf" else answer

    def on_queue(self, state: QueueState) -> QueueChoice:
        options = (
            "Enter = keep waiting, a = a handler answers, h = hang up, r = redirected out, "
            "t = answered then transferred out, p = bridging in process"
        )
        if state.cycle == 0:
            options += ", f = queue full, e = Twilio cannot queue the call, s = system error"
        line = self._line(f"[in queue {state.queue!r}: {options}]")
        if line is None:
            return "hangup"
        choice = line.strip().lower()[:1]
        anytime: dict[str, QueueChoice] = {
            "a": "answer",
            "h": "hangup",
            "r": "redirected",
            "t": "redirected-from-bridged",
            "p": "bridging-in-process",
        }
        on_entry: dict[str, QueueChoice] = {"f": "queue-full", "e": "error", "s": "system-error"}
        if choice in anytime:
            return anytime[choice]
        if state.cycle == 0 and choice in on_entry:
            return on_entry[choice]
        return "wait"

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        line = self._line(
            "[dialling: Enter = answered, b = busy, n = no answer, f = failed, "
            "h = answered, then you hang up, * = answered, then you press star]"
        )
        choice = (line or "").strip().lower()[:1]
        statuses: dict[str, DialStatus] = {"b": "busy", "n": "no-answer", "f": "failed"}
        status = statuses.get(choice, "completed")
        ends: dict[str, DialEnd] = {"h": "caller", "*": "star"}
        return DialResult(status, 60 if status == "completed" else 0, ends.get(choice, "callee"))
