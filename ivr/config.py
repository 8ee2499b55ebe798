"""Settings: from the environment and ``.env`` (python-dotenv), each with a safe default."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dotenv import load_dotenv

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None


def _moment(name: str) -> datetime | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{name} must be a date and time like 2026-12-25T10:00, not {raw!r}"
        ) from None
    # Without an offset, the time is UK local time, as in the menu file.
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Europe/London"))


def default_menu_file() -> str:
    """``menus.json`` in the working directory, else the one beside the package (a checkout)."""
    here = Path("menus.json")
    if here.exists():
        return str(here)
    beside = Path(__file__).resolve().parent.parent / "menus.json"
    return str(beside) if beside.exists() else str(here)


def from_env(dotenv: bool = True) -> dict[str, Any]:
    """Every setting the app reads, from the environment (after loading ``.env``)."""
    if dotenv:
        load_dotenv(override=False)
    return {
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "").strip() or None,
        "IVR_MENU_FILE": os.environ.get("IVR_MENU_FILE", "").strip() or default_menu_file(),
        "IVR_ALLOW_UNSIGNED": _bool(os.environ.get("IVR_ALLOW_UNSIGNED")),
        "IVR_TRUSTED_PROXIES": _int("IVR_TRUSTED_PROXIES", 0),
        "MAX_CONTENT_LENGTH": _int("IVR_MAX_BODY_BYTES", 64 * 1024),
        # The browser softphone (ivr.phone): off unless asked for, and then behind a token.
        "IVR_PHONE": _bool(os.environ.get("IVR_PHONE")),
        "IVR_PHONE_TOKEN": os.environ.get("IVR_PHONE_TOKEN", "").strip(),
        "IVR_LOG_LEVEL": os.environ.get("IVR_LOG_LEVEL", "INFO").upper(),
        # Live edits: seconds between checks of the menu file for changes; 0 turns them off.
        "IVR_MENU_RELOAD_SECONDS": _float("IVR_MENU_RELOAD_SECONDS", 1.0),
        # Pretend it is this moment (ISO 8601), to hear opening hours and announcements as a
        # caller would then. For trying a menu out only; never on a live number.
        "IVR_NOW": _moment("IVR_NOW"),
        "HOST": os.environ.get("HOST", "127.0.0.1"),
        "PORT": _int("PORT", 5000),
        # The journey log (ivr/journey.py): where, and how caller numbers are kept.
        "DATABASE_URL": os.environ.get("DATABASE_URL", "").strip() or None,
        "IVR_CALLER_STORAGE": os.environ.get("IVR_CALLER_STORAGE", "mask").strip().lower(),
        "IVR_CALLER_HASH_KEY": os.environ.get("IVR_CALLER_HASH_KEY", "") or None,
        "IVR_STORE_SPEECH": _bool(os.environ.get("IVR_STORE_SPEECH")),
        "IVR_JOURNEY_LOG": os.environ.get("IVR_JOURNEY_LOG", "on").strip().lower() not in FALSE,
        # `ivr call --url`: where the simulated Twilio posts the number's status callback
        # (absolute, or relative to the --url), so calls against a running app close their
        # journeys without --status-callback on every call.
        "IVR_CALL_STATUS_CALLBACK": os.environ.get("IVR_CALL_STATUS_CALLBACK", "").strip() or None,
    }
