"""The signals that carry a simulated call from verb to verb.

The next document to fetch, the end of the call, and the ways out of a queue's wait documents.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class Fetch:
    """The next document Twilio requests: ``params`` come on top of the standard ones.

    ``then`` runs once the request has been answered, before the document runs: callbacks
    Twilio makes after an action request (a recording's status, its transcription).
    """

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    then: Callable[[], None] | None = None


class CallOver(Exception):
    """The call has ended: ``how`` is app, caller, rejected or limit (Twilio's time limit)."""

    def __init__(self, how: str, reason: str | None = None) -> None:
        super().__init__(how, reason)
        self.how = how
        self.reason = reason


class LeaveQueue(Exception):
    """<Leave> in a waitUrl document."""


class Endless(Exception):
    """A ``loop="0"`` Say or Play in a waitUrl document: it plays on, and Twilio never asks
    for the waitUrl again, until the caller leaves the queue."""

    def __init__(self, verb: ET.Element) -> None:
        super().__init__(verb.tag)
        self.verb = verb


@dataclass
class QueueStay:
    """One caller's stay in a queue."""

    name: str
    sid: str
    position: int
    queue_time: int = 0
    cycle: int = 0
    enqueued: bool = False
    endless: ET.Element | None = None
