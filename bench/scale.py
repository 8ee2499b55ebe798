"""Menu scale: a generated menu of 10,000 nodes, loaded, validated, walked and served.

    python -m bench.scale [--nodes 10000]

Reports load-and-validate time (target under 1 s), ``ivr paths`` time, and the memory a
worker holds for the menu (tracemalloc of the load, and process RSS after ``create_app``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any

QUEUES = 50
FAN_OUT = 5


def generate_menu(nodes: int = 10_000) -> dict[str, Any]:
    """A valid menu of exactly ``nodes`` nodes: a tree of menus, five options each, ending in
    messages, transfers and queues (up to fifty shared queues, a goodbye)."""
    queues = max(1, min(QUEUES, nodes // 40))
    out: dict[str, Any] = {
        "bye": {"kind": "hangup", "say": "Thank you for calling. Goodbye."},
    }
    for q in range(queues):
        out[f"q{q}"] = {
            "kind": "queue",
            "queue": f"team-{q}",
            "say": f"Please hold for team {q}.",
            "hold": {"messages": [f"Team {q} will be with you shortly."]},
            "on_full": "bye",
            "on_error": "bye",
        }
    out["start"] = {
        "kind": "message",
        "say": "Thank you for calling. In an emergency, hang up and dial 999.",
        "next": "m0",
    }
    budget = nodes - len(out)
    pending: deque[str] = deque(["m0"])
    budget -= 1
    serial = 0
    while pending:
        menu_id = pending.popleft()
        options = []
        for k in range(1, FAN_OUT + 1):
            if budget <= 0:
                break
            serial += 1
            child = f"n{serial}"
            budget -= 1
            # Expand as a menu while there is budget for its own options; otherwise a leaf.
            if budget > FAN_OUT * (len(pending) + 1):
                pending.append(child)
            elif serial % 7 == 0:
                out[child] = {
                    "kind": "transfer",
                    "number": "+443001232040",
                    "say": "Putting you through.",
                    "on_fail": f"q{serial % queues}",
                }
            else:
                out[child] = {
                    "kind": "message",
                    "say": f"Information for option {serial}. Please hold for a call handler.",
                    "next": f"q{serial % queues}",
                }
            options.append(
                {
                    "key": str(k),
                    "say": f"For service {serial}, press {k}.",
                    "speech": [f"service {serial}", f"topic {serial}"],
                    "goto": child,
                }
            )
        if not options:  # no budget left for this menu's options: make it a message
            out[menu_id] = {"kind": "message", "say": "Please hold.", "next": "q0"}
            continue
        out[menu_id] = {
            "kind": "menu",
            "prompt": f"Menu {menu_id}.",
            "options": options,
            "fallback": "q0",
        }
    # Leftover budget (when the tree came out short): messages between welcome and menu.
    extra = 0
    while len(out) < nodes:
        extra += 1
        out[f"x{extra}"] = {"kind": "message", "say": f"Notice {extra}.", "next": "m0"}
        out[f"x{extra - 1}" if extra > 1 else "start"]["next"] = f"x{extra}"
    return {
        "name": f"Generated menu of {nodes} nodes",
        "start": "start",
        "defaults": {"error_node": "q0"},
        "nodes": out,
    }


def _rss_after_create_app(menu_file: str | None) -> int:
    """Resident set size (kB) of a fresh process after ``create_app`` with ``menu_file``."""
    code = (
        "import os, sys\n"
        "from ivr import create_app\n"
        "config = {'TESTING': True, 'TWILIO_AUTH_TOKEN': 't', 'IVR_LOG_LEVEL': 'ERROR'}\n"
        "if sys.argv[1]: config['IVR_MENU_FILE'] = sys.argv[1]\n"
        "app = create_app(config)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, menu_file or ""],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def measure(nodes: int = 10_000) -> dict[str, Any]:
    from ivr.authoring.paths import walk_paths
    from ivr.menu import load_menu

    data = generate_menu(nodes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "menus.json"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        size = path.stat().st_size
        timings = []
        for _ in range(3):
            t0 = time.perf_counter()
            menu = load_menu(path)
            timings.append(time.perf_counter() - t0)
        assert len(menu.nodes) == nodes, len(menu.nodes)
        tracemalloc.start()
        held = load_menu(path)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del held
        t0 = time.perf_counter()
        report = walk_paths(menu)
        walk = time.perf_counter() - t0
        t0 = time.perf_counter()
        cli = subprocess.run(
            [sys.executable, "-m", "ivr", "paths", str(path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        cli_seconds = time.perf_counter() - t0
        rss_big = _rss_after_create_app(str(path))
        rss_default = _rss_after_create_app(None)
    return {
        "nodes": nodes,
        "file_kb": size // 1024,
        "load_validate_s": min(timings),
        "paths_walk_s": walk,
        "paths_routes": len(report.routes),
        "paths_destinations": len(report.fastest),
        "paths_cli_s": cli_seconds,
        "paths_cli_exit": cli.returncode,
        "menu_mb": current / 2**20,
        "load_peak_mb": peak / 2**20,
        "worker_rss_mb": rss_big / 1024,
        "worker_rss_default_mb": rss_default / 1024,
    }


def report(r: dict[str, Any]) -> str:
    ok = "OK" if r["load_validate_s"] < 1 else "OVER the 1 s target"
    return "\n".join(
        [
            f"Menu of {r['nodes']} nodes ({r['file_kb']} kB of JSON)",
            f"  load + validate      {r['load_validate_s'] * 1000:8.0f} ms  ({ok}; best of 3)",
            f"  ivr paths (walk)     {r['paths_walk_s'] * 1000:8.0f} ms  "
            f"{r['paths_routes']} routes, {r['paths_destinations']} destinations",
            f"  ivr paths (command)  {r['paths_cli_s'] * 1000:8.0f} ms  "
            f"(process start, load, walk, print; exit {r['paths_cli_exit']})",
            f"  menu in memory       {r['menu_mb']:8.1f} MB  (tracemalloc; peak while loading "
            f"{r['load_peak_mb']:.1f} MB)",
            f"  worker RSS           {r['worker_rss_mb']:8.1f} MB  after create_app "
            f"(menus.json: {r['worker_rss_default_mb']:.1f} MB)",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("IVR_LOG_LEVEL", "ERROR")
    print(report(measure(args.nodes)))


if __name__ == "__main__":
    main()
