"""A simulated call played one caller action at a time, for callers that are not a script.

The interpreter is pull-based: it runs until it needs the caller, then asks a
:class:`~ivr.caller.strategy.Caller` and blocks for the answer. A web page cannot block, so a
:class:`LiveCall` runs the interpreter in its own thread and hands the page each point where
the call waits (a key press, a queue, a ringing transfer), with the events since the last one.

    >>> live = LiveCall(WSGITransport(app), "http://localhost/voice", auth_token="secret")
    >>> step = live.start()          # runs until the first <Gather>
    >>> step = live.act(Input.press("2"))
    >>> step.waiting.kind            # "queue"
    >>> step = live.hangup()
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import IVRError
from .interpreter import Call
from .strategy import (
    QUEUE_CHOICES,
    DialResult,
    DialTarget,
    GatherPrompt,
    Input,
    QueueChoice,
    QueueState,
)
from .trace import CallEvent, CallEventKind, CallRecord
from .transport import Transport

WaitingKind = Literal["gather", "queue", "dial", "ended", "busy"]
DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})


class LiveCallError(IVRError):
    """The caller did something the call is not waiting for (a key press while queued)."""


@dataclass(frozen=True)
class Waiting:
    """What the call waits for now.

    ``gather`` (``prompt``), ``queue`` (``queue``: a handler may answer, or the caller holds),
    ``dial`` (``targets`` ring), ``ended`` (the record has its outcome), or ``busy``: the
    interpreter is still working after the step timeout (ask again with ``poll``).
    """

    kind: WaitingKind
    prompt: GatherPrompt | None = None
    queue: QueueState | None = None
    targets: tuple[DialTarget, ...] = ()


@dataclass(frozen=True)
class LiveStep:
    """The events since the last step, and what the call waits for now."""

    events: list[CallEvent]
    waiting: Waiting
    record: CallRecord = field(repr=False)


_HANGUP = object()


class LiveCall:
    """One simulated call in its own thread, driven one action at a time.

    ``step_timeout`` bounds how long a step waits for the interpreter; ``idle_timeout`` hangs
    up a call nobody acts on (the thread ends). Other keywords go to :class:`Call`.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        *,
        step_timeout: float = 10.0,
        idle_timeout: float = 600.0,
        **options: Any,
    ) -> None:
        self.step_timeout = step_timeout
        self.idle_timeout = idle_timeout
        self._cond = threading.Condition()
        self._act_lock = threading.Lock()
        self._answers: queue.Queue[object] = queue.Queue()
        self._events: list[CallEvent] = []
        self._waiting: Waiting | None = None
        self._hung_up = False
        self.crash: BaseException | None = None
        self.call = Call(transport, url, self, on_event=self.annotate, **options)
        self._thread = threading.Thread(
            target=self._run, name=f"live-call-{self.call_sid[-8:]}", daemon=True
        )

    @property
    def call_sid(self) -> str:
        return self.call.record.call_sid

    @property
    def record(self) -> CallRecord:
        return self.call.record

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._waiting is not None and self._waiting.kind == "ended"

    # -- the page's side ------------------------------------------------------------------

    def start(self) -> LiveStep:
        """Place the call; run it until it first waits for the caller."""
        with self._act_lock:
            self._thread.start()
            return self._next_step()

    def act(self, answer: Input | QueueChoice | DialResult) -> LiveStep:
        """Answer what the call waits for, and run it until it waits again."""
        with self._act_lock:
            with self._cond:
                waiting = self._waiting
                expected = {"gather": Input, "queue": str, "dial": DialResult}
                kind = waiting.kind if waiting else "busy"
                if kind not in expected or not isinstance(answer, expected[kind]):
                    raise LiveCallError(f"the call is not waiting for that (it is {kind})")
                if kind == "queue" and answer not in QUEUE_CHOICES:
                    raise LiveCallError(f"unknown queue choice {answer!r}")
                self._waiting = None
                self._answers.put(answer)
            return self._next_step()

    def poll(self) -> LiveStep:
        """The events so far, waiting up to the step timeout for the call to need the caller."""
        with self._act_lock:
            return self._next_step()

    def hangup(self) -> LiveStep:
        """The caller hangs up, whatever the call is doing; waits for the call to end."""
        with self._act_lock:
            with self._cond:
                self._hung_up = True
                if self._waiting is not None and self._waiting.kind != "ended":
                    self._waiting = None
                    self._answers.put(_HANGUP)
                elif self._waiting is None and not self._thread.is_alive():
                    return LiveStep(self._take(), Waiting("ended"), self.record)
            return self._next_step()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def annotate(self, event: CallEvent) -> None:
        """Add an event to the stream (the interpreter's, or a note such as the menu node)."""
        with self._cond:
            self._events.append(event)

    def _take(self) -> list[CallEvent]:
        events, self._events = self._events, []
        return events

    def _next_step(self) -> LiveStep:
        with self._cond:
            self._cond.wait_for(lambda: self._waiting is not None, timeout=self.step_timeout)
            return LiveStep(self._take(), self._waiting or Waiting("busy"), self.record)

    # -- the interpreter's side (its thread) ----------------------------------------------

    def _run(self) -> None:
        try:
            self.call.run()
        except BaseException as exc:  # never let the thread die silently
            self.crash = exc
            self.annotate(CallEvent(CallEventKind.ERROR, text=f"{type(exc).__name__}: {exc}"))
        with self._cond:
            self._waiting = Waiting("ended")
            self._cond.notify_all()

    def _ask(self, waiting: Waiting) -> object:
        with self._cond:
            if self._hung_up:
                return _HANGUP
            self._waiting = waiting
            self._cond.notify_all()
        try:
            return self._answers.get(timeout=self.idle_timeout)
        except queue.Empty:  # nobody is there any more
            with self._cond:
                self._hung_up = True
                self._waiting = None
            return _HANGUP

    def on_gather(self, prompt: GatherPrompt) -> Input:
        answer = self._ask(Waiting("gather", prompt=prompt))
        if answer is _HANGUP:
            return Input.hangup()
        assert isinstance(answer, Input)
        # A person at the keypad cuts in, as in `ivr call` (unless the page says otherwise).
        if answer.kind == "dtmf" and answer.barge_in is None:
            return replace(answer, barge_in=True)
        return answer

    def on_queue(self, state: QueueState) -> QueueChoice:
        answer = self._ask(Waiting("queue", queue=state))
        return "hangup" if answer is _HANGUP else answer  # type: ignore[return-value]

    def on_dial(self, targets: list[DialTarget]) -> DialResult:
        answer = self._ask(Waiting("dial", targets=tuple(targets)))
        # Hanging up while it rings: the transfer never connects.
        return DialResult("canceled", 0) if answer is _HANGUP else answer  # type: ignore[return-value]
