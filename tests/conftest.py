from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from ivr import create_app

ROOT = Path(__file__).resolve().parent.parent
MENU = ROOT / "menus.json"
TOKEN = "test-auth-token-0123456789abcdef"
# The app's clock in tests: a Monday at 10:00 BST, when the business crime line is open, so
# that routes through hours nodes do not depend on when the tests run.
OFFICE_HOURS = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
OUT_OF_HOURS = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)  # a Saturday


class Twilio:
    """Posts to the app the way Twilio does: form-encoded, signed with the auth token."""

    def __init__(self, client: Any, token: str = TOKEN, base: str = "http://localhost") -> None:
        self.client = client
        self.validator = RequestValidator(token)
        self.base = base
        self.call_sid = "CA" + "0" * 31 + "1"

    def post(self, path: str, headers: dict[str, str] | None = None, **form: str) -> Any:
        form.setdefault("CallSid", self.call_sid)
        form.setdefault("AccountSid", "AC" + "0" * 32)
        signature = self.validator.compute_signature(self.base + path, form)
        return self.client.post(
            path, data=form, headers={"X-Twilio-Signature": signature, **(headers or {})}
        )

    def twiml(self, path: str, **form: str) -> ET.Element:
        """POST and parse the TwiML answer, asserting it is a 200 text/xml <Response>."""
        response = self.post(path, **form)
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.data)
        assert root.tag == "Response"
        return root


def said(root: ET.Element) -> str:
    """Everything <Say> speaks in a document, in order, one line each."""
    return "\n".join(el.text or "" for el in root.iter("Say"))


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def write_menu(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "menus.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def minimal_menu(**nodes: Any) -> dict[str, Any]:
    """A small valid menu for tests; ``nodes`` replace or add to it."""
    base: dict[str, Any] = {
        "start": "main",
        "defaults": {"error_node": "queue"},
        "nodes": {
            "main": {
                "kind": "menu",
                "prompt": "Welcome.",
                "options": [
                    {
                        "key": "1",
                        "say": "For the queue, press 1.",
                        "speech": ["queue"],
                        "goto": "queue",
                    },
                    {"key": "2", "say": "For a message, press 2.", "goto": "message"},
                ],
                "fallback": "queue",
            },
            "queue": {"kind": "queue", "queue": "q", "on_full": "bye", "on_error": "bye"},
            "message": {"kind": "message", "say": "Hello.", "next": "bye"},
            "bye": {"kind": "hangup", "say": "Goodbye."},
        },
    }
    base["nodes"].update(nodes)
    return base


def bilingual_menu() -> dict[str, Any]:
    """The minimal menu in English and Welsh; key 9 switches to Welsh (keys only, no speech)."""
    data = minimal_menu()
    data["languages"] = {"cy-GB": {"voice": "Polly.Gwyneth", "speech": False}}

    def both(text: str) -> dict[str, str]:
        return {"en-GB": text, "cy-GB": f"(cy) {text}"}

    data["nodes"]["queue"]["hold"] = {"reminder": both("If it is an emergency, dial 999.")}
    for node in data["nodes"].values():
        for name in ("prompt", "say"):
            if name in node:
                node[name] = both(node[name])
        for option in node.get("options", []):
            option["say"] = both(option["say"])
    data["nodes"]["main"]["options"].append(
        {
            "key": "9",
            "say": {"en-GB": "Am Gymraeg, pwyswch 9.", "cy-GB": "Am Gymraeg, pwyswch 9."},
            "goto": "main",
            "language": "cy-GB",
        }
    )
    return data


@pytest.fixture(autouse=True, scope="session")
def _spool_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Journey logs on PostgreSQL spool to ./ivr-spool by default: in tests, to a temporary
    folder (also for the servers they start), never into the checkout."""
    if os.environ.get("IVR_SPOOL_DIR"):
        yield
        return
    os.environ["IVR_SPOOL_DIR"] = str(tmp_path_factory.mktemp("spool"))
    yield
    os.environ.pop("IVR_SPOOL_DIR", None)


@pytest.fixture
def config() -> dict[str, Any]:
    return {
        "TESTING": True,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": None,
        "IVR_MENU_FILE": str(MENU),
        "IVR_ALLOW_UNSIGNED": False,
        "IVR_TRUSTED_PROXIES": 0,
        "IVR_NOW": OFFICE_HOURS,
    }


@pytest.fixture
def app(config: dict[str, Any]) -> Any:
    return create_app(config)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def twilio(client: Any) -> Twilio:
    return Twilio(client)


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def _journey_log_in_tmp(tmp_path_factory, monkeypatch):
    """Apps built without TESTING (``ivr call`` in-process, the softphone) keep their journey
    log in a temporary folder, not in the working directory."""
    folder = tmp_path_factory.mktemp("journeys")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder / 'journeys.db'}")
