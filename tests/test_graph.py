"""The menu as a picture: Mermaid and DOT, and the README's embedded copy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.authoring.graph import (
    README_END,
    README_START,
    GraphError,
    embedded,
    mermaid_block,
    to_dot,
    to_mermaid,
    to_svg,
    update_markdown,
)
from ivr.cli import cli
from ivr.menu import load_menu, parse_menu, routing

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "menus.json"

SMALL = {
    "start": "end",  # Mermaid reserves "end": the ids must not clash with it
    "nodes": {
        "end": {
            "kind": "menu",
            "prompt": "Hi.",
            "options": [
                {"key": "1", "say": "One.", "goto": "out-of-hours"},
                {"key": "#", "say": "Hash.", "goto": "bye"},
            ],
            "fallback": "q",
        },
        "out-of-hours": {
            "kind": "hours",
            "weekly": {"mon": ["09:00-17:00"]},
            "open": "q",
            "closed": "bye",
        },
        "q": {"kind": "queue", "queue": "general", "on_full": "bye", "on_error": "xfer"},
        "xfer": {"kind": "transfer", "number": "0300 123 2040", "on_fail": "bye"},
        "bye": {"kind": "hangup", "say": "Bye."},
        "incident": {"kind": "message", "say": 'The "A34".', "next": "q"},
    },
    "announcements": [
        {"name": "A34", "say": "Press 5.", "key": "5", "goto": "incident"},
    ],
}


@pytest.fixture
def small():
    return parse_menu(json.dumps(SMALL))


def test_mermaid_draws_each_kind_with_its_shape_and_class(small) -> None:
    text = to_mermaid(small)
    assert text.startswith("flowchart TD\n")
    assert 'incoming(["a call comes in"]) --> n_end' in text
    assert 'n_end{"end<br/>menu"}:::menu' in text
    assert 'n_out_of_hours{{"out-of-hours<br/>hours (Europe/London)"}}:::hours' in text
    assert 'n_q[("q<br/>queue: general")]:::queue' in text
    assert 'n_xfer[/"xfer<br/>transfer: +443001232040"/]:::transfer' in text
    assert 'n_bye(("bye<br/>hangup")):::hangup' in text
    assert 'n_incident("incident<br/>message"):::message' in text
    assert 'a_0>"A34<br/>announcement (on)"]:::announcement' in text


def test_mermaid_edges_carry_keys_and_dash_the_fallbacks(small) -> None:
    text = to_mermaid(small)
    assert 'n_end -->|"1"| n_out_of_hours' in text
    assert 'n_end -->|"#35;"| n_bye' in text  # '#' would start a Mermaid entity
    assert 'n_end -.->|"fallback"| n_q' in text
    assert 'n_out_of_hours -->|"open"| n_q' in text
    assert 'n_out_of_hours -->|"closed"| n_bye' in text
    assert 'n_q -.->|"full"| n_bye' in text
    assert 'n_q -.->|"error"| n_xfer' in text
    assert 'n_xfer -.->|"failed"| n_bye' in text
    assert 'a_0 -->|"5"| n_incident' in text


def test_mermaid_ids_stay_distinct_when_names_differ_only_by_hyphen() -> None:
    data = json.loads(json.dumps(SMALL))
    data["nodes"]["out_of_hours"] = {"kind": "hangup"}
    data["nodes"]["end"]["options"].append({"key": "2", "say": "Two.", "goto": "out_of_hours"})
    text = to_mermaid(parse_menu(json.dumps(data)))
    assert 'n_out_of_hours{{"out-of-hours' in text
    assert 'n_out_of_hours_2(("out_of_hours' in text


def test_dot_draws_each_kind_and_dashes_the_fallbacks(small) -> None:
    text = to_dot(small)
    assert text.startswith("digraph menu {\n") and text.endswith("}\n")
    assert '"end" [shape=diamond' in text
    assert '"out-of-hours" [shape=hexagon' in text
    assert '"q" [shape=cylinder' in text
    assert '"end" -> "out-of-hours" [label="1"];' in text
    assert '"end" -> "q" [label="fallback", style=dashed];' in text
    assert '"q" -> "bye" [label="full", style=dashed];' in text
    assert '"(announcement 0)" -> "incident" [label="5"];' in text


@pytest.mark.parametrize("draw", [to_mermaid, to_dot])
def test_every_node_of_menus_json_is_in_the_picture(draw) -> None:
    menu = load_menu(MENU)
    text = draw(menu)
    for node_id in menu.nodes:
        assert re.search(rf'"{re.escape(node_id)}(<br/>|\\n)', text), node_id
    edges = sum(1 for n in menu.nodes for e in routing.edges(menu, n) if e.drawn)
    arrows = (
        len(re.findall(r"-\.?->\|", text))
        if draw is to_mermaid
        else text.count('" -> "') - 1 - len(menu.file.announcements)
    )
    assert arrows == edges + sum(1 for a in menu.file.announcements if a.key)


def test_svg_without_graphviz_is_a_clear_error(small, monkeypatch) -> None:
    monkeypatch.setattr("ivr.authoring.graph.shutil.which", lambda name: None)
    with pytest.raises(GraphError, match="Graphviz `dot` is not installed"):
        to_svg(small)


def test_svg_through_a_fake_dot(small, tmp_path: Path) -> None:
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho '<svg>'; cat >/dev/null\n")
    fake.chmod(0o755)
    assert to_svg(small, dot=str(fake)) == "<svg>\n"
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'syntax error' >&2; exit 1\n")
    broken.chmod(0o755)
    with pytest.raises(GraphError, match="syntax error"):
        to_svg(small, dot=str(broken))


def test_the_readme_picture_matches_menus_json() -> None:
    """Fails when menus.json changes without `ivr graph --update-readme`."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert embedded(text), f"no {README_START} ... {README_END} block in README.md"
    assert embedded(text) == mermaid_block(load_menu(MENU)), (
        "README.md shows an old picture of menus.json: run `ivr graph --update-readme`"
    )


def test_update_markdown_replaces_only_the_block(small, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{README_START}\nold\n{README_END}\n\nAfter.\n")
    assert update_markdown(readme, small) is True
    text = readme.read_text()
    assert text.startswith("# Title\n\nBefore.\n\n" + mermaid_block(small))
    assert text.endswith(f"{README_END}\n\nAfter.\n")
    assert update_markdown(readme, small) is False


def test_update_markdown_without_markers_says_how(small, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    with pytest.raises(GraphError, match="add the lines"):
        update_markdown(readme, small)


def test_cli_graph_formats(tmp_path: Path) -> None:
    menu_file = tmp_path / "menus.json"
    menu_file.write_text(json.dumps(SMALL))
    runner = CliRunner()
    result = runner.invoke(cli, ["graph", str(menu_file)])
    assert result.exit_code == 0, result.output
    assert result.output == to_mermaid(load_menu(menu_file))
    result = runner.invoke(cli, ["graph", str(menu_file), "--format", "dot"])
    assert result.output == to_dot(load_menu(menu_file))


def test_cli_graph_update_readme_defaults_to_readme_md(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "menus.json").write_text(json.dumps(SMALL))
    (tmp_path / "README.md").write_text(f"{README_START}\n{README_END}\n")
    result = CliRunner().invoke(cli, ["graph", "menus.json", "--update-readme"])
    assert result.exit_code == 0, result.output
    assert "README.md: updated" in result.output
    assert "flowchart TD" in (tmp_path / "README.md").read_text()


def test_cli_graph_reports_a_broken_menu(tmp_path: Path) -> None:
    menu_file = tmp_path / "menus.json"
    menu_file.write_text('{"start": "x"}')
    result = CliRunner().invoke(cli, ["graph", str(menu_file)])
    assert result.exit_code == 1
    assert "nodes: is required" in result.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_with_the_real_graphviz() -> None:
    svg = to_svg(load_menu(MENU))
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert ">business_hours</text>" in svg


def test_notes_on_edges_are_drawn_by_the_graph_itself() -> None:
    """``ivr graph --coverage`` asks the graph for red, annotated edges; it does not rewrite
    the picture's text afterwards (the two would drift apart)."""
    menu = load_menu(ROOT / "tests" / "calls" / "menus" / "announcement-on.json")
    drawn = [(n, e) for n in menu.nodes for e in routing.edges(menu, n) if e.drawn]
    picked = {(n, e.branch): f"not taken: {e.label}" for n, e in drawn[1::4]}
    assert len(picked) >= 3
    text = to_mermaid(menu, picked, title="some title")
    lines = text.splitlines()
    assert lines[:3] == ["---", "title: some title", "---"]
    links = [line for line in lines if re.search(r"\s(-->|-\.->|-\.-)(\||\s|$)", line)]
    styled = re.findall(r"^    linkStyle ([\d,]+) stroke:#dc2626", text, re.M)
    red = [links[int(i)] for i in styled[0].split(",")]
    assert len(red) == len(picked)
    for line in red:
        assert "<br/>not taken: " in line
    assert sum("not taken" in line for line in links) == len(picked)
    dot = to_dot(menu, picked, title="some title").splitlines()
    assert dot[1] == "    // some title"
    coloured = [line for line in dot if 'color="#dc2626"' in line]
    assert len(coloured) == len(picked)
    assert all("\\nnot taken: " in line for line in coloured)
    # Without notes, the plain picture.
    assert to_mermaid(menu, {}) == to_mermaid(menu)
    assert "linkStyle" not in to_mermaid(menu)


def test_the_coverage_picture_leaves_drawing_to_the_graph() -> None:
    source = (ROOT / "ivr" / "scripts" / "picture.py").read_text(encoding="utf-8")
    assert "import re" not in source and "splitlines" not in source
