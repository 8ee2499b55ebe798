"""The one timing model of a call: how long each verb lasts, and when a caller presses.

A caller who knows the menu presses a key as soon as it is offered (barge-in).

The simulator (``ivr call``) runs its clock with these functions, and ``ivr paths`` times a route
by walking the same rendered TwiML with them, so a route's listening time in one is the moment the
other reaches the destination. Everything here is pure: it reads ``xml.etree`` elements and text.

The model, verb by verb:

- ``<Say>``: its words (SSML markup counts only its text) at ``words_per_minute`` (150, a common
  text-to-speech rate).
- ``<Play>``: an audio file lasts ``play_seconds`` (10 s: the simulator never fetches audio);
  ``digits`` tones take no time, each ``w`` in them waits half a second (Twilio's rule).
- ``<Pause>``: ``length`` seconds (default 1).
- ``loop`` repeats Say and Play (default 1); ``loop="0"`` repeats until the call ends, which
  Twilio caps at :data:`LOOP_CAP` repetitions.
- ``<Gather>``: its nested Say/Play/Pause, then ``timeout`` seconds of silence (default 5).

The barge-in rule. Twilio stops a Gather's nested Say/Play at the caller's first key, and its
timeout then runs from that key. A caller who knows the menu presses a key at the end of the
first nested ``<Say>`` that offers it (its first repetition); a Say offers a key when it has a
"press" word followed by the key, with only filler words ("the", "key", "button", "or"...) and
other keys between them:

- English "press", "pressing", "push"; Welsh "pwyswch", "bwyswch", "gwasgwch", "wasgwch";
  French "appuyez", "tapez"; Spanish "pulse", "oprima", "presione", "marque";
- keys as digits or words: "1", "one", "un"; "star", "asterisk", "seren", "*"; "hash", "pound",
  "#".

So "For English, press 1.", "I barhau yn Gymraeg, pwyswch 2.", "To hear these options again,
press star." and Twilio's sample IVR ("Please press 1 for directions.Press 2 for a list of
planets to call.", which offers 1 and 2 in one Say) all offer their keys; "dial 999" offers
nothing (a number is not a key, and "dial" is not a press word). If no nested verb offers the
key (audio, or a prompt such as "enter your account number"), the caller presses once every
nested verb has played (a ``loop="0"`` one once through).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .document import attribute, text_of, whole

LOOP_CAP = 1000
"""Twilio repeats a ``loop="0"`` Say or Play at most this many times."""
CALL_LIMIT_SECONDS = 4 * 60 * 60
"""Twilio ends a call after four hours."""
DEFAULT_GATHER_TIMEOUT = 5
DEFAULT_PAUSE = 1
DTMF_WAIT = 0.5  # a "w" in <Play digits>

PRESS_WORDS = frozenset(
    {"press", "pressing", "push", "pwyswch", "bwyswch", "gwasgwch", "wasgwch"}
    | {"appuyez", "tapez", "pulse", "oprima", "presione", "marque"}
)
KEY_WORDS: dict[str, str] = {
    **{d: d for d in "0123456789*#"},
    **dict(
        zip("zero one two three four five six seven eight nine".split(), "0123456789", strict=True)
    ),
    # Welsh (both genders of two, three and four).
    **dict(
        zip("dim un dau tri pedwar pump chwech saith wyth naw".split(), "0123456789", strict=True)
    ),
    "dwy": "2",
    "tair": "3",
    "pedair": "4",
    **{w: "*" for w in ("star", "asterisk", "seren", "étoile", "estrella", "asterisco")},
    **{w: "#" for w in ("hash", "pound", "square", "dièse", "almohadilla", "numeral")},
}
FILLER_WORDS = frozenset(
    {"the", "key", "button", "now", "on", "your", "keypad", "phone", "or", "and", "then"}
    | {"y", "yr", "botwm", "allwedd", "neu", "a", "ac", "wedyn"}  # Welsh
    | {"sur", "la", "touche", "ou", "et", "el", "tecla", "o"}  # French, Spanish
)
_TOKENS = re.compile(r"[\w']+|[*#]")


def spoken_text(verb: ET.Element) -> str:
    """The words of a <Say> as heard: SSML markup contributes only its text."""
    return text_of(verb)


def offered_keys(text: str) -> frozenset[str]:
    """The keys a spoken prompt offers ("press 1", "pwyswch 2", "press the star key")."""
    tokens = _TOKENS.findall(text.lower())
    keys: set[str] = set()
    for i, token in enumerate(tokens):
        if token not in PRESS_WORDS:
            continue
        for follower in tokens[i + 1 :]:
            if follower in KEY_WORDS:
                keys.add(KEY_WORDS[follower])
            elif follower not in FILLER_WORDS:
                break
    return frozenset(keys)


def repetitions(verb: ET.Element) -> int:
    """How many times a Say or Play plays: ``loop`` (default 1), ``0`` meaning Twilio's cap.

    A value that is not a whole number plays once, as Twilio does after its warning."""
    return whole(verb, "loop", 1) or LOOP_CAP


def endless(verb: ET.Element) -> bool:
    """A ``loop="0"`` Say or Play: it repeats until the call ends (or Twilio's cap)."""
    return verb.tag in ("Say", "Play") and attribute(verb, "loop") == "0"


def gather_timeout(gather: ET.Element) -> int:
    """Seconds of silence a Gather waits for after its nested verbs (or after a key)."""
    return whole(gather, "timeout", DEFAULT_GATHER_TIMEOUT) or DEFAULT_GATHER_TIMEOUT


def nested(gather: ET.Element) -> list[ET.Element]:
    """The verbs a Gather plays while it listens (Twilio ignores anything else in it)."""
    return [c for c in gather if isinstance(c.tag, str) and c.tag in ("Say", "Play", "Pause")]


@dataclass(frozen=True)
class Clock:
    """The rates the model needs; one instance serves a whole call (or a whole menu walk)."""

    words_per_minute: float = 150.0
    play_seconds: float = 10.0

    def speaking(self, text: str) -> float:
        """Seconds to say ``text``."""
        return len(text.split()) * 60.0 / self.words_per_minute

    def once(self, verb: ET.Element) -> float:
        """One repetition of a Say or Play; a Pause's length; 0 for anything else."""
        if verb.tag == "Say":
            return self.speaking(spoken_text(verb))
        if verb.tag == "Play":
            if "".join(verb.itertext()).strip():
                return self.play_seconds
            return attribute(verb, "digits").lower().count("w") * DTMF_WAIT
        if verb.tag == "Pause":
            return float(whole(verb, "length", DEFAULT_PAUSE) or 0)
        return 0.0

    def verb_seconds(self, verb: ET.Element) -> float:
        """How long a verb takes when the caller does nothing: Say and Play with every
        repetition, Pause, and a Gather's nested verbs plus its timeout. Verbs that hand the
        call to a webhook or a person (Redirect, Dial, Enqueue...) take no time themselves."""
        if verb.tag in ("Say", "Play"):
            return self.once(verb) * repetitions(verb)
        if verb.tag == "Pause":
            return self.once(verb)
        if verb.tag == "Gather":
            return sum(self.verb_seconds(v) for v in nested(verb)) + gather_timeout(verb)
        return 0.0

    def heard_seconds(self, gather: ET.Element) -> float:
        """When a caller who listens to the whole prompt acts: once every nested verb has
        played; a ``loop="0"`` one would never end, so at the end of its first time through
        (the verbs after it are not heard)."""
        seconds = 0.0
        for verb in nested(gather):
            if endless(verb):
                return seconds + self.once(verb)
            seconds += self.verb_seconds(verb)
        return seconds

    def press_offset(self, gather: ET.Element, key: str) -> float:
        """Seconds into a Gather at which a caller who knows the menu presses ``key``: the
        end of the first nested Say offering it, else :meth:`heard_seconds`."""
        offset = 0.0
        for verb in nested(gather):
            if verb.tag == "Say" and key in offered_keys(spoken_text(verb)):
                return offset + self.once(verb)
            if endless(verb):
                break  # what follows plays only after Twilio's cap of repetitions
            offset += self.verb_seconds(verb)
        return self.heard_seconds(gather)

    def input_offset(self, gather: ET.Element, keys: str, *, barge_in: bool = True) -> float:
        """Seconds into a Gather at which Twilio sends ``keys`` to the action: when the first
        key is pressed (barge-in, or after the whole prompt), plus the timeout when the keys
        do not complete the input (no ``finishOnKey``, fewer than ``numDigits``)."""
        pressed = self.press_offset(gather, keys[0]) if barge_in else self.heard_seconds(gather)
        if attribute(gather, "bargeIn").lower() == "false":
            pressed = max(pressed, self.heard_seconds(gather))  # the prompt plays on regardless
        return pressed + (0.0 if completes(gather, keys) else gather_timeout(gather))


def completes(gather: ET.Element, keys: str) -> bool:
    """Whether ``keys`` end a Gather's input without waiting out its timeout."""
    finish = attribute(gather, "finishOnKey")
    if finish and finish in keys:
        return True
    num_digits = whole(gather, "numDigits", 0)
    return bool(num_digits) and len(keys) >= (num_digits or 0)
