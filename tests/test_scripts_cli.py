"""``ivr test``, ``ivr call --record``, ``ivr graph --coverage`` and the pytest plugin."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

from bench import scripts as bench
from ivr.caller import Call, Input, ScriptedCaller, WSGITransport
from ivr.cli import cli
from ivr.scripts import Runner, Target, load_file, load_text
from ivr.scripts.record import script_from_record, script_text
from ivr.scripts.runner import IN_PROCESS_URL
from tests.test_scripts import AUTH, sample_ivr

ROOT = Path(__file__).resolve().parent.parent
MENU = str(ROOT / "menus.json")

GOOD = """\
calls:
  - name: report a crime
    steps: [{hear: "999"}, {hear: "report a crime"}, {press: "1"}]
    expect:
      queue: call-handlers
  - name: general enquiries
    steps: [{press: "4"}]
    expect:
      queue: general-enquiries
"""
WRONG = """\
name: wrong queue
steps: [{press: "1"}]
expect:
  queue: general-enquiries
"""
INVALID = """\
name: invalid
steps:
  - prss: "1"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def ivr(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["test", "--menu", MENU, *args])
    return result.exit_code, result.output


def test_all_pass_exits_0_with_one_line_per_scenario(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", GOOD)
    code, out = ivr(str(tmp_path))
    assert code == 0, out
    lines = out.splitlines()
    good = str(tmp_path / "good.yaml")
    assert lines[0].startswith(f"PASS  {good}::report a crime  (")
    assert lines[1].startswith(f"PASS  {good}::general enquiries  (")
    assert lines[-1].startswith("2 passed in ")


def test_a_failure_exits_1_and_names_file_scenario_expectation_and_what_was_heard(tmp_path):
    write(tmp_path, "good.yaml", GOOD)
    wrong = write(tmp_path, "wrong.yaml", WRONG)
    code, out = ivr(str(tmp_path))
    assert code == 1, out
    assert f"FAIL  {wrong}::wrong queue  (" in out
    report = out.split(f"FAIL  {wrong}::wrong queue (line 1)", 1)[1]
    assert "  expect.queue (line 4)\n" in report
    assert "    expected: enqueued in 'general-enquiries'\n" in report
    assert "    heard:    enqueued in 'call-handlers' (QueueResult=bridged)\n" in report
    assert "    transcript:\n" in report and "ENQUEUE in queue 'call-handlers'" in report
    assert out.rstrip().splitlines()[-1].startswith("2 passed, 1 failed in ")


def test_an_invalid_script_exits_2_located_and_the_rest_still_run(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", GOOD)
    bad = write(tmp_path, "invalid.yaml", INVALID)
    code, out = ivr(str(tmp_path))
    assert code == 2, out
    assert f"INVALID  {bad}: 1 problem(s)" in out
    assert "error: steps[0] (line 3, column 5): unknown step 'prss' (did you mean 'press'?)" in out
    assert "PASS" in out and "1 invalid file(s)" in out


def test_k_selects_by_name(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", GOOD)
    write(tmp_path, "wrong.yaml", WRONG)
    code, out = ivr(str(tmp_path), "-k", "crime and not wrong")
    assert code == 0, out
    assert "report a crime" in out and "general enquiries" not in out and "wrong" not in out
    code, out = ivr(str(tmp_path), "-k", "(enquiries or wrong)")
    assert code == 1 and "general enquiries" in out and "report a crime" not in out
    code, out = ivr(str(tmp_path), "-k", "nothing-matches")
    assert code == 2 and "no scenarios to run" in out
    code, out = ivr(str(tmp_path), "-k", "crime and")
    assert code == 2 and "-k" in out


def test_k_takes_a_plain_phrase_as_in_the_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """The help's own example, literally: a phrase of the scenario's name."""
    import shlex

    help_text = CliRunner().invoke(cli, ["test", "--help"]).output
    lines = [line.strip() for line in help_text.splitlines()]
    (example,) = [line for line in lines if line.startswith("ivr test") and " -k " in line]
    args = shlex.split(example)
    assert args[:2] == ["ivr", "test"]
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, args[1:])
    assert result.exit_code == 0, result.output
    assert "put through" in result.output and "2 passed" in result.output
    assert "Welsh" in result.output and "fails" not in result.output
    code, out = ivr(str(ROOT / "tests" / "calls"), "-k", "PUT   THROUGH, in Welsh")
    assert code == 0 and "1 passed" in out, out


def test_junit_xml_for_ci(tmp_path: Path) -> None:
    write(tmp_path, "suite/good.yaml", GOOD)
    write(tmp_path, "suite/wrong.yaml", WRONG)
    write(tmp_path, "suite/invalid.yaml", INVALID)
    out = tmp_path / "results.xml"
    code, _ = ivr(str(tmp_path / "suite"), "--junit", str(out))
    assert code == 2
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"report a crime", "general enquiries", "wrong queue", "(script)"}
    failure = cases["wrong queue"].find("failure")
    assert failure is not None
    assert (
        failure.get("message") == "expect.queue (line 4): expected enqueued in 'general-enquiries'"
    )
    assert "heard:    enqueued in 'call-handlers'" in (failure.text or "")
    assert cases["(script)"].find("error") is not None
    assert cases["report a crime"].find("failure") is None


def test_json_results(tmp_path: Path) -> None:
    write(tmp_path, "wrong.yaml", WRONG)
    write(tmp_path, "good.yaml", GOOD)
    code, out = ivr(str(tmp_path), "--json", "--coverage")
    assert code == 1
    data = json.loads(out)
    assert (data["passed"], data["failed"], data["invalid"]) == (2, 1, [])
    failed = next(r for r in data["results"] if r["status"] == "failed")
    assert failed["name"] == "wrong queue"
    assert failed["failures"][0]["what"] == "expect.queue (line 4)"
    assert data["coverage"]["covered"] < data["coverage"]["total"]
    assert {"node", "branch", "language", "target"} <= set(data["coverage"]["uncovered"][0])


def test_coverage_lists_what_is_uncovered_and_fail_under_fails_below(tmp_path: Path) -> None:
    write(
        tmp_path,
        "one.yaml",
        'steps: [{press: "1"}]\nexpect: {queue: call-handlers}\n',
    )
    code, out = ivr(str(tmp_path), "--coverage")
    assert code == 0, out
    head = next(line for line in out.splitlines() if line.startswith("coverage of "))
    covered, total = head.split(": ", 1)[1].split(" edges")[0].split("/")
    assert 0 < int(covered) < int(total)
    assert "uncovered (node, branch, language -> where it leads):" in out
    uncovered = out.split("where it leads):\n", 1)[1]
    assert "main" in uncovered and "cy-GB" in uncovered and "-> business_hours" in uncovered
    # The route taken is covered: main 1 in English is not in the list, in Welsh it is.
    listed = [line.split()[:4] for line in uncovered.splitlines()]
    assert ["main", "key", "1", "cy-GB"] in listed
    assert ["main", "key", "1", "en-GB"] not in listed
    code, out = ivr(str(tmp_path), "--fail-under", "100")
    assert code == 1
    assert "is under --fail-under 100%" in out
    # At or over what the one script covers, it passes (whatever the menu's edge count).
    under = f"{100 * int(covered) / int(total) - 0.05:.1f}"
    code, out = ivr(str(tmp_path), "--fail-under", under)
    assert code == 0, out


def test_the_shipped_suite_passes_with_full_coverage() -> None:
    code, out = ivr(str(ROOT / "tests" / "calls"), "--fail-under", "100")
    assert code == 0, out
    assert "(100.0%)" in out and "failed" not in out


@contextlib.contextmanager
def sample_ivr_served() -> Iterator[str]:
    """Twilio's sample IVR (a third-party TwiML app) on a loopback port: its voice URL."""
    server = make_server("127.0.0.1", 0, sample_ivr(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/ivr/welcome"
    finally:
        server.shutdown()
        server.server_close()


def test_url_and_auth_token_reach_a_running_app(tmp_path: Path) -> None:
    write(tmp_path, "sample.yaml", 'steps: [{press: "1"}]\nexpect: {message: "Phone Home"}\n')
    with sample_ivr_served() as url:
        code, out = ivr(str(tmp_path), "--url", url, "--auth-token", AUTH)
        assert code == 0, out
        code, out = ivr(str(tmp_path), "--url", url, "--auth-token", "wrong")
        assert code == 1 and "HTTP 403" in out


def test_a_run_where_every_scenario_was_skipped_says_so_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "clock.yaml", 'at: "2026-12-25T10:00"\nsteps: [{press: "1"}]\n')
    with sample_ivr_served() as url:
        code, out = ivr(str(tmp_path), "--url", url, "--auth-token", AUTH)
        assert code == 1, out
        assert "SKIP" in out and "no scenario ran" in out
        write(tmp_path, "sample.yaml", 'steps: [{press: "1"}]\nexpect: {message: "Phone Home"}\n')
        code, out = ivr(str(tmp_path), "--url", url, "--auth-token", AUTH)
        assert code == 0 and "1 passed, 1 skipped" in out, out
        own = f'url: {url}\nat: "2026-12-25T10:00"\nsteps: [{{press: "1"}}]\n'
        write(tmp_path, "own.yaml", own)
        code, out = ivr(str(tmp_path / "own.yaml"), "--auth-token", AUTH)
        assert code == 0 and out.count("note: at not applied") == 1, out


def test_the_shipped_suite_against_a_url_runs_what_it_can(tmp_path: Path) -> None:
    """The README's --url example, against this project's own app served over HTTP."""
    from ivr.scripts.app import EventLog, build_app

    app = build_app(MENU, EventLog(), AUTH, str(tmp_path / "journeys.db"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/voice"
    try:
        code, out = ivr(str(ROOT / "tests" / "calls"), "--url", url, "--auth-token", AUTH)
    finally:
        server.shutdown()
        server.server_close()
    assert "PASS" in out and "SKIP" in out and "no scenario ran" not in out, out
    assert "FAIL" not in out, out
    assert code == 0, out


def test_schema_option_writes_the_committed_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    code, text = ivr("--schema", str(out))
    assert code == 0, text
    assert out.read_text(encoding="utf-8") == (ROOT / "callscript.schema.json").read_text(
        encoding="utf-8"
    )


# -- recording and generating -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--press", "9", "--press", "3", "--press", "1", "--press", "1", "--dial-status", "busy"],
        ["--press", "4", "--queue-full"],
        ["--say", "report a crime", "--waits", "2", "--queue-hangup"],
        ["--press", "3", "--press", "1", "--press", "1"],
    ],
)
def test_a_recorded_call_replays_green(tmp_path: Path, args: list[str]) -> None:
    file = tmp_path / "recorded.yaml"
    result = CliRunner().invoke(cli, ["call", "--menu", MENU, *args, "--record", str(file)])
    assert result.exit_code == 0, result.output
    text = file.read_text(encoding="utf-8")
    assert "expect:" in text and "steps:" in text
    code, out = ivr(str(file))
    assert code == 0, out + text


def _queue_results() -> list[str]:
    """Every choice `ivr call --queue-result` offers, read from the command itself."""
    from ivr.cli.call import call

    (option,) = (p for p in call.params if p.name == "queue_result")
    return list(option.type.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("queue_result", _queue_results())
def test_every_queue_result_records_and_replays_as_itself(tmp_path: Path, queue_result: str):
    file = tmp_path / "k.yaml"
    args = ["call", "--menu", MENU, "--press", "1", "--queue-result", queue_result]
    result = CliRunner().invoke(cli, [*args, "--record", str(file), "--json"])
    assert result.exit_code == 0, result.output
    code, out = ivr(str(file), "--json")
    assert code == 0, out + file.read_text(encoding="utf-8")
    # The replay met the same QueueResult as the recorded call.
    word = yaml.safe_load(file.read_text(encoding="utf-8"))["queue"]
    assert word == {"bridged": "answer", "queue-full": "full"}.get(queue_result, queue_result)
    (script,) = load_file(file)
    with Runner(Target(menu=MENU)) as runner:
        replay = runner.run(script)
    assert f"queue result: {queue_result}\n" in "\n".join(replay.transcript) + "\n"


def test_record_and_junit_create_the_folders_they_write_into(tmp_path: Path) -> None:
    recorded = tmp_path / "nodir" / "sub" / "x.yaml"
    result = CliRunner().invoke(
        cli, ["call", "--menu", MENU, "--press", "1", "--record", str(recorded)]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and recorded.is_file()
    report = tmp_path / "nodir2" / "j.xml"
    code, out = ivr(str(recorded), "--junit", str(report))
    assert code == 0, out
    assert len(list(ET.parse(report).getroot().iter("testcase"))) == 1


def _schema_line_resolves(file: Path) -> bool:
    first = file.read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("# yaml-language-server: $schema="):
        return True  # no schema named: nothing to point at a missing file
    return (file.parent / first.split("=", 1)[1]).is_file()


def test_a_recording_names_a_schema_only_where_one_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no callscript.schema.json here or above
    lone = elsewhere / "calls" / "lone.yaml"
    CliRunner().invoke(cli, ["call", "--menu", MENU, "--press", "1", "--record", str(lone)])
    assert "$schema" not in lone.read_text(encoding="utf-8")
    assert load_file(lone)  # still a script
    monkeypatch.chdir(ROOT)  # the schema is here: named relative to the recording
    beside = tmp_path / "beside.yaml"
    CliRunner().invoke(cli, ["call", "--menu", MENU, "--press", "1", "--record", str(beside)])
    assert "$schema" in beside.read_text(encoding="utf-8") and _schema_line_resolves(beside)


def test_a_recording_expects_what_happened(tmp_path: Path) -> None:
    file = tmp_path / "fraud.yaml"
    args = ["--press", "3", "--press", "1", "--press", "1"]
    CliRunner().invoke(cli, ["call", "--menu", MENU, *args, "--record", str(file)])
    (script,) = load_file(file)
    assert script.name == "fraud"
    assert script.scenario.expect.transfer == "+443001232040"
    assert [s.press for s in script.scenario.steps] == ["3", "1", "1"]
    assert script.scenario.at is not None  # the clock as it was, so hours route the same
    # A menu edit that breaks the route makes the recording fail.
    data = json.loads(Path(MENU).read_text(encoding="utf-8"))
    data["nodes"]["transfer_report_fraud"]["number"] = "+443001230000"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", "--menu", str(edited), str(file)])
    assert result.exit_code == 0, result.output  # it names its own menu: --menu is for others
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    data["menu"] = str(edited)
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["test", str(file)])
    assert result.exit_code == 1, result.output
    assert "expect.transfer" in result.output


def test_generate_writes_a_suite_that_passes(tmp_path: Path) -> None:
    folder = tmp_path / "generated"
    code, out = ivr("--generate", str(folder))
    assert code == 0, out
    files = sorted(p.name for p in folder.glob("*.yaml"))
    assert "crime_queue.yaml" in files and "transfer_report_fraud.yaml" in files
    assert "callback_goodbye.yaml" in files and "not generated" not in out
    code, out = ivr(str(folder), "--coverage")
    assert code == 0, out
    uncovered = [line.split() for line in out.splitlines() if "-> callback_goodbye" in line]
    assert not [u for u in uncovered if u[:2] == ["crime_queue", "leave"]], out
    # One per destination in every language.
    assert out.count("(en-GB)") == out.count("(cy-GB)") == len(files)


def test_graph_coverage_marks_untaken_edges_red(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", 'steps: [{press: "1"}]\n')
    result = CliRunner().invoke(cli, ["graph", MENU, "--coverage", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("---\ntitle: coverage ")
    assert '|"1<br/>not taken: cy-GB"| n_crime_queue' in text
    assert '|"2<br/>not taken: en-GB, cy-GB"| n_business_hours' in text
    (style,) = [line for line in text.splitlines() if line.strip().startswith("linkStyle")]
    assert "stroke:#dc2626" in style
    dot = (
        CliRunner()
        .invoke(cli, ["graph", MENU, "--format", "dot", "--coverage", str(tmp_path)])
        .output
    )
    assert '"main" -> "business_hours" [label="2\\nnot taken: en-GB, cy-GB"' in dot
    assert 'color="#dc2626"' in dot
    full = CliRunner().invoke(cli, ["graph", MENU, "--coverage", str(ROOT / "tests" / "calls")])
    assert "<br/>not taken" not in full.output and "linkStyle" not in full.output


# -- the pytest plugin -------------------------------------------------------------------------


def pytest_run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(folder), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_pytest_collects_each_scenario_with_the_same_failure_message(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    write(calls, "good.yaml", GOOD)
    write(calls, "wrong.yaml", WRONG)
    write(tmp_path, ".github/workflows/ci.yml", "on: push\njobs: {t: {steps: [{run: x}]}}\n")
    write(tmp_path, "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    done = pytest_run(tmp_path, f"--call-menu={MENU}", "-v")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "ci.yml" not in out and "docker-compose" not in out
    assert "calls/good.yaml::report a crime PASSED" in out
    assert "calls/good.yaml::general enquiries PASSED" in out
    assert "calls/wrong.yaml::wrong queue FAILED" in out
    assert "expect.queue (line 4)" in out
    assert "expected: enqueued in 'general-enquiries'" in out
    assert "2 passed" in out and "1 failed" in out


def test_pytest_k_x_and_junitxml(tmp_path: Path) -> None:
    write(tmp_path, "calls/good.yaml", GOOD)
    write(tmp_path, "calls/wrong.yaml", WRONG)
    done = pytest_run(tmp_path, f"--call-menu={MENU}", "-k", "enquiries", "-q")
    assert done.returncode == 0 and "1 passed, 2 deselected" in done.stdout, done.stdout
    done = pytest_run(
        tmp_path, f"--call-menu={MENU}", "-x", "-q", "calls/wrong.yaml", "calls/good.yaml"
    )
    assert done.returncode == 1 and "1 failed" in done.stdout and "passed" not in done.stdout
    xml = tmp_path / "junit.xml"
    pytest_run(tmp_path, f"--call-menu={MENU}", f"--junitxml={xml}")
    root = ET.parse(xml).getroot()
    cases = {case.get("name") for case in root.iter("testcase")}
    assert cases == {"report a crime", "general enquiries", "wrong queue"}


def test_pytest_collects_a_script_named_on_the_command_line_anywhere(tmp_path: Path) -> None:
    write(tmp_path, "anything.yaml", GOOD)
    done = pytest_run(tmp_path, f"--call-menu={MENU}", "anything.yaml", "-q")
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr


def test_pytest_collects_a_call_script_in_any_folder_it_looks_in(tmp_path: Path) -> None:
    """Not only in a folder named ``calls``: ``python -m pytest thatdir``."""
    folder = tmp_path / "thatdir"
    write(folder, "mycall.yaml", GOOD)
    write(folder, "nested/OTHER.YAML", WRONG.replace("general-enquiries", "call-handlers"))
    write(folder, "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    done = pytest_run(tmp_path, f"--call-menu={MENU}", "thatdir", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "thatdir/mycall.yaml::report a crime PASSED" in done.stdout
    assert "thatdir/nested/OTHER.YAML::wrong queue PASSED" in done.stdout
    assert "3 passed" in done.stdout


def test_ivr_test_takes_the_same_files_from_a_folder_as_pytest(tmp_path: Path) -> None:
    write(tmp_path, "mycall.yaml", GOOD)
    write(tmp_path, "nested/OTHER.YAML", WRONG.replace("general-enquiries", "call-handlers"))
    write(tmp_path, "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    write(tmp_path, "ci.yml", "on: push\njobs: {t: {steps: [{run: x}]}}\n")
    code, out = ivr(str(tmp_path))
    assert code == 0, out
    assert "OTHER.YAML::wrong queue" in out and "3 passed" in out
    assert "docker-compose" not in out and "ci.yml" not in out


def test_pytest_reports_an_invalid_script_as_a_located_collection_error(tmp_path: Path) -> None:
    write(tmp_path, "calls/invalid.yaml", INVALID)
    done = pytest_run(tmp_path, f"--call-menu={MENU}", "-q")
    assert done.returncode == 2, done.stdout
    assert "steps[0] (line 3, column 5): unknown step 'prss'" in done.stdout


def test_the_benchmark_runs_the_shipped_suite_three_ways() -> None:
    chosen = bench.suite(7)
    assert len(chosen) == 7 and len({s.id for s in chosen}) == 7
    assert bench.sequential(chosen) > 0 and bench.threads(chosen, 2) > 0


def test_a_call_made_from_python_becomes_a_script_that_replays_green() -> None:
    """What the softphone's download needs: a finished call's record as script text."""
    with Runner(Target(menu=MENU)) as runner:
        app = runner.apps.get(MENU)
        caller = ScriptedCaller([Input.press("9"), Input.press("3"), Input.press("4")])
        record = Call(WSGITransport(app.app), IN_PROCESS_URL, caller, auth_token=app.token).run()
        text = script_text(script_from_record(record, name="from the softphone"))
        assert text.startswith("# yaml-language-server: $schema=callscript.schema.json\n")
        (script,) = load_text(text, "softphone.yaml", ROOT)
        assert script.scenario.expect.queue == "call-handlers"
        assert script.scenario.expect.language == "cy-GB"
        result = runner.run(script)
    assert result.passed, result.message()
