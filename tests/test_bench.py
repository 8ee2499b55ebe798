"""The benchmarks' own parts: the generated menu, the random callers, the floor, route names."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

from conftest import TOKEN

from bench.callers import RandomCaller, route_name
from bench.cost import CALL, WEBHOOKS, floor_app, signed_request
from bench.scale import generate_menu
from ivr.caller import Call, WSGITransport
from ivr.menu import parse_menu


def test_generated_menu_is_valid_and_exactly_the_size_asked():
    for size in (60, 2_000):
        menu = parse_menu(json.dumps(generate_menu(size)), "generated.json")
        assert len(menu.nodes) == size
        assert not menu.warnings
        kinds = Counter(node.kind for node in menu.nodes.values())
        assert set(kinds) == {"menu", "message", "queue", "transfer", "hangup"}


def test_random_callers_never_meet_an_application_error(app: Any):
    outcomes: Counter[str] = Counter()
    urls: set[str] = set()
    rng = random.Random(101)
    for _ in range(80):
        record = Call(
            WSGITransport(app),
            "http://localhost/voice",
            RandomCaller(rng),
            auth_token=TOKEN,
            max_requests_without_input=40,
        ).run()
        assert record.outcome is not None
        assert record.outcome.error is None, record.outcome.error.describe()
        outcomes[record.outcome.kind] += 1
        urls.update(route_name(r.url) for r in record.requests)
    assert {"enqueued", "caller-hangup"} <= set(outcomes)
    assert {"/voice", "/node/[id]", "/menu/[id]", "/queue/[id]/wait"} <= urls


def test_route_names_leave_out_ids_and_queries():
    assert route_name("http://h/menu/main?attempt=2") == "/menu/[id]"
    assert route_name("/queue/crime_queue/wait?cycle=3") == "/queue/[id]/wait"
    assert route_name("http://h:1/voice") == "/voice"


def test_the_floor_answers_documents_of_the_same_size(app: Any):
    documents = {}
    for name, path, form in WEBHOOKS:
        status, body = signed_request(path, CALL | form, token=TOKEN)(app)
        assert status.startswith("200"), (name, body)
        documents[path.split("?")[0]] = body
    floor = floor_app(documents)
    for _, path, form in WEBHOOKS:
        status, body = signed_request(path, CALL | form)(floor)
        assert status.startswith("200")
        assert body == documents[path.split("?")[0]]
