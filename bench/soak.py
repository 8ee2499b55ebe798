"""Soak: 200 concurrent simulated callers for 60 s against ``ivr serve`` on loopback.

Every virtual caller makes whole random calls (menus, invalid keys, silence, speech, repeat
and back, queues with hold cycles, full queues, transfers that connect or fail, hang-ups) and
posts Twilio's status callback when each call ends. Passes when there are no failed requests,
no call the simulator calls an application error, no traceback or error in the server log,
and every status callback sent is counted by the server (its call log, one line per event).

    python -m bench.soak [--users 200] [--seconds 60] [-w WORKERS] [-t THREADS]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from bench.served import free_port, run_locust, start_server, stop_server
from ivr.webhooks.serve import default_workers, gunicorn_options, worker_description

ROUTES = (
    "/voice",
    "/node/[id]",
    "/menu/[id]",
    "/queue/[id]/wait",
    "/queue/[id]/result",
    "/transfer/[id]/result",
    "/status",
)
STATUS_LINE = re.compile(r"call=(\S+) step=status\b")


def soak(users: int, seconds: int, workers: int, threads: int) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        log = workdir / "server.log"
        port = free_port()
        # INFO: the server logs one line per call event, which is how it counts callbacks.
        proc = start_server("ours", port, workers, threads, log, log_level="INFO")
        try:
            result = run_locust("soak", port, users, seconds, workdir, status_callbacks=True)
        finally:
            stop_server(proc)
        text = log.read_text(encoding="utf-8", errors="replace")
    counted = set(STATUS_LINE.findall(text))
    server_errors = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
    seen = {r["Name"]: int(r["Request Count"]) for r in result.routes}
    missing_routes = [r for r in ROUTES if not seen.get(r)]
    lost = result.status_ok - len(counted)
    print(
        f"Soak: {users} concurrent virtual callers for {seconds} s against ivr serve "
        f"({worker_description(gunicorn_options(workers=workers, threads=threads))}) "
        "on 127.0.0.1"
    )
    print(
        f"  requests {result.requests} ({result.rps:.0f}/s), failed {result.failures}; "
        f"latency p50 {result.p50:.0f} ms, p95 {result.p95:.0f} ms, p99 {result.p99:.0f} ms, "
        f"mean {result.mean:.1f} ms"
    )
    print(
        f"  calls {result.calls} ({result.calls_per_s:.1f}/s), application errors "
        f"{result.call_errors}; outcomes "
        + ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items()))
    )
    print("  routes " + ", ".join(f"{name} {seen.get(name, 0)}" for name in ROUTES))
    print(
        f"  status callbacks sent {result.status_sent}, answered 204 {result.status_ok}, "
        f"counted by the server {len(counted)}, lost {max(lost, 0)}"
    )
    print(f"  server log: {len(server_errors)} error lines")
    for line in server_errors[:5]:
        print(f"    {line[:200]}")
    for example in result.error_examples[:3]:
        print(f"  call error: {example.splitlines()[0]}")
    ok = (
        result.failures == 0
        and result.call_errors == 0
        and not server_errors
        and not missing_routes
        and result.status_sent == result.status_ok == len(counted)
    )
    if missing_routes:
        print(f"  routes never reached: {', '.join(missing_routes)}")
    print("  PASS" if ok else "  FAIL")
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("-w", "--workers", type=int, default=default_workers())
    parser.add_argument("-t", "--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sys.exit(0 if soak(args.users, args.seconds, args.workers, args.threads) else 1)


if __name__ == "__main__":
    main()
