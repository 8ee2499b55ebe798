"""Checking a finished call against a scenario: its steps, its expectations, and no app error."""

from __future__ import annotations

from typing import Any

from ..caller import CallRecord, describe
from ..caller.trace import CallEventKind
from ..menu import to_e164
from .caller import ScriptCaller, normalise
from .loader import Script
from .model import INPUT_STEPS, step_kind
from .results import Failure

CONTEXT_BEFORE = 8
CONTEXT_AFTER = 3


class Transcript:
    """The call's transcript lines, and where each event falls in them."""

    def __init__(self, record: CallRecord) -> None:
        self.lines: list[str] = []
        self.first_line: list[int] = []
        for event in record.events:
            self.first_line.append(len(self.lines))
            line = describe(event)
            if line is not None:
                self.lines.extend(line.splitlines())
        self.first_line.append(len(self.lines))

    def around(self, event: int, since: int | None = None) -> list[str]:
        """Lines around ``event`` (from ``since``, at most a screenful), ``event`` marked."""
        event = max(0, min(event, len(self.first_line) - 1))
        at = self.first_line[event]
        start = max(0, at - CONTEXT_BEFORE)
        if since is not None:
            start = max(start, min(self.first_line[max(0, since)], at))
        lines = self.lines[start : at + CONTEXT_AFTER + 1]
        mark = at - start
        if 0 <= mark < len(lines):
            lines = [*lines[:mark], lines[mark] + "   <-- here", *lines[mark + 1 :]]
        return lines

    def tail(self, since: int | None = None, limit: int = 12) -> list[str]:
        start = self.first_line[max(0, since)] if since is not None else 0
        return self.lines[max(start, len(self.lines) - limit) :]


def _step_text(step: Any) -> str:
    kind = step_kind(step)
    value = getattr(step, kind)
    return f"{kind}: true" if value is True else f"{kind}: {value!r}"


def _where(script: Script, index: int) -> str:
    line = script.step_lines[index] if index < len(script.step_lines) else script.line
    return f"step {index + 1} (line {line}): {_step_text(script.scenario.steps[index])}"


def _said(record: CallRecord) -> list[tuple[int, Any]]:
    return [(i, e) for i, e in enumerate(record.events) if e.kind == CallEventKind.SAY and e.text]


def destination_seconds(record: CallRecord) -> float:
    """Simulated seconds until the call reached the queue or transfer it ended in, else its end."""
    outcome = record.outcome
    events = [e for e in record.events if e.kind != CallEventKind.STATUS_CALLBACK]
    if outcome is not None and outcome.kind in ("enqueued", "dialled"):
        kind = CallEventKind.ENQUEUE if outcome.kind == "enqueued" else CallEventKind.DIAL
        reached = [e for e in events if e.kind == kind]
        if reached:
            return reached[-1].at
    return events[-1].at if events else 0.0


def last_words(record: CallRecord) -> tuple[str, int]:
    """The words heard after the caller's last key, words or silence, and where they start."""
    start = 0
    for i, event in enumerate(record.events):
        if event.kind == CallEventKind.INPUT and event.result != "hangup":
            start = i + 1
    texts = [e.text for e in record.events[start:] if e.kind == CallEventKind.SAY and e.text]
    return " ".join(texts), start


def _number(value: str) -> str:
    try:
        return to_e164(value)
    except ValueError:
        return value.strip().lower()


def check(
    script: Script, record: CallRecord, caller: ScriptCaller, final_node: str | None
) -> list[Failure]:
    """Every way the call differed from the script; empty when it passed."""
    scenario = script.scenario
    t = Transcript(record)
    failures: list[Failure] = []
    outcome = record.outcome
    assert outcome is not None
    summary = outcome.summary()
    expect = scenario.expect

    expected_error = expect is not None and expect.outcome == "error"
    if outcome.error is not None and not expected_error:
        error = outcome.error
        # First: what the app did wrong explains why the script could not go on.
        failures.append(
            Failure(
                "the app",
                "no application error (Twilio would say 'an application error has occurred')",
                error.describe() if error is not None else summary,
                t.tail(None, 10),
            )
        )
    miss = caller.miss(record.events)
    if miss is not None:
        at = caller.index_in(record.events, miss.event)
        failures.append(
            Failure(_where(script, miss.step), miss.expected, repr(miss.found), t.around(at))
        )
    else:
        waiting = caller.pending()
        if waiting is not None:
            index = caller.pos
            previous = max((e for s, e in caller.acted_at.items() if s < index), default=0)
            heard_before = max((e for s, e in caller.heard_at.items() if s < index), default=0)
            since = caller.index_in(record.events, max(previous, heard_before))
            phrase = getattr(waiting, "hear", None)
            wanted = f"to hear {phrase!r}" if phrase else f"words matching /{waiting.hear_re}/"
            after = "after the previous step" if index else "in the call"
            why = f"not heard before the call ended ({summary})"
            if caller.waiting:
                why += f"; the caller stayed silent at {caller.waiting} prompt(s) waiting for it"
            if caller.notes:
                why = f"not heard: {caller.notes[-1]} ({summary})"
            failures.append(
                Failure(_where(script, index), f"{wanted} {after}", why, t.tail(since, 14))
            )
        unused = [
            i
            for i in range(caller.pos, len(scenario.steps))
            if step_kind(scenario.steps[i]) in INPUT_STEPS
        ]
        if waiting is None and unused and outcome.error is None:
            i = unused[0]
            failures.append(
                Failure(
                    _where(script, i),
                    "the call to listen again for this step",
                    f"the call ended first ({summary})",
                    t.tail(None, 10),
                )
            )

    if expect is None:
        return failures

    def fail(name: str, expected: str, got: str, context: list[str] | None = None) -> None:
        line = script.expect_lines.get(name, script.line)
        failures.append(
            Failure(f"expect.{name} (line {line})", expected, got, context or t.tail(None, 10))
        )

    if expect.queue is not None:
        queues = [e.queue for e in record.events if e.kind == CallEventKind.ENQUEUE]
        got = repr(queues[-1]) if queues else "never enqueued"
        if not queues or queues[-1] != expect.queue:
            more = f" (queues: {', '.join(map(repr, queues))})" if len(queues) > 1 else ""
            fail("queue", f"enqueued in {expect.queue!r}", f"{summary}{more}" if queues else got)
    if expect.queue_result is not None:
        results = [e.result for e in record.of_kind(CallEventKind.QUEUE_RESULT)]
        if not results or results[-1] != expect.queue_result:
            got = f"QueueResult={results[-1]}" if results else "never enqueued"
            fail("queue_result", f"QueueResult={expect.queue_result}", got)
    if expect.transfer is not None:
        dials = [
            t_["value"]
            for e in record.events
            if e.kind == CallEventKind.DIAL
            for t_ in (e.targets or [])
        ]
        wanted = _number(expect.transfer)
        if wanted not in {_number(d) for d in dials}:
            if outcome.kind == "dialled":  # the summary names the last number dialled
                got = f"dialled {', '.join(dials[:-1])}, then " if len(dials) > 1 else ""
                fail("transfer", f"dialled {expect.transfer}", f"{got}{summary}")
            else:
                got = f"dialled {', '.join(dials)}" if dials else "no <Dial>"
                fail("transfer", f"dialled {expect.transfer}", f"{got}; {summary}")
    if expect.message is not None:
        words, start = last_words(record)
        if normalise(expect.message) not in normalise(words):
            fail("message", f"the last words heard contain {expect.message!r}", repr(words))
    if expect.hangup is not None:
        by_app = any(e.detail.get("by") == "app" for e in record.of_kind(CallEventKind.HANGUP))
        if by_app != expect.hangup:
            fail(
                "hangup",
                "the app to end the call" if expect.hangup else "the caller to end the call",
                summary,
            )
    if expect.language is not None:
        # A <Say> without a language is spoken in Twilio's default, en-US.
        languages = [e.language or "en-US" for e in record.events if e.kind == CallEventKind.SAY]
        got = languages[-1] if languages else None
        if (got or "").lower() != expect.language.lower():
            fail("language", f"the last prompt in {expect.language}", f"{got or 'no language'}")
    if expect.max_seconds is not None:
        seconds = destination_seconds(record)
        if seconds > expect.max_seconds:
            fail(
                "max_seconds",
                f"at most {expect.max_seconds:g}s (simulated)",
                f"{seconds:.1f}s; {summary}",
            )
    if expect.outcome is not None and outcome.kind != expect.outcome:
        fail("outcome", expect.outcome, f"{outcome.kind}: {summary}")
    for phrase in expect.not_heard or []:
        for i, event in _said(record):
            if normalise(phrase) in normalise(event.text):
                fail("not_heard", f"never to hear {phrase!r}", repr(event.text), t.around(i))
                break
    if expect.node is not None and final_node != expect.node:
        fail("node", f"the call to end at node {expect.node!r}", repr(final_node))
    return failures
