"""Cost per webhook against the floor, in one process, over the same WSGI path.

The floor is a bare Flask view that reads Twilio's form and returns a constant TwiML
document of the same size as ours. Both apps are called with the same prebuilt WSGI
environ, interleaved round by round, and the medians compared.

    python -m bench.cost [--rounds 30] [--calls 300]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.test import Client, EnvironBuilder

TOKEN = "bench-auth-token-0123456789abcdef"
BASE = "http://localhost"
CALL = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "2" * 32,
    "From": "+447700900123",
    "To": "+441632960101",
    "Caller": "+447700900123",
    "Called": "+441632960101",
    "CallStatus": "in-progress",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
    "FromCountry": "GB",
    "ToCountry": "GB",
    "CallerCountry": "GB",
    "CalledCountry": "GB",
}

# name, path with query, extra form parameters
WEBHOOKS: list[tuple[str, str, dict[str, str]]] = [
    ("POST /voice", "/voice", {}),
    ("menu choice", "/menu/main?attempt=1", {"Digits": "1"}),
    (
        "queue wait",
        "/queue/crime_queue/wait?cycle=1",
        {
            "QueueSid": "QU" + "3" * 32,
            "QueuePosition": "3",
            "QueueTime": "40",
            "AvgQueueTime": "95",
            "CurrentQueueSize": "3",
            "MaxQueueSize": "1000",
        },
    ),
]


@dataclass
class Request:
    """A prebuilt WSGI request: the environ without its body, and the body bytes."""

    environ: dict[str, Any]
    body: bytes
    path: str = ""
    form: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    via_client: bool = False

    def __call__(self, app: Callable[..., Any]) -> tuple[str, bytes]:
        if self.via_client:
            # As a Flask test does it: the werkzeug test client builds the environ each time.
            response = Client(app).post(self.path, data=self.form, headers=self.headers)
            try:
                return response.status, response.get_data()
            finally:
                response.close()
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body)
        status: list[str] = []

        def start_response(s: str, headers: list[Any], exc_info: Any = None) -> None:
            status.append(s)

        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return status[0], body


def signed_request(
    path: str, form: dict[str, str], token: str = TOKEN, via_client: bool = False
) -> Request:
    signature = RequestValidator(token).compute_signature(BASE + path, form)
    headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
    builder = EnvironBuilder(path=path, base_url=BASE, method="POST", data=form, headers=headers)
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    environ.pop("wsgi.input")
    return Request(environ, body, path, form, headers, via_client)


def floor_app(documents: dict[str, bytes]) -> Flask:
    """The least a Flask webhook can cost: read Twilio's form, answer a constant document."""
    app = Flask("floor")

    def view(**_: str) -> Response:
        request.form  # noqa: B018 - parse the form as any webhook must
        return Response(documents[request.path], mimetype="text/xml")

    for rule in ("/voice", "/menu/<node_id>", "/queue/<node_id>/wait"):
        app.add_url_rule(rule, rule, view, methods=["POST"])
    return app


def _call_log_to_devnull() -> None:
    """Keep the product's INFO call log (its cost is part of a webhook's) but write it to
    /dev/null, so the results are not buried under thousands of call lines."""
    log = logging.getLogger("ivr")
    if not any(getattr(h, "ivr_bench", False) for h in log.handlers):
        handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - process-long
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.ivr_bench = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False


def our_app(menu_file: str | None = None) -> Flask:
    from ivr import create_app

    _call_log_to_devnull()

    config: dict[str, Any] = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": None,
        "IVR_ALLOW_UNSIGNED": False,
        "IVR_TRUSTED_PROXIES": 0,
        "IVR_LOG_LEVEL": "INFO",  # the default: the call log is part of the product
    }
    if menu_file:
        config["IVR_MENU_FILE"] = menu_file
    return create_app(config)


@dataclass
class Result:
    name: str
    ours_us: float
    floor_us: float
    size: int

    @property
    def ratio(self) -> float:
        return self.ours_us / self.floor_us


def measure(rounds: int = 5000, warmup: int = 300, via_client: bool = False) -> list[Result]:
    """Median microseconds per call for each webhook and its floor.

    One call each, alternating which side goes first, round after round: on a busy machine
    both sides see the same load, and the median drops the rounds a neighbour disturbed.
    """
    app = our_app()
    requests = {
        name: signed_request(path, CALL | form, via_client=via_client)
        for name, path, form in WEBHOOKS
    }
    documents: dict[str, bytes] = {}
    for name in requests:
        status, body = requests[name](app)
        if not status.startswith("200"):
            raise SystemExit(f"{name}: the app answered {status}: {body[:200]!r}")
        documents[_path(name)] = body
    floor = floor_app(documents)
    for name in requests:
        status, body = requests[name](floor)
        assert status.startswith("200") and body == documents[_path(name)]
    for req in requests.values():
        for _ in range(warmup):
            req(app)
            req(floor)
    clock = time.perf_counter_ns
    samples: dict[str, tuple[list[int], list[int]]] = {n: ([], []) for n in requests}
    # The collector stays on, as in a served app: an app that allocates more pays for it here.
    for i in range(rounds):
        for name, req in requests.items():
            ours, bare = samples[name]
            pair = ((app, ours), (floor, bare)) if i % 2 else ((floor, bare), (app, ours))
            for target, into in pair:
                t0 = clock()
                req(target)
                into.append(clock() - t0)
    return [
        Result(
            name,
            statistics.median(samples[name][0]) / 1e3,
            statistics.median(samples[name][1]) / 1e3,
            len(documents[_path(name)]),
        )
        for name in requests
    ]


def _path(name: str) -> str:
    return next(p.split("?")[0] for n, p, _ in WEBHOOKS if n == name)


def report(results: list[Result], target: float = 1.25) -> str:
    lines = [
        f"{'webhook':<14} {'ours µs':>9} {'floor µs':>9} {'ratio':>6}  {'bytes':>5}",
    ]
    for r in results:
        flag = "" if r.ratio <= target else f"  over {target}x"
        lines.append(
            f"{r.name:<14} {r.ours_us:>9.1f} {r.floor_us:>9.1f} {r.ratio:>5.2f}x  {r.size:>5}{flag}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument(
        "--client", action="store_true", help="Also through the werkzeug test client."
    )
    args = parser.parse_args(argv)
    print(f"Cost per webhook: median of {args.rounds} interleaved calls each, direct WSGI calls")
    print(report(measure(args.rounds)))
    if args.client:
        print("\nThe same through the werkzeug test client (as Flask tests call an app)")
        print(report(measure(max(args.rounds // 3, 200), via_client=True)))


if __name__ == "__main__":
    main()
