"""Settings: from the environment and ``.env`` (python-dotenv), each with a safe default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

TRUE = {"1", "true", "yes", "on"}


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
        "HOST": os.environ.get("HOST", "127.0.0.1"),
        "PORT": _int("PORT", 5000),
    }
