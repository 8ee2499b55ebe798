"""Every error the ivr library raises, under one base, each carrying its context."""

from __future__ import annotations

from dataclasses import dataclass


class IVRError(Exception):
    """Base of every error raised by the ivr package."""


@dataclass(frozen=True)
class Problem:
    """One located finding in a menu file: where it is and what is wrong."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.path or "(top level)"
        if self.line is not None:
            where = f"{where} (line {self.line}" + (
                f", column {self.column})" if self.column is not None else ")"
            )
        return f"{where}: {self.message}"


class MenuError(IVRError):
    """A menu file that cannot be used; ``problems`` says where and why."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class NodeNotFound(IVRError):
    """A request named a node that the menu in service does not have."""

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(f"no node named {node!r} in the menu")


class JourneyError(IVRError):
    """The journey log cannot do what was asked: a database fault, a bad setting or argument."""


class CallbackNotFound(JourneyError):
    """No callback request has the id (or id prefix) given."""

    def __init__(self, callback_id: str, matches: int = 0) -> None:
        self.callback_id = callback_id
        self.matches = matches
        why = "matches several callbacks" if matches > 1 else "matches no callback"
        super().__init__(f"{callback_id!r} {why}")
