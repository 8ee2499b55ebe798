"""Several instances, one truth: two `ivr serve` on one PostgreSQL database serve one call.

The README's scaling story ("Production serving: `ivr serve`", "Several instances") says any
worker of any instance serves any step of any call, because a call's state travels in the URLs
and everything else a call leaves behind (its journey, its callback request, the handler line's
wrong PINs) is kept in the shared PostgreSQL database. Here two real `ivr serve` processes on
different ports share one database (a schema of its own, dropped afterwards), each with its own
working folder and spool as on two machines, and one call's webhooks alternate between them.
Every request is signed, with twilio's RequestValidator, for the URL of the instance it goes
to. The CLI (`ivr journey`, `ivr callbacks`, `ivr report`) then reads the same database.

Twilio's REST API (the handler line reads its queues and the caller at the front) is the
recording fake of ``twilio_fake``, put on the wire: each instance's real twilio-python client
reaches ``https://api.twilio.com`` through an HTTPS proxy (``HTTPS_PROXY``) that answers for
it with a certificate from a throwaway authority (``REQUESTS_CA_BUNDLE``).

Runs when TEST_DATABASE_URL is set, like the other PostgreSQL tests.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import sqlalchemy as sa
from conftest import MENU
from handler_support import HANDLER, PIN, fake_twilio, said
from journey_support import PG_URL, postgres_schema
from twilio.request_validator import RequestValidator
from twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")

CALLER = "+447400123456"
CALL = "CA" + "c" * 32
HANDLER_CALL = "CA" + "d" * 32
GUESSER = "+447700900999"
COLLEAGUE = "+447700900888"  # not on the allow-list: keys the PIN
CALLBACK_NUMBER = "07911123456"


# -- Twilio's REST API on the wire ----------------------------------------------------------


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway certificate authority and, signed by it, a certificate for api.twilio.com."""
    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "api.key", "api.csr", "api.pem")
    )
    extensions = folder / "api.ext"
    extensions.write_text(
        "subjectAltName=DNS:api.twilio.com\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca]
        + ["-days", "2", "-subj", "/CN=ivr101 test authority"]
        + ["-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr]
        + ["-subj", "/CN=api.twilio.com"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"]
        + ["-out", cert, "-days", "2", "-extfile", extensions],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


class TwilioOnTheWire:
    """An HTTPS proxy whose every CONNECT reaches ``fake``, answering as api.twilio.com."""

    def __init__(self, fake: FakeTwilio, folder: Path) -> None:
        if subprocess.run(["openssl", "version"], capture_output=True).returncode:
            pytest.skip("openssl is needed to make a certificate for the fake Twilio API")
        self.ca, cert, key = certificates(folder)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)

        class Api(http.server.BaseHTTPRequestHandler):
            """Twilio's REST API, inside the tunnel: requests handed to the fake."""

            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                user, _, password = (
                    base64.b64decode(self.headers.get("Authorization", "Basic ")[6:])
                    .decode()
                    .partition(":")
                )
                answer = fake.request(
                    self.command,
                    "https://api.twilio.com" + parts.path,
                    params=dict(parse_qsl(parts.query)),
                    data=dict(parse_qsl(body.decode())),
                    auth=(user, password),
                )
                data = answer.text.encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Tunnel(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_CONNECT(self) -> None:
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                with tls.wrap_socket(self.connection, server_side=True) as inner:
                    Api(inner, self.client_address, self.server)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tunnel)
        self.server.daemon_threads = True
        self.proxy = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- two instances ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Instance:
    """One `ivr serve`, in a folder of its own (its spool is there), on a port of its own."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, url: str, form: dict[str, str]) -> requests.Response:
        """A signed POST, as Twilio makes it: the signature is for this instance's URL."""
        parts = urlsplit(url)
        target = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(target, form)
        return requests.post(
            target, data=form, headers={"X-Twilio-Signature": signature}, timeout=10
        )

    def twiml(self, url: str, form: dict[str, str]) -> ET.Element:
        answer = self.post(url, form)
        assert answer.status_code == 200, (self.name, url, answer.status_code, answer.text)
        assert answer.headers["Content-Type"].startswith("text/xml")
        return ET.fromstring(answer.content)

    def stop(self) -> str:
        """SIGTERM (each worker writes what it still holds); the instance's log."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text(errors="replace")


def start(name: str, folder: Path, env: dict[str, str]) -> Instance:
    folder.mkdir()
    port = _free_port()
    log = folder / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--port", str(port), "-w", "1"],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Instance(name, port, proc, log)


def wait_until_up(instance: Instance) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(instance.base + "/", timeout=2)
            return
        except requests.RequestException:
            assert instance.proc.poll() is None, instance.log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"{instance.name} did not start in 60 s"
            time.sleep(0.2)


@dataclass
class Deployment:
    a: Instance
    b: Instance
    url: str
    twilio: FakeTwilio
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """An `ivr` command against the shared database, as an operator runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "ivr", *args, "--database", self.url],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    def steps(self, call_sid: str) -> list[tuple[str, str | None]]:
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT kind, outcome FROM events WHERE call_sid = :sid ORDER BY at, id"
                    ),
                    {"sid": call_sid},
                ).all()
        finally:
            engine.dispose()
        return [(kind, outcome) for kind, outcome in rows]

    def written(self, call_sid: str, kind: str) -> None:
        """Wait until ``call_sid``'s ``kind`` step is in the database (the writer batches)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                kinds = [k for k, _ in self.steps(call_sid)]
            except sa.exc.ProgrammingError:
                kinds = []  # no tables yet: a writer makes them before its first batch
            if kind in kinds:
                return
            assert time.monotonic() < deadline, (call_sid, kind, kinds)
            time.sleep(0.05)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    twilio = fake_twilio()
    wire = TwilioOnTheWire(twilio, tmp_path)
    with postgres_schema() as url:
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in ("no_proxy", "http_proxy", "all_proxy")
        } | {
            "DATABASE_URL": url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "IVR_MENU_FILE": str(MENU),
            "IVR_HANDLER_NUMBERS": HANDLER,
            "IVR_HANDLER_PIN": PIN,
            "IVR_ALLOW_UNSIGNED": "",
            "PUBLIC_BASE_URL": "",  # each instance checks signatures for its own URL
            "IVR_LOG_LEVEL": "INFO",
            "IVR_WORKER_CLASS": "",
            "IVR_SPOOL_DIR": "",  # the default: ./ivr-spool, in each instance's own folder
            "HTTPS_PROXY": wire.proxy,
            "https_proxy": wire.proxy,
            "REQUESTS_CA_BUNDLE": str(wire.ca),
        }
        # Both start at once: the schema is made by whichever gets the migration lock first.
        a = start("A", tmp_path / "a", env)
        b = start("B", tmp_path / "b", env)
        try:
            wait_until_up(a)
            wait_until_up(b)
            yield Deployment(a, b, url, twilio, env)
        finally:
            logs = [i.stop() for i in (a, b)]
            wire.close()
        for log in logs:
            assert "Traceback" not in log, log


# -- the story -------------------------------------------------------------------------------


def action(root: ET.Element, verb: str = "Gather") -> str:
    element = root.find(verb)
    assert element is not None, ET.tostring(root)
    return element.text if verb == "Redirect" else element.get("action")  # type: ignore[return-value]


def test_one_call_across_two_instances_is_whole(deployment: Deployment):
    a, b, twilio = deployment.a, deployment.b, deployment.twilio
    caller = {"CallSid": CALL, "From": CALLER, "To": "+441632960101"}

    # The call starts on A; the menu choice is served by B.
    start_ = a.twiml("/voice", caller)
    assert "dial 999" in said(start_)
    queued = b.twiml(action(start_), caller | {"Digits": "1"})
    enqueue = queued.find("Enqueue")
    assert enqueue is not None and enqueue.text == "call-handlers"
    # Twilio puts the caller in its queue and fetches the hold from A: a long queue, so the
    # hold plays inside a Gather that offers a callback.
    twilio.add_caller(twilio.sids["call-handlers"], CALL, 95)  # type: ignore[attr-defined]
    holding = a.twiml(
        enqueue.get("waitUrl"),
        caller | {"QueuePosition": "12", "AvgQueueTime": "900", "QueueTime": "30"},
    )
    assert [el.tag for el in holding] == ["Gather", "Redirect"]
    assert holding.find("Gather").get("numDigits") == "1"
    assert "press 1" in said(holding)
    deployment.written(CALL, "choice")  # B's writer has it: as a handler seconds later would

    # A call handler rings in on B and takes the front caller on A. A served the hold but not
    # the choice; the whisper names the choice all the same, from the shared journey log.
    handler = {"CallSid": HANDLER_CALL, "From": HANDLER, "To": "+442079460199"}
    board = b.twiml("/handler", handler)
    assert "call handlers: 1 caller waiting" in said(board)
    (offer,) = [
        el.text or "" for el in board.iter("Say") if (el.text or "").startswith("call handlers:")
    ]
    key = offer.removesuffix(".").rsplit("press ", 1)[1]
    taken = a.twiml(action(board), handler | {"Digits": key})
    assert [el.tag for el in taken] == ["Say", "Dial"]
    assert said(taken) == (
        "Taking the next caller from call handlers. The caller chose report a crime, "
        "and has waited 2 minutes."
    )
    assert taken.find("Dial/Queue").text == "call-handlers"
    members = f"/Queues/{twilio.sids['call-handlers']}/Members.json"  # type: ignore[attr-defined]
    assert [c.method for c in twilio.calls if c.url.endswith(members)] == ["GET"]
    # The handler is called away during the whisper and hangs up before the bridge (Twilio
    # then sends the handler's status callback, here to B): the caller is still holding.
    assert b.post("/status", handler | {"CallStatus": "completed", "CallDuration": "9"}).ok

    # The caller asks for a callback: each step on the other instance from the last.
    holding = b.twiml(
        action(holding, "Redirect"),
        caller | {"QueuePosition": "11", "AvgQueueTime": "900", "QueueTime": "60"},
    )
    confirm = a.twiml(action(holding), caller | {"Digits": "1"})
    assert "ending 4 5 6" in said(confirm)
    ask = b.twiml(action(confirm), caller | {"Digits": "2"})
    assert "key in the U K phone number" in said(ask)
    assert ask.find("Gather").get("finishOnKey") == "#"
    done = a.twiml(action(ask), caller | {"Digits": CALLBACK_NUMBER})
    assert [el.tag for el in done] == ["Say", "Leave"]
    assert "0 7 9 1 1, 1 2 3 4 5 6" in said(done)
    # Twilio retries the confirmation on the other instance: the same answer, no second request.
    again = b.twiml(action(ask), caller | {"Digits": CALLBACK_NUMBER})
    assert [el.tag for el in again] == ["Say", "Leave"]
    twilio.members[twilio.sids["call-handlers"]].clear()  # type: ignore[attr-defined]
    left = b.twiml(enqueue.get("action"), caller | {"QueueResult": "leave", "QueueTime": "75"})
    assert "Goodbye." in said(left) and left.find("Hangup") is not None
    assert a.post("/status", caller | {"CallStatus": "completed", "CallDuration": "140"}).ok

    # Someone guessing the PIN from one caller ID: each call's door on one instance, its wrong
    # PINs alternating between the two. Nine do not lock them out (the fourth call is still
    # asked); the tenth, on whichever instance, does.
    wrong = 0
    for n, (door, other) in enumerate([(a, b), (b, a), (a, b), (b, a)]):
        guesser = {"CallSid": f"CA{n:032d}", "From": GUESSER, "To": "+442079460199"}
        prompt = door.twiml("/handler", guesser)
        assert prompt.find("Gather").get("finishOnKey") == "#"  # asked for the PIN
        for attempt in range(1, 4):
            serving = other if attempt % 2 else door
            prompt = serving.twiml(action(prompt), guesser | {"Digits": "135790"})
            wrong += 1
            if wrong == 10 or attempt == 3:
                assert [el.tag for el in prompt] == ["Say", "Hangup"]
                break
            assert "That PIN is not right" in said(prompt)
    assert wrong == 10
    # Locked out on both instances: not even asked, and the right PIN is not compared.
    for instance, n in ((a, 10), (b, 11)):
        guesser = {"CallSid": f"CA{n:032d}", "From": GUESSER, "To": "+442079460199"}
        refused = instance.twiml("/handler", guesser)
        assert [el.tag for el in refused] == ["Say", "Hangup"]
        assert "for police call handlers only" in said(refused)
        right = instance.twiml("/handler/pin?attempt=1", guesser | {"Digits": PIN})
        assert right.find("Hangup") is not None and right.find("Gather") is None
    # Somebody else is not locked out: asked on A, let in with the PIN on B.
    colleague = {"CallSid": "CA" + "e" * 32, "From": COLLEAGUE, "To": "+442079460199"}
    board = b.twiml(action(a.twiml("/handler", colleague)), colleague | {"Digits": PIN})
    assert "/handler/take" in action(board)

    a_log, b_log = a.stop(), b.stop()  # SIGTERM: each writes what it holds

    # The journey: every step, in order, from both instances.
    steps = deployment.steps(CALL)
    assert steps == [
        ("call-start", None),  # A
        ("choice", "option"),  # B
        ("queue-wait", None),  # A
        ("queue-wait", None),  # B
        ("callback-offer", "offered"),  # A: pressed 1, asked to confirm the number
        ("callback-offer", "enter"),  # B: pressed 2, to key another
        ("callback", "requested"),  # A (B's replay of it added nothing)
        ("queue-result", "leave"),  # B
        ("status", "completed"),  # A
    ], steps
    # Each instance logged the steps it served (its own `ivr.calls` lines): they alternated.
    # (The callback request, A's, is stored by the journey log itself, without a log line.)
    served = {
        name: [m[1] for m in re.finditer(rf"ivr\.calls: call={CALL} step=(\S+)", log)]
        for name, log in (("A", a_log), ("B", b_log))
    }
    assert served == {
        "A": ["call-start", "queue-wait", "callback-offer", "status"],
        "B": ["choice", "queue-wait", "callback-offer", "queue-result"],
    }, served
    journey = deployment.cli("journey", CALL)
    first, *lines = journey.splitlines()
    assert first.startswith(f"Call {CALL} from +44*******456")
    assert first.endswith("completed after 140s")
    kinds = [re.match(r" *\d+\. \S+ \+ *[\d.]+s +(\S+)", line)[1] for line in lines]
    assert kinds == [kind for kind, _ in steps]

    # Exactly one callback, with the number keyed (on A) and the queue the caller was in.
    callbacks = deployment.cli("callbacks")
    (line,) = callbacks.splitlines()
    assert "call +447911123456  queue call-handlers (position 11" in line
    assert line.endswith(f"[{CALL}]")
    report = json.loads(deployment.cli("report", "--format", "json"))
    assert report["callbacks"]["requested"] == 1
    assert report["calls"]["outcomes"] == {"callback requested": 1}

    # The handler's call: in by caller ID on B, took the caller on A.
    handler_steps = deployment.steps(HANDLER_CALL)
    assert [k for k, _ in handler_steps] == ["handler-in", "handler-take", "status"]

    # The lockout: ten wrong PINs, from both instances, in one shared count (a keyed hash of
    # the caller ID, never the number); the colleague's right PIN cleared nothing of theirs.
    engine = sa.create_engine(deployment.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            counts = conn.execute(
                sa.text("SELECT caller, count(*) FROM handler_pin_failures GROUP BY caller")
            ).all()
    finally:
        engine.dispose()
    assert [n for _, n in counts] == [10]
    assert GUESSER not in counts[0][0] and GUESSER[1:] not in counts[0][0]
    # Logged once, by whichever instance served the tenth, with the number masked.
    lockouts = [
        line
        for line in (a_log + b_log).splitlines()
        if "wrong PINs from +44*******999 within 15 minutes" in line
    ]
    assert len(lockouts) == 1, lockouts
    assert GUESSER not in a_log + b_log


def test_a_new_deployment_counts_wrong_pins_together_from_the_first(deployment: Deployment):
    """Forty wrong PINs from one caller ID, spread over both instances the moment they answer,
    on a database with no tables yet: the lockout makes them rather than counting alone."""
    a, b = deployment.a, deployment.b

    def guess(n: int) -> bool:
        """One wrong PIN; True if it was compared (the caller was asked again)."""
        form = {"CallSid": f"CA{n:032d}", "From": GUESSER, "Digits": "135790"}
        return "That PIN is not right" in said((a, b)[n % 2].twiml("/handler/pin", form))

    with ThreadPoolExecutor(8) as pool:
        compared = sum(pool.map(guess, range(40)))
    assert compared == 9  # the tenth locked them out: refused, like every one after it
    logs = a.stop() + b.stop()
    assert "PIN lockout's database cannot be used" not in logs
    assert logs.count("wrong PINs from +44*******999 within 15 minutes") == 1
