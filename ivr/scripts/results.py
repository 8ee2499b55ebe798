"""What running a scenario found: pass, fail or skip, each failure with what was heard around it.

Plain data (picklable, JSON-ready), so results travel from worker processes and into JUnit XML,
JSON and pytest's report with the same words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class Failure:
    """One expectation or step that did not hold."""

    what: str
    """Which step or expectation, with its line: ``step 3 (line 12): hear "999"``."""
    expected: str
    heard: str
    """What happened instead, in the caller's terms."""
    context: list[str] = field(default_factory=list)
    """The transcript around that point."""

    def render(self, indent: str = "  ") -> str:
        lines = [
            f"{indent}{self.what}",
            f"{indent}  expected: {self.expected}",
            f"{indent}  heard:    {self.heard}",
        ]
        if self.context:
            lines.append(f"{indent}  transcript:")
            lines.extend(f"{indent}    {line.strip()}" if line else "" for line in self.context)
        return "\n".join(lines)


@dataclass
class Result:
    """One scenario's run."""

    file: str
    name: str
    line: int
    status: str
    duration: float = 0.0
    """Wall-clock seconds the run took."""
    seconds: float | None = None
    """Simulated seconds to the call's destination (or its end)."""
    outcome: str | None = None
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    call_sid: str | None = None
    menu: str | None = None
    """The in-process app's menu file; None when the call went to a URL."""
    journey: list[dict[str, Any]] = field(default_factory=list)
    """The app's own events for the call (in-process only): what coverage is counted from."""
    skip_reason: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def message(self) -> str:
        """The failure report, as ``ivr test`` and pytest print it."""
        head = f"{self.id} (line {self.line})"
        parts = [head]
        parts.extend(f.render() for f in self.failures)
        if self.outcome:
            parts.append(f"  outcome: {self.outcome}")
        parts.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(parts)

    def as_dict(self, transcript: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id
        data["duration"] = round(self.duration, 4)
        data.pop("journey")
        if not transcript:
            data.pop("transcript")
        return data
