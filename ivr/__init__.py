"""ivr101: the UK police 101 telephone menu as Twilio voice webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from .config import from_env
from .errors import ConfigError
from .events import LogRecorder, Recorder, Recorders
from .logs import setup as setup_logging
from .store import MenuStore

__all__ = ["create_app", "IVR"]

log = logging.getLogger("ivr")


@dataclass
class IVR:
    """What the webhooks share, kept in ``app.extensions["ivr"]``."""

    store: MenuStore
    recorder: Recorder
    journey: Any = None
    """The :class:`ivr.journey.JourneyLog` when it is on (callbacks are stored there)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the webhook app: settings from the environment, then ``config`` on top.

    Loads and validates the menu once; raises :class:`ivr.errors.MenuError` if it is unusable,
    so a broken menu never goes into service.
    """
    from .menu import load_menu
    from .request import WebhookRequest
    from .voice import UrlRoutes, bp

    # No open /static route: the softphone serves its files itself, behind its token.
    app = Flask(__name__, static_folder=None)
    app.request_class = WebhookRequest
    app.config.from_mapping(from_env(dotenv=not (config or {}).get("TESTING")))
    if config:
        app.config.update(config)
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

    menu = load_menu(app.config["IVR_MENU_FILE"])
    for warning in menu.warnings:
        log.warning("%s: %s", menu.source, warning)
    app.config["IVR_URL_PREFIX"] = urlsplit(app.config["PUBLIC_BASE_URL"] or "").path.rstrip("/")
    prefix = app.config["IVR_URL_PREFIX"]
    reload_every = app.config.get("IVR_MENU_RELOAD_SECONDS", 1.0)
    store = MenuStore(
        app.config["IVR_MENU_FILE"],
        UrlRoutes(menu.defaults.language, prefix),
        menu=menu,
        reload_every=reload_every if reload_every and reload_every > 0 else None,
        routes_for=lambda m: UrlRoutes(m.defaults.language, prefix),
    )
    # Opening hours and announcements read the time from here; tests put a fixed clock in.
    fixed = app.config.get("IVR_NOW")
    if fixed is not None:
        log.warning("IVR_NOW is set: the menu runs as if it were always %s", fixed.isoformat())
        app.config.setdefault("IVR_CLOCK", lambda: fixed)
    app.config.setdefault("IVR_CLOCK", _now)
    journey = _journey_log(app.config, config or {})
    # Tests read log lines straight after a request; a served app logs from a writer thread.
    calls = LogRecorder(background=not app.testing)
    recorder = app.config.get("IVR_RECORDER") or (
        Recorders(calls, journey) if journey is not None else calls
    )
    app.extensions["ivr"] = IVR(store=store, recorder=recorder, journey=journey)
    app.register_blueprint(bp)
    if app.config.get("IVR_PHONE"):
        from .phone import init_app as init_phone

        init_phone(app)

    # -- the call-handler line (ivr/handler.py): POST /handler and its routes --
    from .handler import init_app as init_handler_line

    init_handler_line(app)

    proxies = app.config["IVR_TRUSTED_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

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


def _journey_log(config: Mapping[str, Any], given: Mapping[str, Any]) -> Any:
    """The durable journey log; None when IVR_JOURNEY_LOG is off, or in tests (TESTING) whose
    config does not name a DATABASE_URL itself."""
    if not config.get("IVR_JOURNEY_LOG", True):
        return None
    from .journey import JourneyLog

    if config.get("IVR_JOURNEY") is not None:
        journey = config["IVR_JOURNEY"]
    elif config.get("TESTING") and not given.get("DATABASE_URL"):
        return None  # tests opt in with a DATABASE_URL of their own
    else:
        journey = JourneyLog.from_config(config)
    journey.start()
    return journey


def _logging(level: str) -> None:
    setup_logging(level)  # control characters from requests escaped (ivr/logs.py)
