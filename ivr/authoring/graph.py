"""A picture of the menu: Mermaid (renders on GitHub) and Graphviz DOT.

Nodes are drawn by kind; edges carry their keys; fallbacks and queue overflows are dashed.
Announcements appear as their own boxes, joined to the start and to where their key leads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ..errors import IVRError
from ..menu import Menu
from ..menu.routing import edges

# Mermaid shape (opening, closing) and DOT shape per node kind.
_MERMAID_SHAPES = {
    "menu": ('{"', '"}'),
    "message": ('("', '")'),
    "queue": ('[("', '")]'),
    "transfer": ('[/"', '"/]'),
    "hangup": ('(("', '"))'),
    "hours": ('{{"', '"}}'),
    "announcement": ('>"', '"]'),
}
_MERMAID_STYLES = {
    "menu": "fill:#dbeafe,stroke:#1d4ed8",
    "message": "fill:#f3f4f6,stroke:#4b5563",
    "queue": "fill:#dcfce7,stroke:#15803d",
    "transfer": "fill:#fef9c3,stroke:#a16207",
    "hangup": "fill:#fee2e2,stroke:#b91c1c",
    "hours": "fill:#ede9fe,stroke:#6d28d9",
    "announcement": "fill:#ffedd5,stroke:#c2410c",
}
_DOT_SHAPES = {
    "menu": ("diamond", "#dbeafe"),
    "message": ("box", "#f3f4f6"),
    "queue": ("cylinder", "#dcfce7"),
    "transfer": ("parallelogram", "#fef9c3"),
    "hangup": ("doublecircle", "#fee2e2"),
    "hours": ("hexagon", "#ede9fe"),
    "announcement": ("note", "#ffedd5"),
}

README_START = "<!-- menu-graph:start -->"
README_END = "<!-- menu-graph:end -->"


class GraphError(IVRError):
    """The picture cannot be drawn or written, e.g. Graphviz is not installed."""


def _drawn(menu: Menu, node_id: str) -> list[tuple[str, str, str]]:
    """``(label, target, style)`` of the edges the picture shows (not repeats or retries)."""
    return [(e.label, e.target, e.style) for e in edges(menu, node_id) if e.drawn]


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
    if node.kind == "queue":
        detail = f"queue: {node.queue}"
    elif node.kind == "transfer":
        detail = f"transfer: {node.number}"
    elif node.kind == "hours":
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


def to_mermaid(menu: Menu) -> str:
    """The menu as a Mermaid flowchart, ending with a newline."""
    ids = _ids(menu)
    lines = ["flowchart TD"]
    lines.append(f'    incoming(["a call comes in"]) --> {ids[menu.start]}')
    for node_id in menu.nodes:
        kind = menu.node(node_id).kind
        opening, closing = _MERMAID_SHAPES[kind]
        label = _mermaid_text(_label(menu, node_id))
        lines.append(f"    {ids[node_id]}{opening}{label}{closing}:::{kind}")
    for i, a in enumerate(menu.file.announcements):
        opening, closing = _MERMAID_SHAPES["announcement"]
        label = _mermaid_text(_announcement_label(menu, i))
        lines.append(f"    a_{i}{opening}{label}{closing}:::announcement")
        lines.append(f"    incoming -.- a_{i}")
        if a.key is not None and a.goto is not None:
            lines.append(f'    a_{i} -->|"{_mermaid_text(a.key)}"| {ids[a.goto]}')
    for node_id in menu.nodes:
        for label, target, style in _drawn(menu, node_id):
            arrow = "-.->" if style == "dashed" else "-->"
            lines.append(f'    {ids[node_id]} {arrow}|"{_mermaid_text(label)}"| {ids[target]}')
    for kind, style in _MERMAID_STYLES.items():
        lines.append(f"    classDef {kind} {style}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(menu: Menu) -> str:
    """The menu as a Graphviz DOT digraph, ending with a newline."""
    title = _dot_text(menu.file.name or "menu")
    lines = [
        "digraph menu {",
        f'    label="{title}"; labelloc=t; rankdir=TB;',
        '    node [fontname="Helvetica", fontsize=11, style=filled];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    "(call)" [shape=circle, fillcolor="#ffffff", label="a call\\ncomes in"];',
        f'    "(call)" -> "{_dot_text(menu.start)}";',
    ]
    for node_id in menu.nodes:
        shape, colour = _DOT_SHAPES[menu.node(node_id).kind]
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
        for label, target, style in _drawn(menu, node_id):
            attrs = f'label="{_dot_text(label)}"' + (", style=dashed" if style == "dashed" else "")
            lines.append(f'    "{_dot_text(node_id)}" -> "{_dot_text(target)}" [{attrs}];')
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
