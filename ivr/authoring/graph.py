"""A picture of the menu: Mermaid (renders on GitHub) and Graphviz DOT.

Nodes are drawn by kind; edges carry their keys; fallbacks and queue overflows are dashed.
Announcements appear as their own boxes, joined to the start and to where their key leads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from ..errors import IVRError
from ..menu import NODE_KINDS, HoursNode, Menu, QueueNode, TransferNode
from ..menu.routing import Edge, edges

# Mermaid shape (opening, closing) and DOT shape per node kind; "*" for a kind without its
# own (a new kind is drawn as a plain box until it gets one).
_MERMAID_SHAPES = {
    "menu": ('{"', '"}'),
    "message": ('("', '")'),
    "queue": ('[("', '")]'),
    "transfer": ('[/"', '"/]'),
    "hangup": ('(("', '"))'),
    "hours": ('{{"', '"}}'),
    "announcement": ('>"', '"]'),
    "*": ('["', '"]'),
}
_MERMAID_STYLES = {
    "menu": "fill:#dbeafe,stroke:#1d4ed8",
    "message": "fill:#f3f4f6,stroke:#4b5563",
    "queue": "fill:#dcfce7,stroke:#15803d",
    "transfer": "fill:#fef9c3,stroke:#a16207",
    "hangup": "fill:#fee2e2,stroke:#b91c1c",
    "hours": "fill:#ede9fe,stroke:#6d28d9",
    "announcement": "fill:#ffedd5,stroke:#c2410c",
    "*": "fill:#ffffff,stroke:#4b5563",
}
_DOT_SHAPES = {
    "menu": ("diamond", "#dbeafe"),
    "message": ("box", "#f3f4f6"),
    "queue": ("cylinder", "#dcfce7"),
    "transfer": ("parallelogram", "#fef9c3"),
    "hangup": ("doublecircle", "#fee2e2"),
    "hours": ("hexagon", "#ede9fe"),
    "announcement": ("note", "#ffedd5"),
    "*": ("box", "#ffffff"),
}

T = TypeVar("T")

UNTAKEN = "#dc2626"
"""The colour of an edge drawn with a note (``ivr graph --coverage``: no script took it)."""
Notes = Mapping[tuple[str, str], str]
"""Words to add to some edges' labels, by ``(node, branch)``; those edges are drawn red."""

README_START = "<!-- menu-graph:start -->"
README_END = "<!-- menu-graph:end -->"


def _shape(table: Mapping[str, T], kind: str) -> T:
    """A kind's entry in one of the tables above, or the table's default."""
    return table.get(kind, table["*"])


def _classes() -> list[str]:
    """The Mermaid classes: one per node kind of the model, and announcements."""
    return [*NODE_KINDS, "announcement"]


class GraphError(IVRError):
    """The picture cannot be drawn or written, e.g. Graphviz is not installed."""


def _drawn(menu: Menu, node_id: str) -> list[Edge]:
    """The edges the picture shows (not repeats or retries)."""
    return [e for e in edges(menu, node_id) if e.drawn]


def _ids(menu: Menu) -> dict[str, str]:
    """Mermaid-safe ids, stable per node id: ``end`` and ``-`` upset Mermaid's parser."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node_id in menu.nodes:
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        ids[node_id] = candidate
        taken.add(candidate)
    return ids


def _label(menu: Menu, node_id: str) -> str:
    node = menu.node(node_id)
    detail = node.kind
    if isinstance(node, QueueNode):
        detail = f"queue: {node.queue}"
    elif isinstance(node, TransferNode):
        detail = f"transfer: {node.number}"
    elif isinstance(node, HoursNode):
        detail = f"hours ({node.timezone})"
    return f"{node_id}\n{detail}"


def _announcement_label(menu: Menu, index: int) -> str:
    a = menu.file.announcements[index]
    name = a.name or f"announcement {index + 1}"
    state = "on" if a.enabled else "off"
    return f"{name}\nannouncement ({state})"


def _mermaid_text(text: str) -> str:
    # Inside a quoted Mermaid label, '"' ends the label and '#' starts an entity. Labels are
    # drawn as HTML, so '<' and '&' from the menu file are entities too: a queue named
    # "<img src=x>" is text in the picture, never an element.
    for char, entity in (("#", "#35;"), ('"', "#quot;"), ("&", "#amp;"), ("<", "#lt;")):
        text = text.replace(char, entity)
    return text.replace(">", "#gt;").replace("\n", "<br/>")


def to_mermaid(menu: Menu, notes: Notes | None = None, title: str | None = None) -> str:
    """The menu as a Mermaid flowchart, ending with a newline; edges with ``notes`` are red
    and carry their note, and ``title`` goes in the front matter."""
    notes = notes or {}
    ids = _ids(menu)
    lines = ["---", f"title: {title}", "---"] if title is not None else []
    lines.append("flowchart TD")
    links = 0  # Mermaid styles a link by its index among all the links drawn
    red: list[str] = []
    lines.append(f'    incoming(["a call comes in"]) --> {ids[menu.start]}')
    links += 1
    for node_id in menu.nodes:
        kind = menu.node(node_id).kind
        opening, closing = _shape(_MERMAID_SHAPES, kind)
        label = _mermaid_text(_label(menu, node_id))
        lines.append(f"    {ids[node_id]}{opening}{label}{closing}:::{kind}")
    for i, a in enumerate(menu.file.announcements):
        opening, closing = _MERMAID_SHAPES["announcement"]
        label = _mermaid_text(_announcement_label(menu, i))
        lines.append(f"    a_{i}{opening}{label}{closing}:::announcement")
        lines.append(f"    incoming -.- a_{i}")
        links += 1
        if a.key is not None and a.goto is not None:
            lines.append(f'    a_{i} -->|"{_mermaid_text(a.key)}"| {ids[a.goto]}')
            links += 1
    for node_id in menu.nodes:
        for e in _drawn(menu, node_id):
            arrow = "-.->" if e.style == "dashed" else "-->"
            label = _mermaid_text(e.label)
            note = notes.get((node_id, e.branch))
            if note:
                label += "<br/>" + _mermaid_text(note)
                red.append(str(links))
            lines.append(f'    {ids[node_id]} {arrow}|"{label}"| {ids[e.target]}')
            links += 1
    for kind in _classes():
        lines.append(f"    classDef {kind} {_shape(_MERMAID_STYLES, kind)}")
    if red:
        style = f"stroke:{UNTAKEN},stroke-width:3px,color:{UNTAKEN}"
        lines.append(f"    linkStyle {','.join(red)} {style}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(menu: Menu, notes: Notes | None = None, title: str | None = None) -> str:
    """The menu as a Graphviz DOT digraph, ending with a newline; edges with ``notes`` are red
    and carry their note, and ``title`` is a comment at the top."""
    notes = notes or {}
    name = _dot_text(menu.file.name or "menu")
    lines = ["digraph menu {"]
    if title is not None:
        lines.append(f"    // {title}")
    lines += [
        f'    label="{name}"; labelloc=t; rankdir=TB;',
        '    node [fontname="Helvetica", fontsize=11, style=filled];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    "(call)" [shape=circle, fillcolor="#ffffff", label="a call\\ncomes in"];',
        f'    "(call)" -> "{_dot_text(menu.start)}";',
    ]
    for node_id in menu.nodes:
        shape, colour = _shape(_DOT_SHAPES, menu.node(node_id).kind)
        label = _dot_text(_label(menu, node_id))
        lines.append(
            f'    "{_dot_text(node_id)}" [shape={shape}, fillcolor="{colour}", label="{label}"];'
        )
    for i, a in enumerate(menu.file.announcements):
        shape, colour = _DOT_SHAPES["announcement"]
        label = _dot_text(_announcement_label(menu, i))
        lines.append(
            f'    "(announcement {i})" [shape={shape}, fillcolor="{colour}", label="{label}"];'
        )
        lines.append(f'    "(call)" -> "(announcement {i})" [style=dotted, arrowhead=none];')
        if a.key is not None and a.goto is not None:
            lines.append(
                f'    "(announcement {i})" -> "{_dot_text(a.goto)}" [label="{_dot_text(a.key)}"];'
            )
    for node_id in menu.nodes:
        for e in _drawn(menu, node_id):
            note = notes.get((node_id, e.branch))
            label = _dot_text(e.label) + (_dot_text("\n" + note) if note else "")
            attrs = f'label="{label}"' + (", style=dashed" if e.style == "dashed" else "")
            if note:
                attrs += f', color="{UNTAKEN}", fontcolor="{UNTAKEN}", penwidth=2'
            lines.append(f'    "{_dot_text(node_id)}" -> "{_dot_text(e.target)}" [{attrs}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(menu: Menu, dot: str | None = None) -> str:
    """The menu as SVG, drawn by Graphviz ``dot``; :class:`GraphError` if it is not installed."""
    dot = dot or shutil.which("dot")
    if not dot:
        raise GraphError(
            "Graphviz `dot` is not installed, so there is no SVG. Install Graphviz "
            "(apt install graphviz, brew install graphviz), or use --format dot or mermaid."
        )
    try:
        done = subprocess.run(
            [dot, "-Tsvg"], input=to_dot(menu), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphError(f"Graphviz `dot` failed to run: {exc}") from None
    if done.returncode != 0:
        raise GraphError(f"Graphviz `dot` failed: {done.stderr.strip()}")
    return done.stdout


def mermaid_block(menu: Menu) -> str:
    """The README's picture: the Mermaid fence between the two markers."""
    return f"{README_START}\n```mermaid\n{to_mermaid(menu)}```\n{README_END}"


def embedded(markdown: str) -> str | None:
    """The picture block embedded in ``markdown`` (markers included), if there is one."""
    start = markdown.find(README_START)
    end = markdown.find(README_END, start)
    if start < 0 or end < 0:
        return None
    return markdown[start : end + len(README_END)]


def update_markdown(path: str | Path, menu: Menu) -> bool:
    """Replace the picture between the markers in ``path``; True if the file changed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraphError(f"cannot read {p}: {exc.strerror}") from None
    old = embedded(text)
    if old is None:
        raise GraphError(
            f"{p} has no picture to update: add the lines {README_START} and {README_END} "
            "where it should go"
        )
    new = mermaid_block(menu)
    if old == new:
        return False
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return True
