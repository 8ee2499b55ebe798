"""``python -m bench`` (``make bench``): every benchmark, with the machine it ran on.

    python -m bench [--quick]

1. cost per webhook against a bare Flask floor, in one process (bench.cost)
2. menu scale: a 10,000-node menu (bench.scale)
3. served throughput and latency under gunicorn, ours beside the floor (bench.served; needs
   locust, the ``bench`` extra)
4. call scripts: 200 scenarios in-process, one after another, on threads, in processes
   (bench.scripts)
5. slow clients: signed callers answered while connections trickle bytes (bench.slow_clients)

Benchmarks report; they never fail on a number.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import version


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or cpu
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("Flask", "Werkzeug", "twilio", "gunicorn", "gevent")
    )
    return (
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()} "
        f"on {platform.system()} {platform.release()}; {packages}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer rounds, shorter runs.")
    args = parser.parse_args(argv)
    from bench import cost, scale, scripts, served, slow_clients

    print(machine(), flush=True)
    print(flush=True)
    cost.main(["--rounds", "1000" if args.quick else "5000", "--client"])
    print(flush=True)
    scale.main([])
    print(flush=True)
    served.main(["--seconds", "5" if args.quick else "20"])
    print(flush=True)
    scripts.main(["--rounds", "1" if args.quick else "3"])
    slow_clients.main(["--calls", "5" if args.quick else "20"])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
