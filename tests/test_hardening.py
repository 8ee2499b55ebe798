"""Abuse: any input on any webhook, any menu file, malformed requests. Never a 500."""

from __future__ import annotations

import atexit
import copy
import json
import logging
import shutil
import tempfile
import xml.etree.ElementTree as ET
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from conftest import MENU, TOKEN, Twilio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import Client

from ivr import create_app
from ivr.caller import Call, Response, ScriptedCaller
from ivr.caller.document import WAIT_VERBS
from ivr.errors import MenuError
from ivr.menu import load_menu, parse_menu
from ivr.webhooks.request import parse_urlencoded
from ivr.webhooks.security import compute_signature

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NODES = sorted(json.loads(MENU.read_text(encoding="utf-8"))["nodes"])
BASE = "http://localhost"
HANGUP = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'


@lru_cache(maxsize=1)
def shared_app() -> Any:
    """One app for every example (hypothesis runs many per test), with the journey log on, as
    in production: the callback routes store requests in it, and record every step."""
    folder = tempfile.mkdtemp(prefix="ivr-fuzz-")
    atexit.register(shutil.rmtree, folder, True)  # after the journey log's own atexit close
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{folder}/journeys.db",
            "IVR_SPOOL_DIR": f"{folder}/spool",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": None,
            "IVR_MENU_FILE": str(MENU),
            "IVR_ALLOW_UNSIGNED": False,
            "IVR_TRUSTED_PROXIES": 0,
            "IVR_LOG_LEVEL": "WARNING",
        }
    )


class Faults(logging.Handler):
    """Collects every logged exception: a view that failed, even if it apologised."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.failures.append(self.format(record))


@pytest.fixture
def faults():
    handler = Faults()
    logger = logging.getLogger("ivr")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# -- what Twilio (or an attacker) might send ---------------------------------------------

text = st.text(max_size=40)
digits = st.one_of(st.text("0123456789*#", max_size=6), text)
numberish = st.one_of(st.integers(-(10**12), 10**12).map(str), text)
# Any node name the router can match (one non-empty path segment); others are 404s.
node_ids = st.one_of(
    st.sampled_from(NODES),
    st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True),
    st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in (".", "..")),
)
TWILIO_PARAMS = {
    "CallSid": st.one_of(st.just("CA" + "0" * 32), text),
    "AccountSid": st.just("AC" + "0" * 32),
    "From": st.one_of(st.sampled_from(["+447700900123", "anonymous", "client:alice", ""]), text),
    "To": st.one_of(st.just("+441632960101"), text),
    "CallStatus": st.one_of(st.sampled_from(["in-progress", "completed", "ringing"]), text),
    "Digits": digits,
    "SpeechResult": text,
    "Confidence": numberish,
    "QueuePosition": numberish,
    "QueueTime": numberish,
    "AvgQueueTime": numberish,
    "QueueResult": st.one_of(
        st.sampled_from(
            ["bridged", "queue-full", "hangup", "leave", "error", "system-error", "redirected"]
        ),
        text,
    ),
    "DialCallStatus": st.one_of(
        st.sampled_from(["completed", "answered", "busy", "no-answer", "failed", "canceled"]),
        text,
    ),
    "DialCallDuration": numberish,
    "CallDuration": numberish,
    "ErrorCode": numberish,
    "ErrorUrl": text,
}
forms = st.fixed_dictionaries({}, optional=TWILIO_PARAMS | {"Extra": text, "digits": text}).flatmap(
    lambda known: st.dictionaries(st.text(min_size=1, max_size=12), text, max_size=3).map(
        lambda extra: extra | known
    )
)
queries = st.dictionaries(
    st.one_of(
        st.sampled_from(["attempt", "cycle", "lang", "recover", "position", "wait", "menu"]),
        st.text(max_size=8),
    ),
    st.one_of(numberish, st.sampled_from(["en-GB", "cy-GB", "xx", "1"]), text),
    max_size=4,
)
ROUTES = [
    "/voice",
    "/announcement",
    "/node/{}",
    "/menu/{}",
    "/queue/{}/wait",
    "/queue/{}/result",
    "/queue/{}/callback/offer",
    "/queue/{}/callback/confirm",
    "/queue/{}/callback/number",
    "/transfer/{}/result",
    "/status",
    "/fallback",
]
webhooks = st.tuples(st.sampled_from(ROUTES), node_ids, queries, forms).map(
    lambda t: (t[0].format(quote(t[1], safe="")), t[2], t[3])
)


def target(path: str, query: dict[str, str]) -> str:
    return path + ("?" + urlencode(query) if query else "")


# -- the webhooks ---------------------------------------------------------------------------


@FUZZ
@given(webhooks)
def test_unsigned_requests_are_refused(webhook):
    path, query, form = webhook
    response = shared_app().test_client().post(target(path, query), data=form)
    assert response.status_code == 403
    assert b"Traceback" not in response.data


@FUZZ
@given(webhooks, st.booleans())
def test_a_wrong_signature_is_refused(webhook, tamper_url):
    path, query, form = webhook
    url = target(path, query)
    signed = BASE + (url + ("&" if query else "?") + "x=1" if tamper_url else url)
    signature = RequestValidator(TOKEN).compute_signature(signed, form | {"tampered": "1"})
    response = (
        shared_app().test_client().post(url, data=form, headers={"X-Twilio-Signature": signature})
    )
    assert response.status_code == 403


class FuzzedFirstRequest:
    """A transport whose first request is the fuzzed one; later ones are answered with a
    hang-up, so the interpreter validates and runs exactly the document under test."""

    def __init__(self, app: Any, url: str, form: dict[str, str]) -> None:
        self.client = Client(app)
        self.url = url
        self.form = form
        self.first: Any = None

    def request(self, method, url, params, headers):
        if self.first is not None:
            return Response(200, "text/xml", HANGUP)
        signature = RequestValidator(TOKEN).compute_signature(BASE + self.url, self.form)
        resp = self.client.post(self.url, data=self.form, headers={"X-Twilio-Signature": signature})
        self.first = Response(resp.status_code, resp.headers.get("Content-Type", ""), resp.data)
        return self.first


@FUZZ
@given(webhooks)
def test_signed_requests_get_twiml_the_interpreter_accepts(faults, webhook):
    path, query, form = webhook
    url = target(path, query)
    if path == "/status":
        response = (
            shared_app()
            .test_client()
            .post(
                url,
                data=form,
                headers={
                    "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
                        BASE + url, form
                    )
                },
            )
        )
        assert response.status_code == 204, response.data
        assert not faults.failures
        return
    transport = FuzzedFirstRequest(shared_app(), url, form)
    record = Call(
        transport,
        BASE + url,
        ScriptedCaller([], queue="hangup", queue_waits=0),
        auth_token=TOKEN,
    ).run()
    first = transport.first
    assert first.status == 200, first.body[:300]
    assert first.mimetype == "text/xml"
    assert record.outcome.error is None, record.outcome.error.describe()
    if "/wait" in path or "/callback/" in path:  # played to a caller still in the queue
        verbs = {el.tag for el in ET.fromstring(first.body)}
        assert verbs <= WAIT_VERBS, verbs
    assert not faults.failures, faults.failures[0]


@settings(max_examples=30, deadline=None)
@given(webhooks)
def test_get_where_post_is_expected_is_405(webhook):
    path, query, form = webhook
    # As Twilio sends a GET webhook: every parameter in the (signed) query string.
    url = target(path, form | query)
    signature = RequestValidator(TOKEN).compute_signature(BASE + url, {})
    response = shared_app().test_client().get(url, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 405
    assert b"Traceback" not in response.data


# -- malformed requests -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/voice/", "/nodes/main", "/queue/x", "/admin", "/.env"])
def test_unknown_paths_are_404(twilio: Twilio, path: str):
    response = twilio.post(path)
    assert response.status_code == 404
    assert b"Traceback" not in response.data


def test_oversized_body_is_413(twilio: Twilio):
    response = twilio.post("/voice", SpeechResult="x" * 70_000)
    assert response.status_code == 413
    assert b"Traceback" not in response.data


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"CallSid": "CA1"}'),
        ("text/plain", b"CallSid=CA1"),
        ("application/xml", b"<CallSid>CA1</CallSid>"),
        ("application/octet-stream", b"\x00\xff" * 10),
    ],
)
def test_a_body_that_is_not_a_form_is_415(client: Any, content_type: str, body: bytes):
    for signature in ("", RequestValidator(TOKEN).compute_signature(BASE + "/voice", {})):
        response = client.post(
            "/voice",
            data=body,
            headers={"Content-Type": content_type, "X-Twilio-Signature": signature},
        )
        assert response.status_code == 415
        assert b"Traceback" not in response.data


def test_a_body_that_is_not_utf8_is_an_empty_form(client: Any):
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/voice", {})
    response = client.post(
        "/voice",
        data=b"CallSid=\xff\xfe",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200


def test_raw_bytes_in_the_query_string_are_no_500(client: Any):
    url = "/menu/main?attempt=%FF&lang=\xff"
    environ_query = "attempt=%FF&lang=\xff"
    form = {"CallSid": "CA1", "Digits": "1"}
    signature = RequestValidator(TOKEN).compute_signature(f"{BASE}/menu/main?{environ_query}", form)
    response = client.post(
        "/menu/main",
        data=form,
        headers={"X-Twilio-Signature": signature},
        environ_overrides={"QUERY_STRING": environ_query},
    )
    assert url  # the query as a client would write it
    assert response.status_code == 200
    assert b"<Response>" in response.data


# -- the fast paths give exactly what twilio-python and Werkzeug give --------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=12), text)
def test_signatures_match_twilio_python(pairs, url):
    validator = RequestValidator(TOKEN)
    multi = MultiDict(pairs)
    assert compute_signature(TOKEN.encode(), url, multi) == validator.compute_signature(url, multi)
    flat = dict(pairs)
    assert compute_signature(TOKEN.encode(), url, flat) == validator.compute_signature(url, flat)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.tuples(st.text(max_size=12), st.text(max_size=20)).map(lambda kv: urlencode([kv])),
            max_size=8,
        ).map("&".join),
        st.text(alphabet="ab=&+%2BC3A9FFzz;").filter(bool),
    )
)
def test_form_parsing_matches_werkzeug(body):
    from urllib.parse import parse_qsl

    assert parse_urlencoded(body) == parse_qsl(
        body, keep_blank_values=True, errors="werkzeug.url_quote"
    )


# -- menu files ---------------------------------------------------------------------------


def assert_located(exc: MenuError) -> None:
    assert exc.problems, exc
    for problem in exc.problems:
        assert isinstance(problem.path, str) and problem.message
        assert "Traceback" not in str(problem)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
MENU_DATA = json.loads(MENU.read_text(encoding="utf-8"))


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _paths(v, prefix + (i,))
    return found


PATHS = [p for p in _paths(MENU_DATA) if p]


@st.composite
def mutated_menus(draw: Any) -> Any:
    data = copy.deepcopy(MENU_DATA)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for step in path[:-1]:
                parent = parent[step]
            key = path[-1]
            action = draw(st.sampled_from(["replace", "delete", "rename", "duplicate"]))
            if action == "replace":
                parent[key] = draw(json_values)
            elif action == "delete":
                del parent[key]
            elif action == "rename" and isinstance(parent, dict):
                parent[draw(st.text(max_size=10))] = parent.pop(key)
            elif action == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
        except (KeyError, IndexError, TypeError):
            continue
    return data


@settings(max_examples=80, deadline=None)
@given(st.one_of(json_values, mutated_menus()))
def test_any_menu_is_accepted_or_refused_with_located_problems(data):
    try:
        menu = parse_menu(json.dumps(data, indent=2), "fuzz.json")
    except MenuError as exc:
        assert_located(exc)
    else:
        assert menu.start in menu.nodes


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_damaged_menu_text_is_refused_with_a_line(data):
    original = MENU.read_text(encoding="utf-8")
    at = data.draw(st.integers(0, len(original) - 1))
    cut = data.draw(st.integers(1, 20))
    junk = data.draw(st.sampled_from(["", "{", "}", ",", '"', "]", "\\", "\x00", "nul"]))
    damaged = original[:at] + junk + original[at + cut :]
    assume(damaged != original)
    try:
        parse_menu(damaged, "damaged.json")
    except MenuError as exc:
        assert_located(exc)
        try:
            json.loads(damaged)
        except ValueError:
            # Not JSON any more: the problem is located by line and column.
            assert exc.problems[0].line is not None, exc


def test_a_menu_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "menus.json"
    path.write_bytes(b'{"start": "\xff"}')
    with pytest.raises(MenuError) as info:
        load_menu(path)
    assert_located(info.value)


def test_queue_wait_documents_are_rendered_once_per_figures(app: Any):
    renderer = app.extensions["ivr"].store.served.renderer
    first = renderer.hold("crime_queue", "en-GB", 1, 3, 95)
    assert renderer.hold("crime_queue", "en-GB", 1, 3, 95) is first
    assert renderer.hold("crime_queue", "en-GB", 2, 3, 95) != first
    assert renderer.hold("crime_queue", "en-GB", 1, 4, 95) != first
    assert "cycle=2" in first


def test_every_document_a_renderer_caches_is_rendered_once():
    from ivr.twiml import Renderer, UrlRoutes

    menu = load_menu(MENU)
    renderer = Renderer(menu, UrlRoutes(menu.defaults.language))
    step = renderer.step("main", "en-GB")
    assert renderer.step("main", "en-GB", 1, None, None) is step
    assert renderer.step("main", "en-GB", 2) != step
    apology = renderer.apology("en-GB", "general_queue")
    assert renderer.apology("en-GB", "general_queue") is apology
    hold = renderer.hold("crime_queue", "en-GB", 0)
    assert renderer.hold("crime_queue", "en-GB", 0, 0, 0, False) is hold


def test_a_renderer_replaced_by_a_reload_is_freed_at_once():
    """Its caches hold documents, never the renderer itself (an ``lru_cache`` over a method
    would keep every renderer of every reload alive, or leave it to the cycle collector)."""
    import gc
    import weakref

    from ivr.twiml import Renderer, UrlRoutes

    menu = load_menu(MENU)
    renderer = Renderer(menu, UrlRoutes(menu.defaults.language))
    renderer.step("main", "en-GB")
    renderer.apology("en-GB", "main")
    renderer.hold("crime_queue", "en-GB", 0)
    gone = weakref.ref(renderer)
    gc.disable()
    try:
        del renderer
        assert gone() is None, "a cycle keeps the renderer alive after its last reference"
    finally:
        gc.enable()


def test_a_flood_of_odd_queue_figures_cannot_grow_a_renderers_cache_without_bound(monkeypatch):
    """Positions and waits come from Twilio (or a forger): a full cache starts again."""
    from ivr.twiml import Renderer, UrlRoutes, render

    monkeypatch.setattr(render, "HOLD_DOCUMENTS", 8)
    menu = load_menu(MENU)
    renderer = Renderer(menu, UrlRoutes(menu.defaults.language))
    documents = [renderer.hold("crime_queue", "en-GB", 1, position, 95) for position in range(50)]
    assert len(set(documents)) == 50  # each still right for its caller
    first = renderer.hold("crime_queue", "en-GB", 1, 0, 95)
    assert first == documents[0] and first is not documents[0]  # rendered again: it was let go
    assert renderer.hold("crime_queue", "en-GB", 1, 0, 95) is first
