"""A validated menu with its defaults applied: what every other part asks of the file.

:class:`Menu` answers "what are this node's words, voice, keys, timeout and attempts in this
language", resolving ``defaults`` and per-language text once, so no reader re-implements an
inheritance rule. It holds no routing (:mod:`ivr.menu.routing`) and no TwiML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..errors import Problem
from .model import (
    SPEECH_LANGUAGES,
    Defaults,
    Language,
    MenuFile,
    MenuNode,
    Option,
    QueueNode,
    Text,
)


@dataclass
class Menu:
    """A validated menu, ready to serve; built by :func:`ivr.menu.load_menu`."""

    file: MenuFile
    source: str = "menus.json"
    warnings: list[Problem] = field(default_factory=list)

    @property
    def start(self) -> str:
        return self.file.start

    @property
    def defaults(self) -> Defaults:
        return self.file.defaults

    @property
    def nodes(self) -> dict[str, Any]:
        return self.file.nodes

    @cached_property
    def languages(self) -> dict[str, Language]:
        """Every language, the default first (built once: every request asks)."""
        d = self.file.defaults
        return {d.language: Language(voice=d.voice, speech=True), **self.file.languages}

    def node(self, node_id: str) -> Any:
        return self.file.nodes[node_id]

    def language(self, requested: str | None) -> str:
        """The caller's language: ``requested`` when the menu has it, else the default."""
        if requested and requested in self.languages:
            return requested
        return self.file.defaults.language

    def voice(self, language: str) -> str:
        return self.languages[language].voice

    def text(self, value: Text, language: str) -> str:
        """``value`` in ``language`` (validation guarantees every language is present)."""
        if isinstance(value, str):
            return value
        # A language choice may hold only the language it offers (see _check).
        return (
            value.get(language)
            or value.get(self.file.defaults.language)
            or next(iter(value.values()))
        )

    def phrase(self, name: str, language: str, node: Any = None) -> str:
        """A phrasebook entry, with a menu node's own override where it has one."""
        override = getattr(node, name, None) if name in ("invalid", "silence") else None
        return self.text(override or getattr(self.file.defaults.phrases, name), language)

    # -- menus ------------------------------------------------------------------

    def attempts(self, node: MenuNode) -> int:
        return node.attempts or self.file.defaults.attempts

    def timeout(self, node: MenuNode) -> int:
        return node.timeout or self.file.defaults.timeout

    def repeat_key(self, node: MenuNode) -> str | None:
        return node.repeat_key or self.file.defaults.repeat_key

    def back_key(self, node: MenuNode) -> str | None:
        if node.back is None:
            return None
        return node.back_key or self.file.defaults.back_key

    def offered(self, node: MenuNode, language: str) -> list[Option]:
        """The options a caller in ``language`` is offered: all but a switch to the language
        they already speak (a Welsh caller is not offered Welsh again; the key still works)."""
        return [o for o in node.options if o.language is None or o.language != language]

    def is_language_choice(self, node: MenuNode) -> bool:
        """A menu whose every option picks a language: short, bilingual, not a level of the
        menu a caller has to find their way through."""
        return all(o.language for o in node.options)

    def speech_enabled(self, node: MenuNode, language: str) -> bool:
        wanted = node.speech if node.speech is not None else self.file.defaults.speech
        # Twilio would refuse (or mishear) a language it cannot recognise: keys only.
        return wanted and self.languages[language].speech and language in SPEECH_LANGUAGES

    def phrases(self, option: Option, language: str) -> list[str]:
        if isinstance(option.speech, list):
            return option.speech
        return option.speech.get(language, [])

    def hints(self, node: MenuNode, language: str) -> str:
        """Twilio ``hints``: every phrase of every option, comma separated."""
        return ", ".join(p for o in node.options for p in self.phrases(o, language))

    def queues(self) -> dict[str, int]:
        """Every Twilio queue the menu uses, with the largest max size asked for it."""
        sizes: dict[str, int] = {}
        for node in self.nodes.values():
            if isinstance(node, QueueNode):
                sizes[node.queue] = max(sizes.get(node.queue, 0), node.max_size)
        return sizes
