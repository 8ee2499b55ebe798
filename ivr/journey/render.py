"""The journey log for people: the report as a table, CSV, JSON or one HTML page; a call's steps.

The HTML page is ``templates/report.html`` (Jinja, autoescaped) and self-contained: styles
inline, charts as inline SVG, no scripts, no fonts or images fetched from anywhere, so it can be
e-mailed or opened from a shared drive.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from ..events import Event
from .report import Report
from .times import local_time

FORMATS = ("table", "csv", "json", "html")


def render(report: Report, fmt: str, title: str | None = None) -> str:
    """Render ``report`` as ``table``, ``csv``, ``json`` or ``html``."""
    renderers: dict[str, Callable[[Report, str], str]] = {
        "table": render_table,
        "csv": lambda r, _t: render_csv(r),
        "json": lambda r, _t: render_json(r),
        "html": render_html,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](report, title or "101 call report")


def period(report: Report) -> str:
    """Say which calls the report covers, in UK time."""
    since = local_time(report.since, "%d %b %Y %H:%M") if report.since else "the first call"
    until = local_time(report.until, "%d %b %Y %H:%M") if report.until else "now"
    return f"Calls from {since} to {until}"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 60:
        return f"{value:.0f}s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}m {seconds:02d}s"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"


def sections(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report as titled tables of display strings (shared by the text and HTML forms)."""
    c = report.calls
    cb = report.callbacks
    out: list[tuple[str, list[str], list[list[Any]]]] = []
    out.append(
        (
            "Calls",
            ["measure", "value"],
            [
                ["calls", c["total"]],
                ["calls to the call-handler line (not counted above)", c.get("handler_line", 0)],
                ["test callers' calls (not counted above)", c.get("test_calls", 0)],
                *[[f"final status: {k}", v] for k, v in c["by_status"].items()],
                *[[f"outcome: {k}", v] for k, v in c["outcomes"].items()],
                ["call length (median)", _secs(c["duration"]["median"])],
                ["call length (95th percentile)", _secs(c["duration"]["p95"])],
            ],
        )
    )
    out.append(
        (
            "Choices per menu",
            ["menu", "key", "option", "by", "calls", "share", "speech confidence"],
            [
                [
                    r["node"],
                    r["key"],
                    r["option"],
                    r["via"],
                    r["count"],
                    _pct(r["share"]),
                    "-" if r["confidence_median"] is None else f"{r['confidence_median']:.2f}",
                ]
                for r in report.choices
            ],
        )
    )
    out.append(
        (
            "Where callers hang up",
            ["where", "node", "callers"],
            [[r["where"], r["node"] or "(before the menu)", r["count"]] for r in report.hangups],
        )
    )
    out.append(
        (
            "Invalid keys and silence",
            ["menu", "inputs", "invalid", "silence", "gave up", "problem rate"],
            [
                [r["node"], r["inputs"], r["invalid"], r["silence"], r["gave_up"], _pct(r["rate"])]
                for r in report.hot_spots
            ],
        )
    )
    out.append(
        (
            "Queues",
            [
                "queue",
                "node",
                "reached",
                "time to reach (median)",
                "(95th)",
                "wait (median)",
                "(95th)",
                "results",
            ],
            [
                [
                    r["queue"],
                    r["node"],
                    r["reached"],
                    _secs(r["time_to_reach"]["median"]),
                    _secs(r["time_to_reach"]["p95"]),
                    _secs(r["wait"]["median"]),
                    _secs(r["wait"]["p95"]),
                    _counts(r["results"]),
                ]
                for r in report.queues
            ],
        )
    )
    out.append(
        (
            "Transfers",
            ["node", "number", "attempts", "outcomes"],
            [
                [r["node"], r["number"] or "-", r["attempts"], _counts(r["outcomes"])]
                for r in report.transfers
            ],
        )
    )
    out.append(
        (
            "Callbacks",
            ["measure", "value"],
            [
                ["requested", cb["requested"]],
                ["completed", cb["completed"]],
                ["still to call back", cb["pending"]],
                ["time to call back (median)", _secs(cb["time_to_complete"]["median"])],
                ["time to call back (95th percentile)", _secs(cb["time_to_complete"]["p95"])],
            ],
        )
    )
    return out


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned with spaces, numbers to the right."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in rows) and bool(rows) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render_table(report: Report, title: str = "101 call report") -> str:
    """The report as plain text for a terminal."""
    parts = [title, period(report), ""]
    for heading, headers, rows in sections(report):
        parts.append(heading)
        parts.append("=" * len(heading))
        parts.append(text_table(headers, rows) if rows else "(none)")
        parts.append("")
    return "\n".join(parts)


def render_json(report: Report) -> str:
    """The report as JSON (times in epoch seconds, durations in seconds)."""
    return json.dumps(report.as_dict(), indent=2, sort_keys=False) + "\n"


def render_csv(report: Report) -> str:
    """The report as one long CSV table: section, node, item, measure, value."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "node", "item", "measure", "value"])
    c = report.calls
    w.writerow(["calls", "", "", "total", c["total"]])
    w.writerow(["calls", "", "", "handler line", c.get("handler_line", 0)])
    for k, v in c["by_status"].items():
        w.writerow(["calls", "", k, "final status", v])
    for k, v in c["outcomes"].items():
        w.writerow(["calls", "", k, "outcome", v])
    for m in ("median", "p95"):
        w.writerow(["calls", "", "", f"duration {m} (s)", c["duration"][m]])
    for r in report.choices:
        item = f"{r['key']} -> {r['option']} ({r['via']})"
        w.writerow(["choices", r["node"], item, "count", r["count"]])
    for r in report.hangups:
        w.writerow(["hangups", r["node"], r["where"], "count", r["count"]])
    for r in report.hot_spots:
        for m in ("inputs", "invalid", "silence", "gave_up"):
            w.writerow(["hot spots", r["node"], "", m, r[m]])
    for r in report.queues:
        w.writerow(["queues", r["node"], r["queue"], "reached", r["reached"]])
        for part in ("time_to_reach", "wait"):
            for m in ("median", "p95"):
                w.writerow(["queues", r["node"], r["queue"], f"{part} {m} (s)", r[part][m]])
        for k, v in r["results"].items():
            w.writerow(["queues", r["node"], r["queue"], f"result {k}", v])
    for r in report.transfers:
        w.writerow(["transfers", r["node"], r["number"] or "", "attempts", r["attempts"]])
        for k, v in r["outcomes"].items():
            w.writerow(["transfers", r["node"], r["number"] or "", f"outcome {k}", v])
    cb = report.callbacks
    for m in ("requested", "completed", "pending"):
        w.writerow(["callbacks", "", "", m, cb[m]])
    for m in ("median", "p95"):
        w.writerow(["callbacks", "", "", f"time to complete {m} (s)", cb["time_to_complete"][m]])
    return buf.getvalue()


# -- HTML ---------------------------------------------------------------------------------------

COLOURS = ("#1d4f91", "#e07b00", "#7a9a01", "#b02a30")

EXPLAIN = {
    "Calls": "How many calls started in the period, how they ended and how long they lasted.",
    "Choices per menu": "What callers chose at each menu, by key or by saying it.",
    "Where callers hang up": (
        "Callers who put the phone down before reaching anyone: in a menu, or while waiting "
        "in a queue. A tall bar is a place where callers get lost."
    ),
    "Invalid keys and silence": (
        "Menus where callers pressed a key that means nothing there, or said nothing. "
        "High numbers suggest a confusing menu."
    ),
    "Queues": (
        "How long callers took to get through the menus to each queue, and how long they "
        "then waited. The 95th percentile is the wait that 1 caller in 20 exceeded."
    ),
    "Transfers": "Calls put through to another number, and whether they were answered.",
    "Callbacks": "Callers who asked to be called back instead of holding.",
}


@dataclass(frozen=True)
class Bar:
    """One bar of a chart, placed: the template only draws it."""

    x: int
    y: float
    width: float
    height: int
    colour: str
    title: str
    value: str


@dataclass(frozen=True)
class ChartRow:
    name: str
    shown: str
    """The name cut to fit beside the bars (the whole name is the row's tooltip)."""
    label_x: int
    label_y: float
    bars: list[Bar]


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart, as the template draws it in inline SVG."""

    title: str | None
    label: str
    width: int
    height: int
    rows: list[ChartRow]
    legend: list[tuple[str, str]] = field(default_factory=list)
    """(colour, series name) when there is more than one series."""


def bar_chart(
    items: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str] = (),
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    label: str = "",
    title: str | None = None,
) -> Chart | None:
    """One row per item, one bar per series value, scaled to the largest value."""
    if not items:
        return None
    n_series = max(len(values) for _, values in items)
    top = max((v for _, values in items for v in values if v is not None), default=0) or 1
    label_w, bar_w, bar_h, gap = 270, 400, 16, 10
    row_h = n_series * bar_h + gap
    rows = []
    for i, (name, values) in enumerate(items):
        y = gap + i * row_h
        bars = []
        for s, value in enumerate(values):
            if value is None:
                continue
            what = f"{series[s]}: " if s < len(series) else ""
            bars.append(
                Bar(
                    x=label_w,
                    y=y + s * bar_h,
                    width=round(max(1.0, bar_w * float(value) / top), 1),
                    height=bar_h,
                    colour=COLOURS[s % len(COLOURS)],
                    title=f"{name} {what}{fmt(value)}",
                    value=fmt(value),
                )
            )
        shown = name if len(name) <= 34 else name[:33] + "…"
        rows.append(ChartRow(name, shown, label_w - 8, round(y + row_h / 2 - gap / 2 + 5), bars))
    legend = (
        [(COLOURS[i % len(COLOURS)], s) for i, s in enumerate(series)] if len(series) > 1 else []
    )
    return Chart(title, label, label_w + bar_w + 90, len(items) * row_h + gap, rows, legend)


def charts(report: Report, heading: str) -> list[Chart]:
    """The charts drawn above a section's table."""
    found: list[Chart | None] = []
    if heading == "Choices per menu":
        nodes: dict[str, list[tuple[str, list[float]]]] = {}
        for r in report.choices:
            nodes.setdefault(r["node"], []).append((f"{r['key']}: {r['option']}", [r["count"]]))
        for node, items in nodes.items():
            found.append(bar_chart(items, label=f"choices at {node}", title=node))
    elif heading == "Where callers hang up":
        items = [(f"{r['where']}: {r['node'] or '-'}", [r["count"]]) for r in report.hangups]
        found.append(bar_chart(items, label="hang-ups by place"))
    elif heading == "Invalid keys and silence":
        items = [(r["node"], [r["invalid"], r["silence"]]) for r in report.hot_spots]
        found.append(bar_chart(items, ("invalid key", "silence"), label="invalid keys and silence"))
    elif heading == "Queues":

        def name(r: dict[str, Any]) -> str:
            return r["queue"] if r["queue"] == r["node"] else f"{r['queue']} ({r['node']})"

        series = ("median", "95th percentile")
        for part, title, label in (
            ("time_to_reach", "Time to reach the queue", "time to reach each queue"),
            ("wait", "Time waiting in the queue", "time waiting in each queue"),
        ):
            items = [
                (name(r), [r[part]["median"] or 0, r[part]["p95"] or 0]) for r in report.queues
            ]
            found.append(bar_chart(items, series, _secs, label, title))
    elif heading == "Transfers":
        items = [
            (f"{r['node']}: {k}", [v]) for r in report.transfers for k, v in r["outcomes"].items()
        ]
        found.append(bar_chart(items, label="transfer outcomes"))
    return [c for c in found if c is not None]


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ivr.journey", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: Report, title: str = "101 call report") -> str:
    """The report as one self-contained HTML page with SVG charts."""
    c, cb = report.calls, report.callbacks
    waits = [r["wait"]["median"] for r in report.queues if r["wait"]["median"] is not None]
    cards = [
        ("calls", str(c["total"])),
        ("hung up before reaching anyone", str(sum(r["count"] for r in report.hangups))),
        ("longest median wait in a queue", _secs(max(waits)) if waits else "-"),
        ("callbacks still to make", str(cb["pending"])),
    ]
    parts = []
    for heading, headers, rows in sections(report):
        numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(headers))]
        parts.append(
            {
                "heading": heading,
                "note": EXPLAIN.get(heading),
                "charts": charts(report, heading),
                "headers": list(zip(headers, numeric, strict=True)),
                "rows": [[(v, _is_number(v)) for v in row] for row in rows],
            }
        )
    return (
        _templates()
        .get_template("report.html")
        .render(
            title=title,
            period=period(report),
            made=local_time(report.generated),
            cards=cards,
            sections=parts,
        )
    )


# -- one call, step by step ---------------------------------------------------------------------


def describe_event(e: Event) -> str:
    """One line saying what happened at a step, for ``ivr journey``."""
    parts = [e.kind]
    if e.node:
        parts.append(f"at {e.node}")
    if e.key:
        parts.append(f"key {e.key}")
    if e.option:
        parts.append(f"-> {e.option}")
    if e.confidence is not None:
        parts.append(f"(confidence {e.confidence:.2f})")
    if e.outcome:
        parts.append(f"[{e.outcome}]")
    if e.detail:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(e.detail.items())))
    return " ".join(parts)
