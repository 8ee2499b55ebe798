"""Settings: the one place that reads the environment and ``.env`` (python-dotenv).

Every setting the app, the CLI and the servers use is declared once in :data:`SETTINGS`, with
its parser, default and meaning; ``.env.example`` documents the same names (a test keeps the
two in step). Nothing else in the package reads ``os.environ``: callers get a plain dict from
:func:`load` and pass overrides on top of it, never by writing the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .errors import ConfigError
from .numbers import normalise

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def _text(raw: str) -> str:
    return raw.strip()


def _optional(raw: str) -> str | None:
    return raw.strip() or None


def _secret(raw: str) -> str:
    return raw  # tokens are used exactly as given


def _flag(raw: str) -> bool:
    return raw.strip().lower() in TRUE


def _on_unless_off(raw: str) -> bool:
    return raw.strip().lower() not in FALSE


def _upper(raw: str) -> str:
    return raw.strip().upper()


def _lower(raw: str) -> str:
    return raw.strip().lower()


def _whole(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"must be a whole number, not {raw!r}") from None


def _positive(raw: str) -> int:
    value = _whole(raw)
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")
    return value


def _seconds(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError(f"must be a number of seconds, not {raw!r}") from None


def _moment(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"must be a date and time like 2026-12-25T10:00, not {raw!r}") from None
    # Without an offset, the time is UK local time, as in the menu file.
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/London"))


WORKER_CLASSES = ("gevent", "gthread", "sync")


def _worker_class(raw: str) -> str:
    kind = raw.strip().lower()
    if kind not in WORKER_CLASSES:
        raise ValueError(f"must be one of {', '.join(WORKER_CLASSES)}, not {kind!r}")
    return kind


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


PIN_DIGITS = 6
"""The shortest call-handler PIN accepted: a million guesses, against ten per caller ID per
quarter of an hour."""


def _pin(raw: str) -> str:
    pin = raw.strip()
    if not pin.isdigit() or len(pin) < PIN_DIGITS:
        raise ValueError(
            f"must be {PIN_DIGITS} or more digits (digits only); a shorter PIN is too easy to guess"
        )
    return pin


ATTESTATIONS = ("A", "B")
"""SHAKEN/STIR attestation levels, strongest first: A, the carrier knows the caller and their
right to the number; B, it knows the caller only. C says nothing about either."""


def _attestation(raw: str) -> tuple[str, ...]:
    levels = {part.strip().upper() for part in raw.split(",") if part.strip()}
    unknown = sorted(levels - set(ATTESTATIONS))
    if unknown:
        raise ValueError(
            f"must be A or A,B (SHAKEN/STIR attestation levels), not {', '.join(unknown)}: "
            "C vouches for neither the caller nor their right to the number"
        )
    # A weaker level accepted means every stronger one is too: "B" is "A,B".
    weakest = max((ATTESTATIONS.index(level) for level in levels), default=-1)
    return ATTESTATIONS[: weakest + 1]


def _numbers(raw: str) -> frozenset[str]:
    """Phone numbers in E.164, so that a caller ID compares equal to exactly one form."""
    found = set()
    for part in _list(raw):
        try:
            found.add(normalise(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a phone number") from None
    return frozenset(found)


@dataclass(frozen=True)
class Setting:
    """One setting: its environment name, how to read it, and its value when unset."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    key: str | None = None
    """The ``app.config`` key when it differs from the environment name."""

    @property
    def config_key(self) -> str:
        return self.key or self.name


def default_menu_file() -> str:
    """``menus.json`` in the working directory, else the one beside the package (a checkout)."""
    here = Path("menus.json")
    if here.exists():
        return str(here)
    beside = Path(__file__).resolve().parent.parent / "menus.json"
    return str(beside) if beside.exists() else str(here)


SETTINGS: tuple[Setting, ...] = (
    # Twilio
    Setting("TWILIO_AUTH_TOKEN", _secret, ""),
    Setting("TWILIO_ACCOUNT_SID", _text, ""),
    Setting("TWILIO_API_KEY", _text, ""),
    Setting("TWILIO_API_SECRET", _secret, ""),
    Setting("TWILIO_PHONE_NUMBER", _text, ""),
    Setting("TWILIO_HANDLER_NUMBER", _text, ""),
    # Where Twilio reaches the app
    Setting("PUBLIC_BASE_URL", _optional, None),
    Setting("IVR_TRUSTED_PROXIES", _whole, 0),
    # The menu
    Setting("IVR_MENU_FILE", _text, ""),
    Setting("IVR_MENU_RELOAD_SECONDS", _seconds, 1.0),
    Setting("IVR_NOW", _moment, None),
    Setting("IVR_DRAFT_MENU_FILE", _optional, None),
    Setting("IVR_TEST_CALLERS", _numbers, frozenset()),
    # Serving
    Setting("HOST", _text, "127.0.0.1"),
    Setting("PORT", _whole, 5000),
    Setting("IVR_WORKERS", _positive, None),
    Setting("IVR_THREADS", _positive, None),
    Setting("IVR_WORKER_CLASS", _worker_class, "gevent"),
    Setting("IVR_MAX_BODY_BYTES", _whole, 64 * 1024, key="MAX_CONTENT_LENGTH"),
    Setting("IVR_LOG_LEVEL", _upper, "INFO"),
    Setting("IVR_ALLOW_UNSIGNED", _flag, False),
    # The call-handler line
    Setting("IVR_HANDLER_NUMBERS", _numbers, frozenset()),
    Setting("IVR_HANDLER_PIN", _pin, ""),
    Setting("IVR_HANDLER_REQUIRE_ATTESTATION", _attestation, ()),
    # The browser softphone
    Setting("IVR_PHONE", _flag, False),
    Setting("IVR_PHONE_TOKEN", _text, ""),
    Setting("IVR_PHONE_MAX_CALLS", _positive, 20),
    Setting("IVR_PHONE_IDLE_SECONDS", _seconds, 600.0),
    Setting("IVR_PHONE_STEP_SECONDS", _seconds, 10.0),
    Setting("IVR_PHONE_SESSION_HOURS", _positive, 12),
    # The journey log
    Setting("DATABASE_URL", _optional, None),
    Setting("IVR_CALLER_STORAGE", _lower, "mask"),
    Setting("IVR_CALLER_HASH_KEY", _optional, None),
    Setting("IVR_STORE_SPEECH", _flag, False),
    Setting("IVR_JOURNEY_LOG", _on_unless_off, True),
    Setting("IVR_SPOOL_DIR", _optional, None),
    Setting("IVR_CALLBACK_NUMBER_RETENTION", _text, "30d"),
    # The simulator (`ivr call --url`)
    Setting("IVR_CALL_STATUS_CALLBACK", _optional, None),
)
"""Every setting, in the order ``.env.example`` documents them."""

NAMES = frozenset(s.name for s in SETTINGS)


def environment(dotenv: bool = True, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The raw settings: ``environ`` (default ``os.environ``) over ``.env`` in the working
    directory, without changing ``os.environ``."""
    env = dict(os.environ if environ is None else environ)
    if dotenv and environ is None:
        # python-dotenv only when a .env may be read: `ivr validate FILE` never needs it.
        from dotenv import dotenv_values, find_dotenv

        path = find_dotenv(usecwd=True)
        if path:
            from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
            env = {**from_file, **env}
    return env


def load(
    overrides: Mapping[str, Any] | None = None,
    *,
    dotenv: bool = True,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every setting, parsed: the environment (and ``.env``), then ``overrides`` on top.

    Keys are ``app.config`` keys; ``overrides`` may use either name of a setting, and a value
    given as text is parsed as the environment's would be. Raises
    :class:`~ivr.errors.ConfigError` naming the setting whose value cannot be read.
    """
    raw = environment(dotenv, environ)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        text = raw.get(setting.name, "")
        if not text.strip():
            values[setting.config_key] = setting.default
            continue
        try:
            values[setting.config_key] = setting.parse(text)
        except ValueError as exc:
            raise ConfigError(setting.name, str(exc)) from None
    if not values["IVR_MENU_FILE"]:
        values["IVR_MENU_FILE"] = default_menu_file()
    for name, value in (overrides or {}).items():
        setting = next((s for s in SETTINGS if name in (s.name, s.config_key)), None)
        if setting is None:
            values[name] = value  # Flask's own keys (TESTING, ...)
        elif isinstance(value, str):
            # Text handed to create_app gets the environment's parsing and checks.
            values[setting.config_key] = parse(setting.name, value)
        elif isinstance(value, (list, tuple, set, frozenset)):
            # A list (of numbers, attestation levels) is read as its comma-separated text:
            # numbers in E.164, the same checks.
            values[setting.config_key] = parse(setting.name, ",".join(str(v) for v in value))
        elif isinstance(setting.default, str) and isinstance(value, int | float):
            # A number where text is kept (a PIN given as 24681357): checked as its text.
            values[setting.config_key] = parse(setting.name, str(value))
        else:
            values[setting.config_key] = value
    return values


def parse(name: str, raw: str) -> Any:
    """One setting's value from text, as :func:`load` reads it (empty: its default), for
    values handed to ``create_app`` as text; :class:`~ivr.errors.ConfigError` names it."""
    setting = next(s for s in SETTINGS if s.name == name)
    if not raw.strip():
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise ConfigError(setting.name, str(exc)) from None
