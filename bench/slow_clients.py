"""Slow clients against a served app: is a signed caller still answered while connections trickle?

A slow client (slowloris) opens a connection and sends its request one byte every few seconds,
never finishing. A server that gives each connection a thread or a process while it reads the
request runs out of them; no credentials are needed. This opens N such connections against a
real ``ivr serve`` on loopback and times signed ``POST /voice`` requests meanwhile.

    python -m bench.slow_clients [--clients 0 10 40 100] [--calls 20] [-w WORKERS]

Benchmarks report; they never fail on a number. ``tests/test_slow_clients.py`` asserts.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.served import TOKEN, free_port, start_server, stop_server

CALL = {
    "CallSid": "CA" + "5" * 32,
    "AccountSid": "AC" + "2" * 32,
    "From": "+447700900123",
    "To": "+441632960101",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def trickle_payload(host: str, port: int) -> bytes:
    """A request that looks like a webhook and would take hours to arrive at a byte a time:
    headers first (a server reading the request line and headers blocks there), then a body
    (a server reading the body blocks there)."""
    body = urlencode(CALL).encode() + b"&Pad=" + b"x" * 60_000
    head = (
        f"POST /voice HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Twilio-Signature: slow\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Trickle:
    """``count`` connections to host:port, each sending one more byte every ``every`` seconds.

    One thread drives them all; a connection the server closes is counted and dropped. Bounded:
    it stops by itself after ``limit`` seconds even if nobody closes it.
    """

    host: str
    port: int
    count: int
    every: float = 2.0
    limit: float = 600.0
    closed_by_server: int = 0
    opened: int = 0
    _socks: list[tuple[socket.socket, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Trickle:
        payload = trickle_payload(self.host, self.port)
        for _ in range(self.count):
            sock = socket.create_connection((self.host, self.port), timeout=5)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socks.append((sock, 0))
            self.opened += 1
        self._thread = threading.Thread(target=self._run, args=(payload,), daemon=True)
        self._thread.start()
        return self

    def _run(self, payload: bytes) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            alive = []
            for sock, sent in self._socks:
                try:
                    sock.sendall(payload[sent % len(payload) : sent % len(payload) + 1])
                    alive.append((sock, sent + 1))
                except OSError:
                    self.closed_by_server += 1
                    sock.close()
            self._socks = alive
            self._stop.wait(self.every)

    @property
    def open_now(self) -> int:
        return len(self._socks)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 5)
        for sock, _ in self._socks:
            sock.close()
        self._socks = []


def signed_voice(host: str, port: int, token: str = TOKEN, timeout: float = 10.0) -> float | None:
    """Seconds until a signed ``POST /voice`` on a new connection is answered 200 with TwiML;
    None if it was not answered within ``timeout`` (or not with a 200)."""
    url = f"http://{host}:{port}/voice"
    signature = RequestValidator(token).compute_signature(url, CALL)
    body = urlencode(CALL)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "Host": f"{host}:{port}",
    }
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", "/voice", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    except OSError:
        return None
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    if response.status != 200 or b"<Response>" not in answer:
        return None
    return elapsed


@dataclass
class Round:
    clients: int
    cut_off: int
    latencies: list[float | None]

    @property
    def answered(self) -> list[float]:
        return [s for s in self.latencies if s is not None]

    def line(self) -> str:
        ok = self.answered
        if not ok:
            return (
                f"{self.clients:>7} {self.cut_off:>7} {0:>4}/{len(self.latencies):<4} "
                f"{'-':>8} {'-':>8}"
            )
        return (
            f"{self.clients:>7} {self.cut_off:>7} {len(ok):>4}/{len(self.latencies):<4} "
            f"{statistics.median(ok) * 1000:>8.1f} {max(ok) * 1000:>8.1f}"
        )


def measure_against(
    host: str,
    port: int,
    clients: int,
    calls: int,
    every: float = 2.0,
    settle: float = 5.0,
    timeout: float = 10.0,
    cut_within: float = 15.0,
) -> Round:
    """Open ``clients`` slow connections, let them trickle for ``settle`` seconds, make
    ``calls`` signed calls one after another, then count how many slow connections the server
    cut off within ``cut_within`` seconds of their start."""
    with Trickle(host, port, clients, every=every) as trickle:
        started = time.monotonic()
        time.sleep(settle)
        latencies = [signed_voice(host, port, timeout=timeout) for _ in range(calls)]
        while trickle.closed_by_server < clients and time.monotonic() - started < cut_within:
            time.sleep(0.5)
        return Round(clients, trickle.closed_by_server, latencies)


def report(rounds: list[Round], workers: int, threads: int, worker_class: str) -> str:
    lines = [
        f"Slow clients: `ivr serve` {workers} workers ({worker_class}"
        + (f", {threads} threads" if worker_class == "gthread" else "")
        + "), connections trickling a byte every 2 s; signed POST /voice on a new connection;"
        + " cut off: slow connections the server closed within 15 s",
        f"{'clients':>7} {'cut off':>7} {'answered':>9} {'p50 ms':>8} {'max ms':>8}",
    ]
    lines += [r.line() for r in rounds]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from ivr.webhooks.serve import gunicorn_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 10, 40, 100])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("-w", "--workers", type=int, default=None, help="default: ivr serve's")
    parser.add_argument("-t", "--threads", type=int, default=None)
    parser.add_argument("-k", "--worker-class", default="gevent", help="gevent, gthread, sync")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    options = gunicorn_options(
        workers=args.workers, threads=args.threads, worker_class=args.worker_class
    )
    workers, threads = options["workers"], options["threads"]
    kind = "gevent" if args.worker_class == "gevent" else options["worker_class"]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log = Path(tmp) / "serve.log"
        env = {"IVR_WORKER_CLASS": kind}
        proc = start_server("ours", port, workers, threads, log, extra_env=env)
        try:
            rounds = []
            for n in args.clients:
                rounds.append(
                    measure_against("127.0.0.1", port, n, args.calls, timeout=args.timeout)
                )
                print(rounds[-1].line(), file=sys.stderr, flush=True)
        finally:
            stop_server(proc)
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"!! the server logged a traceback:\n{text[-3000:]}", file=sys.stderr)
    print(report(rounds, workers, threads, kind))


if __name__ == "__main__":
    from bench.__main__ import machine

    print(machine(), flush=True)
    main()
