"""The menu: the file's model, loading with located problems, checks, hours and routing.

No Flask and no TwiML here: the CLI, the simulator, the authoring tools and the webhooks all
ask this package what a menu says and where a caller goes next.
"""

from __future__ import annotations

from ..numbers import to_e164
from . import routing
from .loading import load_menu, parse_menu
from .menu import Menu
from .model import (
    KEYS,
    NODE_KINDS,
    SPEECH_LANGUAGES,
    TWILIO_HOLD_MUSIC,
    Announcement,
    CallbackOffer,
    Defaults,
    HangupNode,
    Hold,
    HoursNode,
    Language,
    MenuFile,
    MenuNode,
    MessageNode,
    Option,
    Phrasebook,
    QueueNode,
    Text,
    TransferNode,
)
from .routing import Edge, Match, Step

__all__ = [
    "KEYS",
    "NODE_KINDS",
    "SPEECH_LANGUAGES",
    "TWILIO_HOLD_MUSIC",
    "Announcement",
    "CallbackOffer",
    "Defaults",
    "Edge",
    "HangupNode",
    "Hold",
    "HoursNode",
    "Language",
    "Match",
    "Menu",
    "MenuFile",
    "MenuNode",
    "MessageNode",
    "Option",
    "Phrasebook",
    "QueueNode",
    "Step",
    "Text",
    "TransferNode",
    "load_menu",
    "parse_menu",
    "routing",
    "to_e164",
]
