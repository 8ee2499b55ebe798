"""Served throughput and latency: gunicorn on loopback, driven by locust's virtual callers.

Our app (``ivr serve``) and the floor (``bench.floor``) are served the same way, one after the
other, and walked by the same virtual callers (``bench.locustfile``: the simulator's
interpreter making whole calls). Locust runs on the same machine as the server, so on a small
machine the figures are a floor for what the server can do, and the comparison is what counts.

    python -m bench.served [--seconds 20] [--users 32] [-w WORKERS] [-t THREADS]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    kind: str,
    port: int,
    workers: int,
    threads: int,
    log: Path,
    log_level: str = "WARNING",
    menu_file: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``ivr serve`` (kind "ours") or the floor (kind "floor") on 127.0.0.1:port."""
    env = (
        os.environ
        | (extra_env or {})
        | {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_ALLOW_UNSIGNED": "",
            "PUBLIC_BASE_URL": "",
            "IVR_LOG_LEVEL": log_level,
            "PYTHONPATH": str(ROOT),
        }
    )
    if menu_file:
        env["IVR_MENU_FILE"] = menu_file
    module = ["ivr", "serve"] if kind == "ours" else ["bench.floor"]
    command = [sys.executable, "-m", *module, "--port", str(port)]
    command += ["-w", str(workers), "-t", str(threads)]
    out = open(log, "wb")  # noqa: SIM115 - closed by stop_server via the process
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited: {log.read_text()[-2000:]}") from None
            if time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"{kind} server did not start in 60 s") from None
            time.sleep(0.2)
    time.sleep(1.0)  # let every worker finish booting
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class LoadResult:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    mean: float
    calls: int
    call_errors: int
    outcomes: dict[str, int]
    status_sent: int
    status_ok: int
    seconds: float
    error_examples: list[str]
    routes: list[dict[str, str]]

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


def _number(text: str) -> float:
    """A figure from locust's CSV; "N/A" (no requests in the run) is NaN."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def run_locust(
    name: str,
    port: int,
    users: int,
    seconds: int,
    workdir: Path,
    status_callbacks: bool = False,
    mode: str = "calls",
) -> LoadResult:
    """Run locust headless against 127.0.0.1:port for ``seconds``; bounded by a timeout."""
    prefix = workdir / name
    summary = workdir / f"{name}-calls.json"
    env = os.environ | {
        "BENCH_TOKEN": TOKEN,
        "BENCH_STATUS": "1" if status_callbacks else "",
        "BENCH_SUMMARY": str(summary),
        "BENCH_MODE": mode,
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable, "-m", "locust",
        "-f", str(ROOT / "bench" / "locustfile.py"),
        "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
        "--host", f"http://127.0.0.1:{port}",
        "--csv", str(prefix),
        "--stop-timeout", "15",
        "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120
    )
    elapsed = time.monotonic() - started
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise RuntimeError(f"locust wrote no stats: {done.stderr[-3000:]}")
    rows = list(csv.DictReader(stats_file.open(encoding="utf-8")))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    calls = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else {}
    return LoadResult(
        name=name,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=_number(total["Requests/s"]),
        p50=_number(total["50%"]),
        p95=_number(total["95%"]),
        p99=_number(total["99%"]),
        mean=_number(total["Average Response Time"]),
        calls=calls.get("calls", 0),
        call_errors=calls.get("call_errors", 0),
        outcomes=calls.get("outcomes", {}),
        status_sent=calls.get("status_sent", 0),
        status_ok=calls.get("status_ok", 0),
        seconds=min(float(seconds), elapsed),
        error_examples=calls.get("error_examples", []),
        routes=[
            {k: r[k] for k in ("Name", "Request Count", "Failure Count", "50%", "99%")}
            for r in rows
            if r["Name"] != "Aggregated"
        ],
    )


def measure(
    seconds: int,
    users: int,
    workers: int,
    threads: int,
    mode: str = "calls",
    rounds: int = 2,
    worker_class: str = "gevent",
) -> list[LoadResult]:
    """Both servers up at once; locust alternates between them in ``rounds`` short runs
    (ours, floor, floor, ours, ...), so load from elsewhere on the machine falls on both."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        servers = {}
        try:
            for kind in ("ours", "floor"):
                port = free_port()
                log = workdir / f"{kind}.log"
                env = {"IVR_WORKER_CLASS": worker_class}
                servers[kind] = (
                    port,
                    start_server(kind, port, workers, threads, log, extra_env=env),
                )
            per_round = max(3, seconds // rounds)
            for i in range(rounds):
                order = ("ours", "floor") if i % 2 == 0 else ("floor", "ours")
                for kind in order:
                    port = servers[kind][0]
                    result = run_locust(f"{kind}", port, users, per_round, workdir, mode=mode)
                    result.name = f"{kind} #{i + 1}"
                    results.append(result)
        finally:
            for _, proc in servers.values():
                stop_server(proc)
        for kind in servers:
            log = (workdir / f"{kind}.log").read_text(errors="replace")
            if "Traceback" in log:
                print(f"!! {kind} server logged a traceback:\n{log[-3000:]}", file=sys.stderr)
    results.sort(key=lambda r: r.name)
    return results


def report(
    results: list[LoadResult],
    workers: int,
    threads: int,
    users: int,
    mode: str = "calls",
    worker_class: str = "gevent",
) -> str:
    who = (
        "virtual callers (simulator interpreter, whole random calls)"
        if mode == "calls"
        else "users posting the three signed webhooks"
    )
    lines = [
        f"Served ({mode}): gunicorn {workers} {worker_class} workers"
        + (f" x {threads} threads" if worker_class != "gevent" else "")
        + " on 127.0.0.1, "
        f"{users} locust {who}, on the same machine",
        f"{'server':<9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'requests':>9} {'errors':>6} {'calls':>6} {'call errs':>9}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<9} {r.rps:>7.0f} {r.p50:>7.0f} {r.p95:>7.0f} {r.p99:>7.0f} "
            f"{r.requests:>9} {r.failures:>6} {r.calls:>6} {r.call_errors:>9}"
        )
    ours = sum(r.requests for r in results if r.name.startswith("ours"))
    floor = sum(r.requests for r in results if r.name.startswith("floor"))
    if floor:
        lines.append(f"ours/floor throughput (all rounds): {ours / floor:.2f}")
    for r in results:
        for example in r.error_examples[:3]:
            lines.append(f"  {r.name} call error: {example.splitlines()[0]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("--mode", choices=["calls", "webhooks", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=4, help="Alternations (seconds split).")
    parser.add_argument("-k", "--worker-class", default="gevent", help="gevent, gthread, sync")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("locust") is None:
        print("bench.served needs locust: pip install -e '.[bench]'", file=sys.stderr)
        return
    for mode in ("calls", "webhooks") if args.mode == "both" else (args.mode,):
        results = measure(
            args.seconds,
            args.users,
            args.workers,
            args.threads,
            mode,
            rounds=args.rounds,
            worker_class=args.worker_class,
        )
        print(report(results, args.workers, args.threads, args.users, mode, args.worker_class))


if __name__ == "__main__":
    main()
