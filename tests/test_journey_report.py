"""The call report: figures from a known set of calls, and the report in every format.

Every test that reads a store runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa
from journey_support import BACKENDS, backend_for

from ivr.events import Event
from ivr.journey import JourneyLog, percentile, render
from ivr.menu import parse_menu

NOW = 1_790_000_000.0  # a fixed "now" for figures that depend on time


@pytest.fixture(params=BACKENDS)
def journeys(request, tmp_path):
    with backend_for(request.param, tmp_path) as backend:
        log = JourneyLog(backend.url, spool=backend.spool, retry_initial=0.01, retry_max=0.2)
        yield log
        log.close()


MENU = {
    "start": "main",
    "nodes": {
        "main": {
            "kind": "menu",
            "prompt": "Welcome.",
            "options": [
                {"key": "1", "say": "Crime, press 1.", "speech": ["crime"], "goto": "crime_q"},
                {"key": "2", "say": "Fraud, press 2.", "goto": "fraud"},
                {"key": "3", "say": "Other, press 3.", "goto": "info"},
            ],
            "fallback": "crime_q",
        },
        "crime_q": {
            "kind": "queue",
            "queue": "call-handlers",
            "on_full": "busy",
            "on_error": "busy",
        },
        "fraud": {
            "kind": "transfer",
            "number": "+443001232040",
            "on_fail": "info",
        },
        "info": {"kind": "message", "say": "Go online. Goodbye."},
        "busy": {"kind": "hangup", "say": "All busy. Goodbye."},
    },
}


def simulate(log: JourneyLog, sid: str, t: float, steps: list[tuple]) -> None:
    """Record one call: each step is (seconds after start, kind, fields...)."""
    log.record(Event(sid, "call-start", node="main", caller="+447700900123", at=t))
    end = t
    for offset, kind, fields in steps:
        log.record(Event(sid, kind, at=t + offset, **fields))
        end = t + offset
    log.record(Event(sid, "status", outcome="completed", detail={"duration": end - t}, at=end + 1))


def choice(key, option=None, outcome="option", node="main", confidence=None):
    nxt = option or node
    return {
        "node": node,
        "key": key,
        "option": option,
        "outcome": outcome,
        "confidence": confidence,
        "detail": {"next": nxt},
    }


@pytest.fixture
def known_calls(journeys):
    t = NOW
    wait_q = lambda w: {"node": "crime_q", "detail": {"queue_time": w}}  # noqa: E731
    # Four callers reach the queue after 10, 20, 30, 40 s and wait 60, 120, 180, 600 s.
    for n, (reach, wait, result) in enumerate(
        [(10, 60, "bridged"), (20, 120, "bridged"), (30, 180, "hangup"), (40, 600, "bridged")]
    ):
        simulate(
            journeys,
            f"CAq{n}",
            t + n,
            [
                (reach, "choice", choice("1", "crime_q")),
                (reach + 1, "queue-wait", wait_q(0)),
                (reach + wait, "queue-result", wait_q(wait) | {"outcome": result}),
            ],
        )
    # Speech, after an invalid key and a silence.
    simulate(
        journeys,
        "CAs",
        t + 10,
        [
            (5, "choice", choice("9", outcome="invalid")),
            (12, "choice", choice(None, outcome="silence")),
            (20, "choice", choice("1", "crime_q", confidence=0.9)),
            (25, "queue-result", wait_q(5) | {"outcome": "bridged"}),
        ],
    )
    # Hangs up in the main menu after an invalid key.
    simulate(journeys, "CAh", t + 20, [(8, "choice", choice("7", outcome="invalid"))])
    # Transfers: one answered, one busy then told to go online (the menu ends the call).
    simulate(
        journeys,
        "CAt1",
        t + 30,
        [
            (6, "choice", choice("2", "fraud")),
            (40, "transfer-result", {"node": "fraud", "outcome": "completed"}),
        ],
    )
    simulate(
        journeys,
        "CAt2",
        t + 40,
        [
            (6, "choice", choice("2", "fraud")),
            (
                36,
                "transfer-result",
                {"node": "fraud", "outcome": "busy", "detail": {"next": "info"}},
            ),
        ],
    )
    # Chooses the information message, which ends the call by design.
    simulate(journeys, "CAi", t + 50, [(4, "choice", choice("3", "info"))])
    # A callback requested from the queue, then done 30 minutes later.
    simulate(
        journeys,
        "CAcb",
        t + 60,
        [
            (7, "choice", choice("1", "crime_q")),
            (8, "queue-wait", wait_q(0)),
            (100, "queue-result", wait_q(92) | {"outcome": "leave"}),
        ],
    )
    cb = journeys.request_callback("CAcb", "+447911123456", queue="call-handlers", at=t + 99)
    # A call handler on the staff line: not a caller, counted apart.
    journeys.record(Event("CAstaff", "handler-in", outcome="pin", at=t + 70))
    journeys.record(Event("CAstaff", "handler-take", detail={"queue": "call-handlers"}, at=t + 75))
    # Outside the period: not counted.
    simulate(journeys, "CAlate", t + 10 * 86400, [(8, "choice", choice("7", outcome="invalid"))])
    assert journeys.flush()
    with journeys.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE callbacks SET done_at = :d WHERE id = :i"), {"d": t + 1899, "i": cb}
        )
    return journeys


def test_report_figures_on_a_known_set_of_calls(known_calls):
    report = known_calls.report(NOW - 1, NOW + 86400, menu=parse_menu(json.dumps(MENU)))

    assert report.calls["total"] == 10
    assert report.calls["handler_line"] == 1
    assert report.calls["by_status"] == {"completed": 10}
    assert report.calls["outcomes"] == {
        "answered": 4,
        "callback requested": 1,
        "ended by the menu": 2,
        "hung up in a queue": 1,
        "hung up in the menu": 1,
        "transferred": 1,
    }

    choices = {(c["node"], c["key"], c["option"], c["via"]): c["count"] for c in report.choices}
    assert choices == {
        ("main", "1", "crime_q", "key"): 5,
        ("main", "1", "crime_q", "speech"): 1,
        ("main", "2", "fraud", "key"): 2,
        ("main", "3", "info", "key"): 1,
    }
    speech = next(c for c in report.choices if c["via"] == "speech")
    assert speech["confidence_median"] == 0.9

    assert report.hangups == [
        {"where": "menu", "node": "main", "count": 1},
        {"where": "queue", "node": "crime_q", "count": 1},
    ]
    assert report.hot_spots == [
        {"node": "main", "inputs": 12, "invalid": 2, "silence": 1, "gave_up": 0, "rate": 0.25}
    ]

    (queue,) = report.queues
    assert queue["queue"] == "call-handlers"
    assert queue["reached"] == 6
    # Reached after 10, 20, 30, 40 s (four callers), 20 s (speech) and 7 s (callback).
    assert queue["time_to_reach"] == {"count": 6, "median": 20.0, "p95": 37.5}
    # Waited 60, 120, 180, 600, 5 and 92 s.
    assert queue["wait"] == {"count": 6, "median": 106.0, "p95": 495.0}
    assert queue["results"] == {"bridged": 4, "hangup": 1, "leave": 1}

    assert report.transfers == [
        {
            "node": "fraud",
            "number": "+443001232040",
            "attempts": 2,
            "outcomes": {"busy": 1, "completed": 1},
        }
    ]
    assert report.callbacks == {
        "requested": 1,
        "completed": 1,
        "pending": 0,
        "time_to_complete": {"count": 1, "median": 1800.0, "p95": 1800.0},
    }


def test_report_without_the_menu_still_counts_what_the_events_say(known_calls):
    report = known_calls.report()
    assert report.calls["total"] == 11
    assert report.queues[0]["queue"] == "crime_q"
    assert report.queues[0]["reached"] == 6


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 21))
    assert percentile(values, 50) == 10.5
    assert percentile(values, 95) == pytest.approx(19.05)
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def test_an_empty_report(journeys):
    report = journeys.report()
    assert report.calls["total"] == 0
    assert report.queues == [] and report.choices == [] and report.hangups == []


def test_reports_are_readable_in_every_format(known_calls):

    report = known_calls.report(menu=parse_menu(json.dumps(MENU)))
    table = render(report, "table")
    for heading in ("Calls", "Choices per menu", "Where callers hang up", "Queues", "Callbacks"):
        assert f"\n{heading}\n" in table
    assert "call-handlers" in table

    data = json.loads(render(report, "json"))
    assert data == json.loads(json.dumps(report.as_dict()))

    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert {"section": "calls", "node": "", "item": "", "measure": "total", "value": "11"} in rows

    page = render(report, "html", title="Test <report>")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Test &lt;report&gt;</title>" in page
    assert page.count("<svg") >= 4
    # Self-contained: nothing fetched from anywhere, no scripts.
    lowered = page.lower()
    assert "<script" not in lowered and "src=" not in lowered and "href=" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    assert lowered.count("http") == lowered.count('xmlns="http://www.w3.org/2000/svg"')

    with pytest.raises(ValueError):
        render(report, "pdf")


def test_outcomes_sum_to_the_calls(known_calls):
    report = known_calls.report()
    assert sum(report.calls["outcomes"].values()) == report.calls["total"]


def test_journey_reads_see_this_process_s_own_recent_events(journeys):
    journeys.record(Event("CAr", "call-start", at=NOW))
    # No explicit flush: reading waits briefly for the writer.
    assert len(journeys.journey("CAr")) == 1


def test_a_caller_taken_by_the_handler_line_counts_as_answered(journeys):
    simulate(
        journeys,
        "CAtaken",
        NOW,
        [
            (5, "choice", choice("1", "crime_q")),
            (6, "queue-wait", {"node": "crime_q", "detail": {"queue_time": 0}}),
            (86, "handler-bridged", {"outcome": "bridged", "detail": {"queue_time": 80}}),
        ],
    )
    report = journeys.report(menu=parse_menu(json.dumps(MENU)))
    assert report.calls["outcomes"] == {"answered": 1}
    assert report.hangups == []
    assert report.queues[0]["wait"] == {"count": 1, "median": 80.0, "p95": 80.0}


def test_speech_confidence_is_shown_only_on_the_speech_row(known_calls):
    report = known_calls.report(menu=parse_menu(json.dumps(MENU)))
    rows = {(c["key"], c["option"], c["via"]): c["confidence_median"] for c in report.choices}
    # Key 1 and the words "crime" both lead to crime_q: one row each, confidence on one only.
    assert rows[("1", "crime_q", "key")] is None
    assert rows[("1", "crime_q", "speech")] == 0.9
    table = render(report, "table")
    (key_row,) = [
        line for line in table.splitlines() if line.split()[:4] == ["main", "1", "crime_q", "key"]
    ]
    assert "0.90" not in key_row and key_row.rstrip().endswith("-")


def test_only_kinds_the_webhooks_emit_are_read(journeys):
    # "enqueue" is the simulator's word (ivr.caller), never the webhooks': not a queue visit.
    journeys.record(Event("CAsim", "call-start", node="main", at=NOW))
    journeys.record(Event("CAsim", "enqueue", node="crime_q", detail={"queue": "x"}, at=NOW + 5))
    journeys.record(Event("CAsim", "status", outcome="completed", at=NOW + 9))
    report = journeys.report(menu=parse_menu(json.dumps(MENU)))
    assert report.queues == []
    assert report.hangups == [{"where": "menu", "node": "main", "count": 1}]


HOSTILE = '<script>alert("x")</script>'


def test_the_html_page_escapes_everything_it_was_told(journeys):
    # A node name can come from a URL (a node that vanished from the menu is recorded as asked).
    simulate(
        journeys,
        "CAx",
        NOW,
        [
            (3, "choice", choice("1", HOSTILE, node=HOSTILE)),
            (4, "transfer-result", {"node": HOSTILE, "outcome": 'busy"><u>'}),
        ],
    )
    page = render(journeys.report(), "html", title=HOSTILE)
    assert "<script" not in page.lower() and "<u>" not in page
    assert "<title>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>" in page
    assert 'aria-label="choices at &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"' in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;: busy&#34;&gt;&lt;u&gt;" in page
