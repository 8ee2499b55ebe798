"""Running scenarios with the simulator: in-process against this app, or against any URL.

Calls run in parallel where that helps: against a URL the time is spent waiting for the
server, so threads overlap it. In-process the time is Python work under one lock, so threads
cannot help; worker processes can (``-j N``) once a suite is big enough to pay for starting
them (``bench/scripts.py`` measures the three ways).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from .. import settings
from ..caller import Call, HTTPTransport, WSGITransport
from ..menu import to_e164
from .app import Apps, clock_at
from .caller import ScriptCaller
from .coverage import final_node, journey_of
from .expect import Transcript, check, destination_seconds
from .loader import Script
from .results import FAILED, PASSED, SKIPPED, Failure, Result

IN_PROCESS_URL = "http://localhost/voice"


@dataclass(frozen=True)
class Target:
    """Where calls go: ``url`` (any TwiML app) or, when None, this app in-process."""

    url: str | None = None
    auth_token: str | None = None
    menu: str | None = None
    """The in-process app's menu for scripts that name none."""


class Runner:
    """Runs scenarios; keeps in-process apps between them. Close it when done."""

    def __init__(self, target: Target | None = None) -> None:
        self.target = target or Target()
        self.apps = Apps()

    def close(self) -> None:
        self.apps.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _skip(self, script: Script) -> str | None:
        scenario = script.scenario
        if scenario.skip:
            return scenario.skip
        if self.target.url and scenario.url is None:
            # Written for the in-process app (its clock, its menu): against --url its
            # expectations would not be about the app they are checked on.
            if scenario.at is not None:
                return "sets `at`, the in-process app's clock; a remote app keeps its own time"
            if scenario.menu is not None:
                return "names a menu file for the in-process app"
            if scenario.expect is not None and scenario.expect.node is not None:
                return "expects a menu node, which only the in-process app reports"
        return None

    def run(self, script: Script) -> Result:
        """Place the scenario's call and check it."""
        started = time.perf_counter()
        scenario = script.scenario
        result = Result(script.file, script.name, script.line, PASSED)
        reason = self._skip(script)
        if reason is not None:
            result.status, result.skip_reason = SKIPPED, reason
            return result
        url = self.target.url or scenario.url
        in_process = None
        transport: Any
        if url is None:
            menu = script.menu or self.target.menu or _default_menu()
            in_process = self.apps.get(menu)
            transport = WSGITransport(in_process.app)
            url, token = IN_PROCESS_URL, in_process.token
            status_callback = scenario.status_callback or "/status"
            result.menu = menu
        else:
            transport = HTTPTransport()
            token = self.target.auth_token
            status_callback = scenario.status_callback
        caller = ScriptCaller(scenario)
        options: dict[str, Any] = {
            "method": scenario.method or "POST",
            "auth_token": token or None,
            "status_callback": status_callback,
            "on_event": caller.on_event,
        }
        for name, value in (
            ("from_number", _number(scenario.from_)),
            ("to_number", _number(scenario.to)),
            ("queue_position", scenario.queue_position),
            ("avg_queue_time", scenario.average_wait),
        ):
            if value is not None:
                options[name] = value
        try:
            with clock_at(scenario.at if in_process else None):
                record = Call(transport, url, caller, **options).run()
        finally:
            if isinstance(transport, HTTPTransport):
                transport.close()
        journey = journey_of(in_process.events.take(record.call_sid)) if in_process else []
        result.journey = journey
        result.call_sid = record.call_sid
        result.failures = check(script, record, caller, final_node(journey))
        result.status = FAILED if result.failures else PASSED
        result.outcome = record.outcome.summary() if record.outcome else None
        result.seconds = round(destination_seconds(record), 1)
        result.transcript = Transcript(record).lines
        result.notes = [*script.notes, *caller.notes, *record.warnings]
        result.duration = time.perf_counter() - started
        return result

    def run_safely(self, script: Script) -> Result:
        """:meth:`run`, with a crash in the runner itself reported as that scenario's failure."""
        try:
            return self.run(script)
        except Exception as exc:  # a bug of ours must not hide every other result
            return Result(
                script.file,
                script.name,
                script.line,
                FAILED,
                failures=[
                    Failure("the test runner", "to run the call", f"{type(exc).__name__}: {exc}")
                ],
            )


def _number(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return to_e164(value)
    except ValueError:
        return value  # client:alice, anonymous: as written


def _default_menu() -> str:
    return str(settings.load(dotenv=False)["IVR_MENU_FILE"])


# -- many scenarios ------------------------------------------------------------------------------


def default_jobs(target: Target, count: int) -> int:
    """How many calls at once by default: 8 threads against a URL; in-process one after
    another, because spawned workers cost more than they save at suite sizes (bench.scripts:
    200 scenarios in about 3 s in one process on a shared 2-CPU machine, slower with 2
    workers). ``-j N`` asks for N worker processes."""
    return min(8, max(1, count)) if target.url else 1


_WORKER: Runner | None = None


def _worker_init(target: Target) -> None:
    global _WORKER
    _WORKER = Runner(target)


def _worker_run(scripts: list[Script]) -> list[Result]:
    assert _WORKER is not None
    return [_WORKER.run_safely(s) for s in scripts]


def _chunks(items: list[Script], size: int) -> Iterator[list[Script]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_all(
    scripts: Iterable[Script],
    target: Target | None = None,
    *,
    jobs: int | None = None,
    on_result: Callable[[Result], None] | None = None,
    fail_fast: bool = False,
) -> list[Result]:
    """Run every scenario; results in the order given. ``on_result`` sees each as it ends."""
    target = target or Target()
    todo = list(scripts)
    jobs = jobs or default_jobs(target, len(todo))
    results: list[Result] = []

    def done(result: Result) -> bool:
        results.append(result)
        if on_result is not None:
            on_result(result)
        return fail_fast and result.status == FAILED

    if jobs <= 1 or len(todo) <= 1 or fail_fast:
        with Runner(target) as runner:
            for script in todo:
                if done(runner.run_safely(script)):
                    break
        return results
    executor: Executor
    if target.url:
        runner = Runner(target)
        executor = ThreadPoolExecutor(jobs)
        with executor:
            for result in executor.map(runner.run_safely, todo):
                done(result)
        runner.close()
        return results
    # In-process: worker processes, each with its own apps; spawned, so no thread is forked.
    size = max(1, len(todo) // (jobs * 4))
    executor = ProcessPoolExecutor(
        jobs, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(target,)
    )
    with executor:
        for batch in executor.map(_worker_run, _chunks(todo, size)):
            for result in batch:
                done(result)
    return results
