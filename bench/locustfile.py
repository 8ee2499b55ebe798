"""Locust virtual callers: each task is one whole simulated call through the menu.

Run by ``bench.served`` and ``bench.soak`` (``locust -f bench/locustfile.py --headless``).
Settings come from the environment: ``BENCH_TOKEN`` (sign requests with it),
``BENCH_STATUS=1`` (post Twilio's status callback when a call ends) and ``BENCH_SUMMARY``
(a JSON file for the call outcomes, written when the run stops).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

from locust import FastHttpUser, constant, events, task
from twilio.request_validator import RequestValidator

from bench.callers import FormTransport, RandomCaller
from ivr.caller import Call

TOKEN = os.environ.get("BENCH_TOKEN", "")
MODE = os.environ.get("BENCH_MODE", "calls")
STATUS = os.environ.get("BENCH_STATUS") == "1"
SUMMARY = os.environ.get("BENCH_SUMMARY", "")

tally: dict[str, Any] = {
    "calls": 0,
    "outcomes": Counter(),
    "call_errors": 0,
    "error_examples": [],
    "status_sent": 0,
    "status_ok": 0,
    "requests": 0,
}


class VirtualCaller(FastHttpUser):
    """A caller making whole calls, one after another (BENCH_MODE=calls)."""

    wait_time = constant(0)
    abstract = MODE != "calls"

    def on_start(self) -> None:
        self.transport = FormTransport(self._send)
        self.rng = random.Random()

    def _send(
        self, method: str, url: str, body: bytes, headers: dict[str, str], name: str
    ) -> tuple[int, str, bytes]:
        tally["requests"] += 1
        response = self.client.request(method, url, data=body, headers=headers, name=name)
        return (
            response.status_code or 0,
            response.headers.get("Content-Type", "") if response.headers else "",
            response.content or b"",
        )

    @task
    def call(self) -> None:
        simulation = Call(
            self.transport,
            f"{self.host}/voice",
            RandomCaller(self.rng),
            auth_token=TOKEN or None,
            max_requests_without_input=40,
        )
        record = simulation.run()
        tally["calls"] += 1
        outcome = record.outcome
        assert outcome is not None
        tally["outcomes"][outcome.kind] += 1
        if outcome.error is not None:
            tally["call_errors"] += 1
            if len(tally["error_examples"]) < 5:
                tally["error_examples"].append(outcome.error.describe())
        if STATUS:
            self._status(record.call_sid, round(simulation.clock))

    def _status(self, call_sid: str, duration: int) -> None:
        url = f"{self.host}/status"
        form = {
            "CallSid": call_sid,
            "AccountSid": "AC" + "0" * 32,
            "CallStatus": "completed",
            "CallDuration": str(duration),
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if TOKEN:
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(url, form)
        from urllib.parse import urlencode

        tally["status_sent"] += 1
        response = self.client.request(
            "POST", url, data=urlencode(form).encode(), headers=headers, name="/status"
        )
        if response.status_code == 204:
            tally["status_ok"] += 1


@events.test_stop.add_listener
def _write_summary(**_: Any) -> None:
    if SUMMARY:
        with open(SUMMARY, "w", encoding="utf-8") as f:
            json.dump(tally | {"outcomes": dict(tally["outcomes"])}, f, indent=2)


class Webhooks(FastHttpUser):
    """The three benchmarked webhooks, signed once and posted again and again
    (BENCH_MODE=webhooks): little client work per request, so more of it is the server's."""

    wait_time = constant(0)
    abstract = MODE != "webhooks"

    def on_start(self) -> None:
        from urllib.parse import urlencode

        from bench.cost import CALL, WEBHOOKS

        self.posts = []
        for name, path, form in WEBHOOKS:
            params = CALL | form
            signature = RequestValidator(TOKEN).compute_signature(self.host + path, params)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
            self.posts.append((path, urlencode(params).encode(), headers, name))

    @task
    def post(self) -> None:
        for path, body, headers, name in self.posts:
            self.client.request("POST", path, data=body, headers=headers, name=name)
