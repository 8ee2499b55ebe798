"""The softphone blueprint: the page where testers dial the menu in the browser, and its JSON API.

Off unless ``IVR_PHONE`` is set, and then every ``/phone`` route wants ``IVR_PHONE_TOKEN``:
``Authorization: Bearer …`` (the API), or a signed cookie that expires after
``IVR_PHONE_SESSION_HOURS``, which the page's sign-in form (or ``/phone?token=…``, once)
exchanges for the token. The server side plays each call with the simulator's interpreter
(:class:`ivr.caller.LiveCall`) against this same app's webhooks, in-process and signed like
Twilio: the page only shows and speaks what the interpreter reports, it never interprets TwiML.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)

from ..caller import (
    CallEvent,
    DialResult,
    Input,
    LiveCall,
    LiveCallError,
    LiveStep,
    Waiting,
    WSGITransport,
    describe,
)
from ..caller.trace import CallEventKind
from ..errors import ConfigError
from ..menu import Menu, MenuNode, QueueNode, TransferNode
from ..menu.routing import edges
from ..scripts.record import script_from_record, script_text
from .access import (
    MIN_TOKEN_LENGTH,
    Access,
    error,
    redact_access_logs,
    require_token,
    secure_headers,
    sign_in_form,
)
from .sessions import Session, Sessions

log = logging.getLogger("ivr.phone")

bp = Blueprint("phone", __name__, url_prefix="/phone", template_folder="templates")

STATIC = Path(__file__).resolve().parent / "static"
# mermaid.min.js: Mermaid 11.17.2 (MIT, mermaid.LICENSE.txt), vendored so the page needs no CDN.
STATIC_FILES = frozenset({"phone.js", "phone.css", "mermaid.min.js", "mermaid.LICENSE.txt"})
# Events the page does not show: the plumbing between documents.
HIDDEN_EVENTS = frozenset({"request", "redirect"})


@dataclass
class Phone:
    """What the softphone keeps in ``app.extensions["ivr_phone"]``."""

    sessions: Sessions
    access: Access


def init_app(app: Flask, sessions: Sessions) -> None:
    """Register the softphone on ``app``; refuse to without a long enough token."""
    token = (app.config.get("IVR_PHONE_TOKEN") or "").strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            "IVR_PHONE_TOKEN",
            f"IVR_PHONE is on, so the softphone needs a token of at least {MIN_TOKEN_LENGTH} "
            "characters (it is never served open). Make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe())'",
        )
    hours = float(app.config.get("IVR_PHONE_SESSION_HOURS") or 12)
    app.extensions["ivr_phone"] = Phone(sessions, Access(token, session_seconds=hours * 3600))
    app.register_blueprint(bp)
    app.after_request(secure_headers)
    redact_access_logs()
    log.warning(
        "\n%s\n!! IVR_PHONE is on: the softphone page is served at /phone (token required).  !!\n"
        "!! Anyone with IVR_PHONE_TOKEN can place simulated calls through this app.     !!\n%s",
        "!" * 81,
        "!" * 81,
    )
    if not app.config["TWILIO_AUTH_TOKEN"] and not app.config["IVR_ALLOW_UNSIGNED"]:
        log.warning(
            "IVR_PHONE: TWILIO_AUTH_TOKEN is not set, so the webhooks refuse the softphone's "
            "calls too; set it, or IVR_ALLOW_UNSIGNED=1 for local testing."
        )


def phone() -> Phone:
    return current_app.extensions["ivr_phone"]


# --- the token (ivr.softphone.access) ----------------------------------------------------

bp.before_request(require_token)


@bp.post("/session")
def sign_in() -> Response:
    """The sign-in form: the token in the body (never in a URL), swapped for a cookie."""
    return sign_in_form()


def fail(status: int, message: str) -> NoReturn:
    abort(error(status, message))


# --- the page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MapNode:
    id: str
    kind: str
    summary: str
    edges: list[tuple[str, str]]


def _summary(menu: Menu, node: Any) -> str:
    lang = menu.defaults.language
    if isinstance(node, QueueNode):
        return f"queue {node.queue}"
    if isinstance(node, TransferNode):
        return f"transfer to {node.number}"
    # Any other kind, a new one too: its prompt or its words, if it has them.
    text = getattr(node, "prompt", None) or getattr(node, "say", None)
    if isinstance(node, MenuNode) and text is None:
        text = node.options[0].say
    words = menu.text(text, lang) if text is not None else ""
    return words if len(words) <= 90 else words[:87].rstrip() + "…"


def menu_map(menu: Menu) -> list[list[MapNode]]:
    """The menu as columns by distance from the start (unreachable nodes last)."""
    depth = {menu.start: 0}
    todo = deque([menu.start])
    while todo:
        node_id = todo.popleft()
        for edge in edges(menu, node_id):
            if edge.drawn and edge.target in menu.nodes and edge.target not in depth:
                depth[edge.target] = depth[node_id] + 1
                todo.append(edge.target)
    last = max(depth.values(), default=0) + 1
    columns: list[list[MapNode]] = [[] for _ in range(last + 1)]
    for node_id, node in menu.nodes.items():
        ways = [(e.label, e.target) for e in edges(menu, node_id) if e.drawn]
        columns[depth.get(node_id, last)].append(
            MapNode(node_id, node.kind, _summary(menu, node), ways)
        )
    return [column for column in columns if column]


def mermaid_source(menu: Menu) -> str | None:
    """The menu's Mermaid picture (:mod:`ivr.authoring.graph`); the page works without it."""
    from ..authoring.graph import to_mermaid

    try:
        return str(to_mermaid(menu))
    except Exception:  # the page works without it
        log.exception("phone: ivr.graph.to_mermaid failed")
        return None


@bp.get("")
def page() -> str:
    """The softphone page."""
    menu = current_app.extensions["ivr"].store.served.menu
    return render_template(
        "phone.html",
        columns=menu_map(menu),
        start=menu.start,
        mermaid=mermaid_source(menu),
        name=getattr(menu.file, "name", None) or "101",
        voices={code: lang.voice for code, lang in menu.languages.items()},
    )


@bp.get("/static/<name>")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        fail(404, "no such file")
    return send_from_directory(STATIC, name, max_age=0)


# --- the JSON API -------------------------------------------------------------------------


def event_json(event: CallEvent) -> dict[str, Any]:
    data = event.as_dict()
    data.pop("params", None)
    if event.kind == CallEventKind.NODE:
        data["line"] = f"  [menu node {event.text}]"
    else:
        data["line"] = describe(event) or ""
    return data


def waiting_json(waiting: Waiting) -> dict[str, Any]:
    data: dict[str, Any] = {"for": waiting.kind}
    if waiting.prompt is not None:
        p = waiting.prompt
        data |= {
            "input": list(p.input),
            "num_digits": p.num_digits,
            "finish_on_key": p.finish_on_key,
            "timeout": p.timeout,
            "language": p.language,
            "in_queue": p.in_queue,
            "record": p.record,
        }
    if waiting.queue is not None:
        q = waiting.queue
        data |= {
            "queue": q.queue,
            "position": q.position,
            "queue_time": q.queue_time,
            "cycle": q.cycle,
            # Twilio refuses a call into a full queue on entry, never later.
            "can_be_full": q.cycle == 0,
        }
    if waiting.targets:
        data["targets"] = [{"kind": t.kind, "value": t.value} for t in waiting.targets]
    return data


def step_json(session: Session, step: LiveStep) -> Response:
    outcome = step.record.outcome
    over = outcome is not None and step.waiting.kind == "ended"
    return jsonify(
        call=session.id,
        call_sid=step.record.call_sid,
        events=[event_json(e) for e in step.events if e.kind not in HIDDEN_EVENTS],
        waiting=waiting_json(step.waiting),
        node=session.node,
        trail=session.trail,
        outcome=outcome.as_dict() if over else None,
        # The call as a call script (what `ivr call --record` writes): the page offers it as a
        # download, and `ivr test` replays it.
        script=recorded_script(step) if over else None,
    )


def recorded_script(step: LiveStep) -> str | None:
    """The ended call as the text of a call script, at the moment the app's clock said."""
    try:
        scenario = script_from_record(
            step.record,
            name="recorded in the softphone",
            at=current_app.extensions["ivr"].clock(),
        )
        return script_text(scenario)
    except Exception:  # a download is never worth an error on the page
        log.exception("phone: cannot write the call as a script")
        return None


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        fail(400, "send a JSON object")
    return data


def session_from(data: dict[str, Any]) -> Session:
    session_id = data.get("call")
    session = phone().sessions.get(session_id) if isinstance(session_id, str) else None
    if session is None:
        fail(404, "no such call (it ended or expired): place a new one")
    return session


def text_field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        fail(400, f"{name!r} is required")
    if len(value) > limit:
        fail(400, f"{name!r} is longer than {limit} characters")
    return value.strip()


def act(answer: Input | str | DialResult) -> Response:
    data = body()
    session = session_from(data)
    try:
        step = session.live.act(answer)  # type: ignore[arg-type]
    except LiveCallError as exc:
        fail(409, str(exc))
    if step.waiting.kind == "ended":
        phone().sessions.remove(session)
    return step_json(session, step)


def mounted(app: Callable[..., Any], prefix: str) -> Callable[..., Any]:
    """``app`` as a proxy serves it under ``prefix`` (``PUBLIC_BASE_URL``'s path).

    The softphone signs the public URL, as Twilio does; the prefix goes to SCRIPT_NAME so the
    app still sees its own routes, and its signature check sees the URL that was signed.
    """
    if not prefix:
        return app

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
            environ["PATH_INFO"] = path[len(prefix) :]
        return app(environ, start_response)

    return wsgi


@bp.post("/api/call")
def start_call() -> Response:
    """Place a call to this app's voice webhook."""
    config = current_app.config
    if not config["TWILIO_AUTH_TOKEN"] and not config["IVR_ALLOW_UNSIGNED"]:
        fail(
            409,
            "the webhooks refuse every request: set TWILIO_AUTH_TOKEN "
            "(or IVR_ALLOW_UNSIGNED=1 for local testing)",
        )
    base = (config["PUBLIC_BASE_URL"] or "http://localhost").rstrip("/")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    live = LiveCall(
        WSGITransport(mounted(app, urlsplit(base).path)),
        f"{base}/voice",
        auth_token=config["TWILIO_AUTH_TOKEN"] or None,
        status_callback=f"{base}/status",  # closes the call's journey, as Twilio's would
        step_timeout=float(config["IVR_PHONE_STEP_SECONDS"]),
        idle_timeout=float(config["IVR_PHONE_IDLE_SECONDS"]),
    )
    session = phone().sessions.add(live)
    if session is None:
        fail(503, "too many softphone calls in progress; hang one up or wait")
    step = live.start()
    if step.waiting.kind == "ended":
        phone().sessions.remove(session)
    return step_json(session, step)


@bp.post("/api/press")
def press() -> Response:
    """Press keys (0-9 * #)."""
    keys = text_field(body(), "keys", 32)
    try:
        answer = Input.press(keys)
    except ValueError as exc:
        fail(400, str(exc))
    return act(answer)


@bp.post("/api/say")
def say() -> Response:
    """Say words (speech recognition's result)."""
    return act(Input.say(text_field(body(), "words", 500)))


@bp.post("/api/silence")
def silence() -> Response:
    """Say nothing until the <Gather> times out."""
    return act(Input.silence())


QUEUE_CHOICES = {"wait": "wait", "answer": "answer", "queue-full": "queue-full", "error": "error"}


@bp.post("/api/queue")
def queue_choice() -> Response:
    """In a queue: keep holding (wait), a handler answers, the queue is full, Twilio fails."""
    choice = QUEUE_CHOICES.get(str(body().get("choice")))
    if choice is None:
        fail(400, f"'choice' must be one of: {', '.join(QUEUE_CHOICES)}")
    return act(choice)


DIAL_STATUSES = ("completed", "busy", "no-answer", "failed")


@bp.post("/api/dial")
def dial() -> Response:
    """A transfer rings: it is answered (completed), busy, not answered, or fails."""
    status = str(body().get("status"))
    if status not in DIAL_STATUSES:
        fail(400, f"'status' must be one of: {', '.join(DIAL_STATUSES)}")
    return act(DialResult(status, 60 if status == "completed" else 0))  # type: ignore[arg-type]


@bp.post("/api/poll")
def poll() -> Response:
    """What happened since the last step, when the last answer said the call was busy."""
    session = session_from(body())
    step = session.live.poll()
    if step.waiting.kind == "ended":
        phone().sessions.remove(session)
    return step_json(session, step)


@bp.post("/api/hangup")
def hangup() -> Response:
    """The caller hangs up."""
    session = session_from(body())
    step = session.live.hangup()
    phone().sessions.remove(session)
    return step_json(session, step)
