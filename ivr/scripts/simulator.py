"""The seam between call scripts and the simulator (``ivr.caller``): what it can do today.

Issue 15 is adding barge-in and more QueueResults to the simulator. Scripts accept them now;
this module alone asks the simulator whether it has them, so when it does, nothing else in
``ivr.scripts`` changes.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterable

from ..caller import Input, ScriptedCaller
from ..caller import strategy as _strategy

# A script's word for a queue outcome -> the simulator's queue choice.
QUEUE_CHOICES = {"answer": "answer", "full": "queue-full", "hangup": "hangup", "error": "error"}
# Chosen when the caller enters the queue (the rest after the hold documents).
ON_ENTRY = frozenset({"queue-full", "error", "system-error"})


def _queue_choices() -> frozenset[str]:
    return frozenset(typing.get_args(getattr(_strategy, "QueueChoice", typing.Literal["wait"])))


def queue_choice(behaviour: str) -> str:
    """The simulator's queue choice for a script's ``queue`` value."""
    return QUEUE_CHOICES.get(behaviour, behaviour)


def unsupported_queue_results(behaviours: Iterable[str]) -> list[str]:
    """The ``queue`` values this simulator cannot produce yet (issue 15 adds them)."""
    choices = _queue_choices()
    return [b for b in behaviours if queue_choice(b) not in choices]


def barge_in_supported() -> bool:
    """Whether the simulator lets a caller act while a prompt is still being spoken."""
    fields = {f.name for f in dataclasses.fields(Input)}
    return "barge_in" in fields or "barge_in" in inspect.signature(ScriptedCaller).parameters


def make_input(kind: str, value: str = "", barge_in: bool = False) -> Input:
    """An :class:`~ivr.caller.Input`, marked for barge-in where the simulator supports it."""
    made = {
        "press": lambda: Input.press(value),
        "say": lambda: Input.say(value),
        "silence": Input.silence,
        "hangup": Input.hangup,
    }[kind]()
    if barge_in and "barge_in" in {f.name for f in dataclasses.fields(Input)}:
        made = dataclasses.replace(made, barge_in=True)  # type: ignore[call-arg]
    return made
