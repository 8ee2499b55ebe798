"""The call-handler line's test kit: a signed Twilio that follows TwiML, and apps to call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conftest import OFFICE_HOURS
from twilio.request_validator import RequestValidator
from twilio_fake import AUTH_TOKEN, FakeTwilio, client_for

from ivr import create_app
from ivr.account.provision import TwilioAccount
from ivr.events import Event

BASE = "https://ivr.example.org"
MENU = Path(__file__).resolve().parent.parent / "menus.json"
HANDLER = "+447700900001"
STRANGER = "+447700900999"
PIN = "246813"


class Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def fake_twilio() -> FakeTwilio:
    """Twilio's REST API with the menu's three queues, all empty."""
    fake = FakeTwilio()
    fake.sids = {  # type: ignore[attr-defined]
        name: fake.add_queue(name, max_size=size)
        for name, size in [
            ("call-handlers", 200),
            ("business-crime", 50),
            ("general-enquiries", 200),
        ]
    }
    return fake


def handler_app(fake: FakeTwilio, recorder: Any = None, **config: Any) -> Any:
    """The app with the handler line: HANDLER and 07700 900002 allowed, PIN for anyone else."""
    return create_app(
        {
            "TESTING": True,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": BASE,
            "IVR_MENU_FILE": str(MENU),
            "IVR_ALLOW_UNSIGNED": False,
            "IVR_HANDLER_NUMBERS": f"{HANDLER}, 07700 900002",
            "IVR_HANDLER_PIN": PIN,
            "IVR_NOW": OFFICE_HOURS,  # the business crime line is open
            **config,
        },
        recorder=recorder,
        twilio_account=TwilioAccount(client_for(fake)),
    )


class Twilio:
    """Posts signed requests like Twilio, and follows the URLs in the TwiML it gets back."""

    def __init__(self, app, call_sid: str, caller: str, **form: str) -> None:
        self.client = app.test_client()
        self.form = {
            "CallSid": call_sid,
            "From": caller,
            "To": "+442079460199",
            "AccountSid": "AC" + "a" * 32,
            **form,
        }

    def post(self, url: str, signed: bool = True, **form: str):
        data = {**self.form, **form}
        path = urlsplit(url)
        target = path.path + (f"?{path.query}" if path.query else "")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE + target, data)
        headers = {"X-Twilio-Signature": signature if signed else ""}
        response = self.client.post(target, data=data, headers=headers)
        self.last = response
        return response

    def twiml(self, url: str, **form: str) -> ET.Element:
        response = self.post(url, **form)
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        return ET.fromstring(response.data)


def said(root: ET.Element) -> str:
    return " ".join(e.text or "" for e in root.iter("Say"))


def verbs(root: ET.Element) -> list[str]:
    return [e.tag for e in root]


def gather_action(root: ET.Element) -> str:
    return root.find("Gather").get("action")  # type: ignore[union-attr]


def handler(app, caller: str = HANDLER, sid: str = "CA" + "1" * 32, **form: str) -> Twilio:
    return Twilio(app, sid, caller, **form)
