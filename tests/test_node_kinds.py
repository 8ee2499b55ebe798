"""Adding a node kind touches the model, the router and the renderer, and nothing else.

CONTRIBUTING.md says so; this test does it. It copies the package, makes a contributor's three
edits for a made-up ``survey`` kind (a question, then another node) to ``ivr/menu/model.py``,
``ivr/menu/routing.py`` and ``ivr/twiml/render.py`` only, and then asks everything that reads
the menu - the picture, ``ivr paths``, the webhooks and their events, call-script coverage,
the report and the softphone's map and trail - about a menu with a survey in it. None of them
may need an edit of its own: each derives what it knows of kinds from the model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# -- the contributor's edits, as (file, anchor, text to put before the anchor) -------------------

MODEL_CLASS = '''
class SurveyNode(_Node):
    """A survey question, then another node."""

    kind: Literal["survey"] = Field(description="A survey question, then another node.")
    say: Text = Field(description="The question.")
    next: str = Field(description="Node to go to afterwards.")


'''
ROUTER_EDGES = """    elif isinstance(node, SurveyNode):
        yield Edge(node_id, "next", node.next, "next")
"""
RENDERER_BODY = """        elif isinstance(node, SurveyNode):
            say(r, menu.text(node.say, language), language)
            r.redirect(self.routes.node(node.next, language), method="POST")
"""
EDITS = {
    "ivr/menu/model.py": [
        ("Node = Annotated[", MODEL_CLASS + "Node = Annotated["),
        (
            "| HoursNode,\n    Field(discriminator",
            "| HoursNode | SurveyNode,\n    Field(discriminator",
        ),
        ('"hangup", "hours")', '"hangup", "hours", "survey")'),
    ],
    "ivr/menu/routing.py": [
        (
            "    elif not isinstance(node, HangupNode):",
            ROUTER_EDGES + "    elif not isinstance(node, HangupNode):",
        ),
        ("from .model import (", "from .model import SurveyNode\nfrom .model import ("),
    ],
    "ivr/twiml/render.py": [
        (
            "        else:  # pragma: no cover - the model admits",
            RENDERER_BODY + "        else:  # pragma: no cover - the model admits",
        ),
        ("from .callback import", "from ..menu.model import SurveyNode\nfrom .callback import"),
    ],
}
"""The only files touched: each ``(old, new)`` replaces text that occurs once."""

MENU = {
    "start": "main",
    "nodes": {
        "main": {
            "kind": "menu",
            "prompt": "Welcome.",
            "options": [{"key": "1", "say": "For our survey, press 1.", "goto": "intro"}],
            "fallback": "bye",
        },
        "intro": {"kind": "message", "say": "Thank you for helping.", "next": "feedback"},
        "feedback": {"kind": "survey", "say": "How did we do today?", "next": "bye"},
        "bye": {"kind": "hangup", "say": "Goodbye."},
    },
}

CHECKS = r"""
import json, sys, types
from ivr import create_app
from ivr.authoring.graph import to_dot, to_mermaid
from ivr.authoring.paths import walk_paths
from ivr.caller import Call, Input, ScriptedCaller, WSGITransport
from ivr.events import ARRIVALS, Kind
from ivr.journey.report import MenuFacts, ReportBuilder
from ivr.menu import NODE_KINDS, load_menu
from ivr.scripts.coverage import edges_taken, journey_of, model_edges
from ivr.softphone.sessions import NodeTrail
from ivr.softphone.views import menu_map

menu_file = sys.argv[1]
menu = load_menu(menu_file)
out = {"kinds": list(NODE_KINDS), "node": type(menu.node("feedback")).__name__}

# The picture: a shape and a class for the new kind, its edge from the router.
out["mermaid"] = to_mermaid(menu)
out["dot"] = to_dot(menu)

# ivr paths: walked from the rendered TwiML.
report = walk_paths(menu)
out["routes"] = [
    {"keys": list(r.keys), "nodes": list(r.nodes), "heard": list(r.heard), "label": r.label}
    for r in report.routes
]
out["findings"] = [f"{f.kind} {f.node}" for f in report.findings]

# The webhooks: a simulated caller presses 1.
events = []
recorder = types.SimpleNamespace(record=events.append, close=lambda: None)
app = create_app(
    {"TESTING": True, "TWILIO_AUTH_TOKEN": "token", "IVR_MENU_FILE": menu_file,
     "IVR_JOURNEY_LOG": False, "IVR_LOG_LEVEL": "WARNING"},
    recorder=recorder,
)
record = Call(
    WSGITransport(app), "http://localhost/voice", ScriptedCaller([Input.press("1")]),
    auth_token="token",
).run()
out["heard"] = [e.text for e in record.events if e.kind == "say"]
out["events"] = [[str(e.kind), e.node, e.kind in ARRIVALS] for e in events]

# Coverage of the menu's edges by that call.
out["model_edges"] = sorted(f"{e.node} {e.branch} {e.language}" for e in model_edges(menu))
out["taken"] = [" ".join(t) for t in edges_taken(journey_of(events), menu)]

# The report.
call = types.SimpleNamespace(
    call_sid=events[0].call_sid, status="completed", duration=20.0,
    started=events[0].at, ended=events[-1].at,
)
builder = ReportBuilder(events[-1].at, MenuFacts.from_menu(menu))
builder.add_call(call, events)
out["outcomes"] = builder.build(None, None).calls["outcomes"]

# The softphone: its map of the menu, and the trail of where the app put the caller.
out["map"] = [[n.id, n.kind, n.summary, n.edges] for column in menu_map(menu) for n in column]
out["trail"] = [NodeTrail.node_after(e) for e in events]
print(json.dumps(out))
"""


def contribute(to: Path) -> None:
    """A copy of the package with a contributor's edits for the ``survey`` kind."""
    shutil.copytree(ROOT / "ivr", to / "ivr", ignore=shutil.ignore_patterns("__pycache__"))
    for name, edits in EDITS.items():
        path = to / name
        text = path.read_text(encoding="utf-8")
        for old, new in edits:
            assert text.count(old) == 1, f"{name}: cannot find {old!r} (CONTRIBUTING.md?)"
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> dict:
    where = tmp_path_factory.mktemp("contributor")
    contribute(where)
    menu = where / "menus.json"
    menu.write_text(json.dumps(MENU), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(where), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHECKS, str(menu)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_model_has_the_new_kind(survey: dict) -> None:
    assert survey["kinds"][-1] == "survey"
    assert survey["node"] == "SurveyNode"


def test_the_picture_draws_it_with_a_default_shape(survey: dict) -> None:
    mermaid = survey["mermaid"]
    assert 'n_feedback["feedback<br/>survey"]:::survey' in mermaid
    assert "classDef survey " in mermaid
    assert 'n_feedback -->|"next"| n_bye' in mermaid
    assert (
        '"feedback" [shape=box, fillcolor="#ffffff", label="feedback\\nsurvey"];' in survey["dot"]
    )
    assert '"feedback" -> "bye" [label="next"];' in survey["dot"]


def test_paths_walk_through_it(survey: dict) -> None:
    [route] = [r for r in survey["routes"] if r["keys"] == ["1"]]
    assert route["nodes"] == ["main", "intro", "feedback", "bye"]
    assert route["heard"][-2:] == ["How did we do today?", "Goodbye."]
    assert route["label"] == "hang up"
    assert not [f for f in survey["findings"] if "feedback" in f]


def test_the_webhooks_record_an_arrival_there(survey: dict) -> None:
    assert survey["heard"][-3:] == ["Thank you for helping.", "How did we do today?", "Goodbye."]
    assert ["arrival", "feedback", True] in survey["events"]


def test_coverage_counts_and_credits_its_edge(survey: dict) -> None:
    assert "feedback next en-GB" in survey["model_edges"]
    assert survey["taken"] == ["main key 1 en-GB", "intro next en-GB", "feedback next en-GB"]


def test_the_report_follows_the_call_through_it(survey: dict) -> None:
    assert survey["outcomes"] == {"ended by the menu": 1}


def test_the_softphone_maps_and_trails_it(survey: dict) -> None:
    assert ["feedback", "survey", "How did we do today?", [["next", "bye"]]] in survey["map"]
    assert "feedback" in survey["trail"]
