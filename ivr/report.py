"""The call report rendered for people: a plain-text table, CSV, JSON, or one HTML page.

The HTML page is self-contained: styles inline, charts as inline SVG, no scripts, no fonts or
images fetched from anywhere, so it can be e-mailed or opened from a shared drive.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from .journey import Report, local_time

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

_COLOURS = ("#1d4f91", "#e07b00", "#7a9a01", "#b02a30")
_CSS = """
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b1b1b;
max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #1d4f91}
.period{color:#555;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1.5rem 0}
.card{flex:1 1 10rem;border:1px solid #ccd;border-radius:.5rem;padding:.8rem 1rem;
background:#f6f8fb}
.card b{display:block;font-size:1.8rem;color:#1d4f91}.note{color:#555;font-size:.95rem}
table{border-collapse:collapse;width:100%;margin:.8rem 0;font-size:.95rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #dde}th{background:#eef2f8}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}svg{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:1rem}.legend i{display:inline-block;width:.9rem;
height:.9rem;margin-right:.3rem;vertical-align:-.1rem}
"""


def bar_chart(
    items: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str] = (),
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    label: str = "",
) -> str:
    """A horizontal bar chart as inline SVG: one row per item, one bar per series value."""
    if not items:
        return ""
    n_series = max(len(values) for _, values in items)
    top = max((v for _, values in items for v in values if v is not None), default=0) or 1
    label_w, bar_w, bar_h, gap = 270, 400, 16, 10
    row_h = n_series * bar_h + gap
    height = len(items) * row_h + gap
    width = label_w + bar_w + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for i, (name, values) in enumerate(items):
        y = gap + i * row_h
        shown = name if len(name) <= 34 else name[:33] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2 - gap / 2 + 5:.0f}" text-anchor="end" '
            f'font-size="13" fill="#1b1b1b"><title>{escape(name)}</title>{escape(shown)}</text>'
        )
        for s, value in enumerate(values):
            if value is None:
                continue
            w = max(1.0, bar_w * float(value) / top)
            colour = _COLOURS[s % len(_COLOURS)]
            by = y + s * bar_h
            what = f"{series[s]}: " if s < len(series) else ""
            parts.append(
                f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{colour}"><title>{escape(name)} {escape(what)}{escape(fmt(value))}'
                f"</title></rect>"
            )
            parts.append(
                f'<text x="{label_w + w + 6:.1f}" y="{by + bar_h - 5}" font-size="12" '
                f'fill="#333">{escape(fmt(value))}</text>'
            )
    parts.append("</svg>")
    legend = ""
    if len(series) > 1:
        legend = (
            '<p class="legend">'
            + "".join(
                f'<span><i style="background:{_COLOURS[i % len(_COLOURS)]}"></i>{escape(s)}</span>'
                for i, s in enumerate(series)
            )
            + "</p>"
        )
    return legend + "".join(parts)


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="note">Nothing recorded in this period.</p>'
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(headers))]
    head = "".join(
        f'<th class="n">{escape(str(h))}</th>' if numeric[i] else f"<th>{escape(str(h))}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{v}</td>' if _is_number(v) else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_EXPLAIN = {
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


def _charts(report: Report, heading: str) -> str:
    if heading == "Choices per menu":
        out = []
        nodes: dict[str, list[tuple[str, list[float]]]] = {}
        for r in report.choices:
            nodes.setdefault(r["node"], []).append((f"{r['key']}: {r['option']}", [r["count"]]))
        for node, items in nodes.items():
            out.append(f"<h3>{escape(node)}</h3>" + bar_chart(items, label=f"choices at {node}"))
        return "".join(out)
    if heading == "Where callers hang up":
        items = [(f"{r['where']}: {r['node'] or '-'}", [r["count"]]) for r in report.hangups]
        return bar_chart(items, label="hang-ups by place")
    if heading == "Invalid keys and silence":
        items = [(r["node"], [r["invalid"], r["silence"]]) for r in report.hot_spots]
        return bar_chart(items, ("invalid key", "silence"), label="invalid keys and silence")
    if heading == "Queues":

        def name(r: dict[str, Any]) -> str:
            return r["queue"] if r["queue"] == r["node"] else f"{r['queue']} ({r['node']})"

        reach = [
            (name(r), [r["time_to_reach"]["median"] or 0, r["time_to_reach"]["p95"] or 0])
            for r in report.queues
        ]
        wait = [(name(r), [r["wait"]["median"] or 0, r["wait"]["p95"] or 0]) for r in report.queues]
        series = ("median", "95th percentile")
        return (
            "<h3>Time to reach the queue</h3>"
            + bar_chart(reach, series, _secs, "time to reach each queue")
            + "<h3>Time waiting in the queue</h3>"
            + bar_chart(wait, series, _secs, "time waiting in each queue")
        )
    if heading == "Transfers":
        items = [
            (f"{r['node']}: {k}", [v]) for r in report.transfers for k, v in r["outcomes"].items()
        ]
        return bar_chart(items, label="transfer outcomes")
    return ""


def render_html(report: Report, title: str = "101 call report") -> str:
    """The report as one self-contained HTML page with SVG charts."""
    c, cb = report.calls, report.callbacks
    waits = [r["wait"]["median"] for r in report.queues if r["wait"]["median"] is not None]
    hung = sum(r["count"] for r in report.hangups)
    cards = [
        ("calls", str(c["total"])),
        ("hung up before reaching anyone", str(hung)),
        ("longest median wait in a queue", _secs(max(waits)) if waits else "-"),
        ("callbacks still to make", str(cb["pending"])),
    ]
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="period">{escape(period(report))} · made {local_time(report.generated)} '
        "(UK time)</p>",
        '<div class="cards">'
        + "".join(f"<div class='card'><b>{escape(v)}</b>{escape(k)}</div>" for k, v in cards)
        + "</div>",
    ]
    for heading, headers, rows in sections(report):
        body.append(f"<h2>{escape(heading)}</h2>")
        if heading in _EXPLAIN:
            body.append(f'<p class="note">{escape(_EXPLAIN[heading])}</p>')
        body.append(_charts(report, heading))
        body.append(_html_table(headers, rows))
    return (
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
