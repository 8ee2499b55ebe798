"""The words call scripts use for the simulator's choices (``ivr.caller``), mapped in one place."""

from __future__ import annotations

from ..caller import Input
from ..caller.strategy import ON_ENTRY, queue_choice_for

__all__ = ["ON_ENTRY", "QUEUE_CHOICES", "make_input", "queue_choice", "queue_word"]

QUEUE_CHOICES = {"answer": "answer", "full": "queue-full", "hangup": "hangup", "error": "error"}
"""A script's word for a queue outcome -> the simulator's; Twilio's own QueueResult words
(system-error, redirected, ...) pass through unchanged."""


def queue_choice(behaviour: str) -> str:
    """The simulator's queue choice for a script's ``queue`` value."""
    return QUEUE_CHOICES.get(behaviour, behaviour)


def queue_word(result: str) -> str | None:
    """A script's ``queue`` word that replays QueueResult ``result`` (None: none does)."""
    choice = queue_choice_for(result)
    if choice is None:
        return None
    return next((word for word, c in QUEUE_CHOICES.items() if c == choice), choice)


def make_input(kind: str, value: str = "", barge_in: bool = False) -> Input:
    """An :class:`~ivr.caller.Input` for one script step (keys may barge in)."""
    if kind == "press":
        return Input.press(value, barge_in=barge_in or None)
    return {"say": lambda: Input.say(value), "silence": Input.silence, "hangup": Input.hangup}[
        kind
    ]()
