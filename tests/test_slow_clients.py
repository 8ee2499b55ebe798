"""Slow clients against a real `ivr serve`: callers are answered, tricklers are cut off.

A real server in a subprocess and real sockets that trickle bytes (no mock). Speed is measured
in ``bench/slow_clients.py``; here the timeouts only bound how long a failure takes to show.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import MENU, TOKEN

from bench.slow_clients import CALL, Trickle, signed_voice
from ivr.webhooks.serve import BODY_SECONDS, HEADER_SECONDS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`ivr serve` as deployed by default (gevent workers), two workers, on a loopback port."""
    folder = tmp_path_factory.mktemp("slow")
    port = _free_port()
    env = os.environ | {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "IVR_MENU_FILE": str(MENU),
        "IVR_ALLOW_UNSIGNED": "",
        "PUBLIC_BASE_URL": "",
        "IVR_LOG_LEVEL": "WARNING",
        "IVR_WORKER_CLASS": "",
        "DATABASE_URL": f"sqlite:///{folder / 'journeys.db'}",
    }
    command = [sys.executable, "-m", "ivr", "serve", "--port", str(port), "-w", "2"]
    err = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, env=env, cwd=folder, stdout=err, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while signed_voice("127.0.0.1", port, token=TOKEN, timeout=2) is None:
            assert proc.poll() is None, (folder / "serve.log").read_text()
            assert time.monotonic() < deadline, "ivr serve did not answer in 30 s"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
    log = (folder / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_callers_are_answered_while_forty_connections_trickle(server: int):
    with Trickle("127.0.0.1", server, 40, every=0.5) as trickle:
        time.sleep(1.5)  # every slow connection has been accepted and is mid-request
        assert trickle.open_now == 40
        # Under a thread per connection (gthread, sync) these are never answered.
        answered = [signed_voice("127.0.0.1", server, token=TOKEN, timeout=10) for _ in range(5)]
        assert None not in answered
        # The header deadline then closes every trickling connection.
        assert _wait_for(lambda: trickle.closed_by_server == 40, HEADER_SECONDS + 10)


def test_a_body_trickled_past_the_deadline_gets_408_and_is_closed(server: int):
    body = b"&".join(f"{k}={v}".encode() for k, v in CALL.items()) + b"&Pad=" + b"x" * 500
    head = (
        f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{server}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Twilio-Signature: slow\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server), timeout=BODY_SECONDS + 10) as sock:
        sock.sendall(head + body[:10])
        started = time.monotonic()
        answer = b""
        sent = 10
        sock.settimeout(0.5)
        while time.monotonic() - started < BODY_SECONDS + 10:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                sock.sendall(body[sent : sent + 1])  # one more byte, never the whole body
                sent += 1
                continue
            if not chunk:
                break  # closed by the server
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert sent < len(body)
