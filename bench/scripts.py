"""Call scripts at suite size: 200 scenarios against the in-process app, run three ways.

    python -m bench.scripts [--count 200]

The shipped suite (tests/calls) repeated to ``--count`` scenarios, run one after another, on
threads, and in worker processes (spawned), best of ``--rounds``. It decides ``ivr test``'s
default: in-process calls are Python work under one lock, so threads cannot help, and spawned
workers pay their start-up before they pay off.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ivr.scripts import Runner, Target, discover, load_file, run_all

ROOT = Path(__file__).resolve().parent.parent


def suite(count: int) -> list:
    scripts = [s for f in discover([ROOT / "tests" / "calls"]) for s in load_file(f)]
    return list(itertools.islice(itertools.cycle(scripts), count))


def sequential(scripts: list) -> float:
    started = time.perf_counter()
    results = run_all(scripts, Target(menu=str(ROOT / "menus.json")), jobs=1)
    assert all(r.passed for r in results), [r.id for r in results if not r.passed]
    return time.perf_counter() - started


def threads(scripts: list, workers: int) -> float:
    started = time.perf_counter()
    with Runner(Target(menu=str(ROOT / "menus.json"))) as runner:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(runner.run, scripts))
    assert all(r.passed for r in results)
    return time.perf_counter() - started


def processes(scripts: list, workers: int) -> float:
    started = time.perf_counter()
    results = run_all(scripts, Target(menu=str(ROOT / "menus.json")), jobs=workers)
    assert all(r.passed for r in results)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("ivr").setLevel(logging.ERROR)
    scripts = suite(args.count)
    print(
        f"call scripts: {len(scripts)} scenarios (tests/calls repeated), in-process, best of "
        f"{args.rounds}",
        flush=True,
    )
    ways = [
        ("one after another", lambda: sequential(scripts)),
        ("4 threads", lambda: threads(scripts, 4)),
        ("2 worker processes", lambda: processes(scripts, 2)),
    ]
    for name, way in ways:
        best = min(way() for _ in range(args.rounds))
        print(
            f"  {name:<20} {best:6.2f} s  ({1000 * best / len(scripts):.1f} ms a scenario)",
            flush=True,
        )


if __name__ == "__main__":
    main()
