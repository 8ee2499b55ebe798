"""``ivr diff`` for people: plain text for a terminal, Markdown for a pull-request comment."""

from __future__ import annotations

from typing import Any

from .diff import MenuDiff, Timing

SECTIONS = (
    ("nodes", "Nodes"),
    ("options", "Options"),
    ("branches", "Branches"),
    ("words", "Words"),
    ("announcements", "Announcements"),
    ("settings", "Settings"),
    ("routes", "Routes by keys"),
)
ROUTES_SHOWN = 15
"""Route changes listed before "and N more": a reordered menu changes every route below it."""


def _seconds(value: float | None, keys: str | None) -> str:
    return "-" if value is None else f"{value:.0f}s ({keys or 'no keys'})"


def _delta(t: Timing) -> str:
    if t.before is None:
        return "new"
    if t.after is None:
        return "gone"
    d = round(t.after) - round(t.before)
    return f"{d:+d}s" if d else "="


def _said(value: Any) -> str:
    return "(nothing)" if value is None else str(value)


def _summary(d: MenuDiff) -> str:
    slower = sum(1 for t in d.timings if t.changed)
    parts = [f"{len(d.changes)} change(s)"]
    if slower:
        parts.append(f"{slower} listening time(s) changed")
    return ", ".join(parts)


def text(d: MenuDiff) -> str:
    """The diff for a terminal."""
    if not d.changed:
        return f"{d.old_source} → {d.new_source}: nothing changes for callers"
    out = [f"{d.old_source} → {d.new_source}: {_summary(d)} for callers"]
    for section, title in SECTIONS:
        changes = [c for c in d.changes if c.section == section]
        if not changes:
            continue
        out += ["", title]
        shown = changes[:ROUTES_SHOWN] if section == "routes" else changes
        for c in shown:
            out.append(f"  {c.message}")
            if section == "words":
                out += [f"    was: {_said(c.old)}", f"    now: {_said(c.new)}"]
        if len(shown) < len(changes):
            out.append(f"  ... and {len(changes) - len(shown)} more (--json lists them all)")
    if d.timings:
        out += ["", "Listening time to each destination (quickest route by keys)"]
        rows = [("destination", "language", "before", "after", "change")]
        rows += [
            (
                t.destination,
                t.language,
                _seconds(t.before, t.keys_before),
                _seconds(t.after, t.keys_after),
                _delta(t),
            )
            for t in d.timings
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            line = "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
            out.append(f"  {line.rstrip()}")
    for s in d.suggestions:
        out += ["", f"Suggestion: {s}"]
    return "\n".join(out)


def _cell(value: Any) -> str:
    return _said(value).replace("|", "\\|").replace("\n", " ")


def markdown(d: MenuDiff) -> str:
    """The diff as a pull-request comment (GitHub-flavoured Markdown)."""
    head = f"### Menu changes for callers: `{d.old_source}` → `{d.new_source}`"
    if not d.changed:
        return f"{head}\n\nNothing changes for callers."
    out = [head, "", f"**{_summary(d)}.**"]
    for s in d.suggestions:
        out += ["", f"> **Suggestion:** {s}"]
    for section, title in SECTIONS:
        changes = [c for c in d.changes if c.section == section]
        if not changes:
            continue
        out += ["", f"#### {title}", ""]
        if section == "words":
            out += ["| where | language | was | now |", "|---|---|---|---|"]
            for c in changes:
                where, _, language = c.message.rpartition(" (")
                out.append(
                    f"| `{where}` | {language.rstrip(')')} | {_cell(c.old)} | {_cell(c.new)} |"
                )
            continue
        shown = changes[:ROUTES_SHOWN] if section == "routes" else changes
        out += [f"- {c.message}" for c in shown]
        if len(shown) < len(changes):
            out.append(f"- ... and {len(changes) - len(shown)} more (`ivr diff --json`)")
    if d.timings:
        out += [
            "",
            "#### Listening time to each destination (quickest route by keys)",
            "",
            "| destination | language | before | after | change |",
            "|---|---|---:|---:|---:|",
        ]
        for t in d.timings:
            change = _delta(t)
            if t.changed:
                change = f"**{change}**"
            out.append(
                f"| `{t.destination}` | {t.language} | {_seconds(t.before, t.keys_before)} "
                f"| {_seconds(t.after, t.keys_after)} | {change} |"
            )
    return "\n".join(out)
