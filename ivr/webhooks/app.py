"""The app factory: settings, the menu in service, the recorder chain, and the blueprints.

``create_app`` is the one place the parts are wired together, in an order you can read top to
bottom. Test doubles (a recorder, a journey log, a clock, a Twilio account) come in as keyword
arguments, never through ``app.config``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask

from .. import settings as settings_
from ..errors import ConfigError
from ..events import LogRecorder, Recorder, Recorders
from ..logs import setup as setup_logging
from ..menu import load_menu
from .request import WebhookRequest
from .roster import QueueRoster
from .store import DRAFT, Menus, MenuStore

if TYPE_CHECKING:
    from ..account.provision import TwilioAccount
    from ..journey import JourneyLog

log = logging.getLogger("ivr")

Clock = Callable[[], datetime]


@dataclass
class IVR:
    """What the webhooks share, kept in ``app.extensions["ivr"]``."""

    store: MenuStore
    recorder: Recorder
    """Every event of every call goes here: the chain built by :func:`create_app`."""
    clock: Clock
    """The time of a request (opening hours, announcements); fixed by IVR_NOW or a test."""
    menus: Menus
    """Which menu a call hears: ``store``'s, or the draft for test callers."""
    journey: JourneyLog | None = None
    """The journey log when it is on (callback requests are stored there)."""


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    recorder: Recorder | None = None,
    journey: JourneyLog | None = None,
    clock: Clock | None = None,
    twilio_account: TwilioAccount | None = None,
) -> Flask:
    """Build the webhook app: settings from the environment (and ``.env``), ``config`` on top.

    Loads and validates the menu once; raises :class:`ivr.errors.MenuError` if it is unusable,
    so a broken menu never goes into service. ``recorder`` joins the end of the recorder chain
    (tests watch events through it); ``journey``, ``clock`` and ``twilio_account`` replace the
    journey log, the clock and the Twilio REST client.
    """
    given = dict(config or {})
    testing = bool(given.get("TESTING"))
    # No open /static route: the softphone serves its files itself, behind its token.
    app = Flask("ivr", static_folder=None)
    app.request_class = WebhookRequest
    app.config.from_mapping(settings_.load(given, dotenv=not testing))
    _logging(app.config["IVR_LOG_LEVEL"])
    if app.config["IVR_ALLOW_UNSIGNED"] and app.config["PUBLIC_BASE_URL"]:
        # A public URL means the internet can reach the app: never without signatures.
        raise ConfigError(
            "IVR_ALLOW_UNSIGNED",
            "cannot be on while PUBLIC_BASE_URL is set (the app is reachable from the "
            "internet); set TWILIO_AUTH_TOKEN and let Twilio sign its requests",
        )
    if app.config["IVR_ALLOW_UNSIGNED"] and app.config["IVR_TRUSTED_PROXIES"]:
        # Requests through a proxy come from elsewhere; unsigned mode answers only this machine.
        raise ConfigError(
            "IVR_ALLOW_UNSIGNED",
            "cannot be on while IVR_TRUSTED_PROXIES is set (requests come through a proxy); "
            "unsigned requests are answered only from this machine",
        )

    from ..twiml.routes import UrlRoutes

    menu = load_menu(app.config["IVR_MENU_FILE"])
    for warning in menu.warnings:
        log.warning("%s: %s", menu.source, warning)
    prefix = urlsplit(app.config["PUBLIC_BASE_URL"] or "").path.rstrip("/")
    app.config["IVR_URL_PREFIX"] = prefix
    reload_every = app.config["IVR_MENU_RELOAD_SECONDS"]
    store = MenuStore(
        app.config["IVR_MENU_FILE"],
        menu=menu,
        reload_every=reload_every if reload_every and reload_every > 0 else None,
        routes_for=lambda m: UrlRoutes(m.defaults.language, prefix),
    )
    # The draft menu that test callers hear: never required, never in the published path.
    draft = None
    if app.config["IVR_DRAFT_MENU_FILE"]:
        draft = MenuStore(
            app.config["IVR_DRAFT_MENU_FILE"],
            reload_every=reload_every if reload_every and reload_every > 0 else None,
            routes_for=lambda m: UrlRoutes(m.defaults.language, prefix, menu=DRAFT),
            required=False,
            name="draft menu",
        )
    menus = Menus(store, draft, frozenset(app.config["IVR_TEST_CALLERS"]))
    clock = clock or _clock(app.config["IVR_NOW"])

    # -- the recorder chain, in order: log line, journey log, then the listeners that need
    #    to know where live callers are (the handler line's roster, the softphone's trail).
    if journey is None and _journey_wanted(app.config, given):
        from ..journey import JourneyLog  # SQLAlchemy and Alembic: loaded only when it is on

        journey = JourneyLog.from_config(app.config)
    if journey is not None:
        journey.start()
    # Tests read log lines straight after a request; a served app logs from a writer thread.
    chain: list[Recorder] = [LogRecorder(background=not app.testing)]
    if journey is not None:
        chain.append(journey)

    # The blueprints are imported here, not at the top: the handler line brings the Twilio REST
    # client (requests, ssl), which must not be imported before `ivr serve`'s gevent worker has
    # patched the standard library (an ssl imported earlier recurses on every HTTPS request).
    from . import handler, voice

    roster = QueueRoster()
    if handler.is_open(app.config):
        chain.append(roster)  # only a handler line that can let someone in reads it
    trail = None
    if app.config["IVR_PHONE"]:
        from ..softphone import NodeTrail, Sessions  # loaded only when the softphone is on

        trail = NodeTrail(Sessions.from_config(app.config), store)
        chain.append(trail)
    if recorder is not None:
        chain.append(recorder)
    app.extensions["ivr"] = IVR(
        store=store,
        recorder=Recorders(*chain),
        clock=clock,
        menus=menus,
        journey=journey,
    )

    # -- the blueprints: the caller's webhooks, the call-handler line, the softphone.
    app.register_blueprint(voice.bp)
    handler.init_app(app, roster, twilio_account)
    if trail is not None:
        from ..softphone import init_app as init_softphone  # only when it is on

        init_softphone(app, trail.sessions)

    proxies = app.config["IVR_TRUSTED_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix  # only behind a proxy

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies
        )

    if app.config["IVR_ALLOW_UNSIGNED"]:
        log.warning(
            "\n%s\n!! IVR_ALLOW_UNSIGNED is on: webhooks accept requests WITHOUT a Twilio     !!\n"
            "!! signature. Only for local testing; never on an internet-facing server.  !!\n%s",
            "!" * 78,
            "!" * 78,
        )
    elif not app.config["TWILIO_AUTH_TOKEN"]:
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: every webhook will answer 403. Set it (see "
            ".env.example), or use `make run` for local testing without a Twilio account."
        )
    return app


def _now() -> datetime:
    return datetime.now(UTC)


def _clock(fixed: datetime | None) -> Clock:
    """The real clock, or IVR_NOW's fixed moment (announced loudly: never on a live number)."""
    if fixed is None:
        return _now
    log.warning("IVR_NOW is set: the menu runs as if it were always %s", fixed.isoformat())
    return lambda: fixed


def _journey_wanted(config: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """The journey log is on unless IVR_JOURNEY_LOG is off; tests opt in with a DATABASE_URL
    of their own, so they never write to the working directory's database."""
    if not config["IVR_JOURNEY_LOG"]:
        return False
    return not (config.get("TESTING") and not given.get("DATABASE_URL"))


def _logging(level: str) -> None:
    setup_logging(level)  # control characters from requests escaped (ivr/logs.py)
