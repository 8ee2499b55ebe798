"""Call scripts: reading them (located problems), playing their steps, checking expectations."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from flask import Flask, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from ivr.scripts import Runner, ScriptError, Target, load_text
from ivr.scripts.caller import normalise
from ivr.scripts.loader import is_call_script
from ivr.scripts.model import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parent.parent
MENU = str(ROOT / "menus.json")


def load(text: str, source: str = "t.yaml", folder: Path = ROOT) -> list:
    return load_text(textwrap.dedent(text), source, folder)


def problems(text: str) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        load(text)
    return [str(p) for p in caught.value.problems]


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    with Runner(Target(menu=MENU)) as r:
        yield r


def run(runner: Runner, text: str):
    (script,) = load(text)
    return runner.run(script)


# -- reading scripts ---------------------------------------------------------------------------


def test_the_issue_example_reads_with_every_field() -> None:
    (script,) = load(
        """
        name: Report a crime reaches the call handlers
        from: "+447700900123"
        at: "2026-11-30T09:00"
        queue: answer
        dial: completed
        steps:
          - hear: "report a crime"
          - press: "1"
          - say: "report a crime"
          - silence: true
          - hangup: true
        expect:
          queue: call-handlers
          transfer: "+443001232040"
          message: "Goodbye"
          hangup: true
          language: cy-GB
          max_seconds: 60
        """
    )
    s = script.scenario
    assert script.name == "Report a crime reaches the call handlers"
    assert s.from_ == "+447700900123"
    assert s.at.isoformat() == "2026-11-30T09:00:00+00:00"  # GMT in November
    assert s.queue == ["answer"] and s.dial == ["completed"]
    assert [type(step).__name__ for step in s.steps] == [
        "Hear",
        "Press",
        "Say",
        "Silence",
        "Hangup",
    ]
    assert s.expect.max_seconds == 60.0 and s.expect.hangup is True
    assert script.step_lines == (8, 9, 10, 11, 12)
    assert script.expect_lines["queue"] == 14


def test_values_keep_their_text_whatever_yaml_1_1_would_make_of_them() -> None:
    (script,) = load(
        """
        from: +447700900123
        at: 2026-07-01T09:00
        steps:
          - press: 012
          - say: no
          - press: 1
        """
    )
    s = script.scenario
    assert s.from_ == "+447700900123"  # not the integer 447700900123
    assert s.at.utcoffset().total_seconds() == 3600  # BST: Europe/London in July
    assert [getattr(step, "press", getattr(step, "say", None)) for step in s.steps] == [
        "012",  # not 10 (YAML 1.1 octal)
        "no",  # not False
        "1",
    ]


def test_a_list_of_calls_shares_the_settings_beside_it() -> None:
    scripts = load(
        """
        at: "2026-12-25T10:00"
        queue: full
        calls:
          - name: one
            steps: [{press: "1"}]
          - name: two
            queue: [error, answer]
            steps: [{press: "2"}]
        """
    )
    assert [s.name for s in scripts] == ["one", "two"]
    assert scripts[0].scenario.queue == ["full"]
    assert scripts[1].scenario.queue == ["error", "answer"]
    assert scripts[0].scenario.at == scripts[1].scenario.at
    assert scripts[1].line == 7


def test_a_scenario_without_a_name_is_named_after_its_file() -> None:
    (script,) = load("steps: [{press: '1'}]", source="calls/report-crime.yaml")
    assert script.name == "report-crime"
    assert script.id == "calls/report-crime.yaml::report-crime"


def test_every_problem_is_located_by_line_and_column() -> None:
    found = problems(
        """
        name: bad
        queue: fulll
        steps:
          - press: "1a"
          - prss: 1
          - press: 1
            hear: x
          - silence
          - hear_re: "(unclosed"
        expect:
          queu: x
          max_seconds: soon
        """
    )
    assert found == [
        "queue (line 3, column 8): 'fulll' is not one of: answer, full, hangup, error, "
        "system-error, redirected, redirected-from-bridged or bridging-in-process "
        "(did you mean 'full'?)",
        "steps[0].press (line 5, column 12): '1a': keys are 0-9, * and #",
        "steps[1] (line 6, column 5): unknown step 'prss' (did you mean 'press'?); a step is "
        "one of: press, say, silence, hangup, hear, hear_re, not_hear",
        "steps[2] (line 7, column 5): one thing per step: this one has press and hear",
        "steps[3] (line 9, column 5): write 'silence: true'",
        "steps[4].hear_re (line 10, column 14): not a regular expression: missing ), "
        "unterminated subpattern at position 0",
        "expect.queu (line 12, column 3): unknown field 'queu' (did you mean 'queue'?)",
        "expect.max_seconds (line 13, column 16): Input should be a valid number, unable to "
        "parse string as a number",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps:\n  - press: '1\n", "(top level) (line 4, column 1): YAML: while "),
        ("name: a\nname: b\n", "name (line 2, column 1): 'name' is given twice"),
        ("- press: 1\n", "(top level) (line 1, column 1): a call script is a mapping"),
        ("calls: []\n", "calls (line 1, column 8): calls is a list of one or more calls"),
        (
            "calls:\n  - name: same\n  - name: same\n",
            "name (line 3): another call in this file is named 'same'",
        ),
        ("menu: nowhere.json\n", "menu (line 1, column 7): no menu file"),
        (
            "url: http://127.0.0.1:9/voice\nexpect: {node: main}\n",
            "expect (line 2, column 9): expect.node needs the in-process app",
        ),
        ("at: tomorrow\n", "at (line 1, column 5): 'tomorrow' is not a date and time"),
        ("steps:\n  - hear: 1\n    barge_in: true\n", "barge_in goes with a press or say step"),
        ("expect:\n  outcome: queued\n", "'queued' is not one of: enqueued, dialled"),
        ("", "the file holds no call"),
    ],
)
def test_more_problems(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text)), problems(text)


def test_a_menu_that_is_not_valid_is_a_problem_of_the_script(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"start": "main", "nodes": {}}', encoding="utf-8")
    with pytest.raises(ScriptError) as caught:
        load_text("menu: broken.json\n", "t.yaml", tmp_path)
    (problem,) = caught.value.problems
    assert problem.line == 1 and "the menu" in problem.message and "is not valid" in problem.message


def test_a_menu_is_found_beside_the_script_or_else_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "menu.json").write_text(Path(MENU).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (script,) = load_text("menu: menu.json\n", "s.yaml", tmp_path / "scripts")
    assert script.menu == str(tmp_path / "menu.json")
    beside = tmp_path / "scripts" / "menu.json"
    beside.write_text(Path(MENU).read_text(encoding="utf-8"), encoding="utf-8")
    (script,) = load_text("menu: menu.json\n", "s.yaml", tmp_path / "scripts")
    assert script.menu == str(beside)


CI_CONFIG = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
COMPOSE = "services:\n  web:\n    image: nginx\n"
AZURE = "trigger: [main]\npool: {vmImage: ubuntu-latest}\nsteps:\n  - script: make test\n"


@pytest.mark.parametrize(
    ("name", "text", "collected"),
    [
        ("mycall.yaml", "name: x\nsteps: [{press: '1'}]\n", True),
        ("suite.yml", "calls:\n  - steps: [{press: '1'}]\n", True),
        ("UPPER.YAML", "steps:\n  - press: '1'\n", True),
        ("typo.yaml", "steps: [{press: '1'}]\nexpct: {queue: x}\n", True),
        ("broken.yaml", "steps:\n  - press: '1'\n  bad: [\n", True),
        ("schema.yaml", "$schema: ../callscript.schema.json\n", True),
        ("editor.yaml", "# yaml-language-server: $schema=callscript.schema.json\n{}\n", True),
        ("report.call.yaml", "not: a script yet\n", True),
        ("ci.yml", CI_CONFIG, False),
        ("docker-compose.yml", COMPOSE, False),
        ("azure-pipelines.yml", AZURE, False),
        ("list.yaml", "- steps: []\n", False),
        ("menu.json", '{"steps": []}', False),
    ],
)
def test_a_call_script_is_known_by_its_content_wherever_it_is(
    tmp_path: Path, name: str, text: str, collected: bool
) -> None:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    assert is_call_script(file) is collected


# -- the schema for editors ----------------------------------------------------------------------


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (ROOT / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "callscript.schema.json is stale: run `ivr test --schema`"


def test_the_schema_accepts_the_shipped_suite_and_refuses_what_an_editor_should() -> None:
    schema = json.loads((ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((ROOT / "tests" / "calls").glob("*.yaml"))
    assert files
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=../../callscript.schema.json")
        validator.validate(yaml.safe_load(text))
    for bad in (
        {"steps": [{"prss": "1"}]},
        {"steps": [{"press": "1x"}]},
        {"queue": "fulll"},
        {"expect": {"queu": "x"}},
        {"calls": [{"name": "x"}], "steps": []},
    ):
        assert not validator.is_valid(bad), bad


# -- hearing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "phrase", "heard"),
    [
        ("or on 0 3 0 0, 1 2 3, 2 0 4 0.", "0300 123 2040", True),
        ("dial 9 9 9", "999", True),
        ("Report Fraud, formerly Action Fraud", "report fraud", True),
        ("Rhowch y ffôn i lawr", "RHOWCH Y FFÔN", True),
        ("We\u2019re sorry", "we're sorry", True),
        ("press 1, 2 or 3", "press 2", False),
        ("report a crime", "report a burglary", False),
    ],
)
def test_hear_compares_words_and_digits_however_grouped(said: str, phrase: str, heard: bool):
    assert (normalise(phrase) in normalise(said)) is heard


def test_a_hear_waits_silently_through_prompts_until_the_words_come(runner: Runner) -> None:
    result = run(
        runner,
        """
        steps:
          - hear: "did not hear a choice"
          - press: "1"
        expect:
          queue: call-handlers
        """,
    )
    assert result.passed, result.message()
    # The words come only after a silence: the caller waited through the menu in silence.
    assert "> caller stays silent" in result.transcript
    assert result.transcript.index("> caller stays silent") < result.transcript.index(
        "> caller presses 1"
    )


def test_a_hear_that_never_comes_names_the_step_and_shows_what_was_heard(runner: Runner):
    result = run(
        runner,
        """
        name: burglary
        steps:
          - press: "9"
          - hear: "report a burglary"
          - press: "1"
        """,
    )
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.what == "step 2 (line 5): hear: 'report a burglary'"
    assert failure.expected == "to hear 'report a burglary' after the previous step"
    assert failure.heard.startswith("not heard before the call ended (enqueued in")
    assert "the caller stayed silent at 3 prompt(s) waiting for it" in failure.heard
    assert any("general-enquiries" in line for line in failure.context)
    assert "t.yaml::burglary (line 2)" in result.message()


def test_hear_only_looks_after_the_previous_step(runner: Runner) -> None:
    result = run(
        runner,
        """
        steps:
          - press: "9"
          - hear: "report a crime"
        """,
    )
    # "To report a crime" was said before the caller pressed 9, never after (in Welsh).
    assert result.status == "failed"
    assert result.failures[0].what.startswith("step 2 (line 4): hear")


def test_hear_re_and_two_hears_in_one_sentence_in_order(runner: Runner) -> None:
    # A full queue ends the call with one sentence: "... Please try again later, or report
    # online on our website. If it is an emergency, dial 999. Goodbye."
    ok = run(
        runner,
        """
        queue: full
        steps:
          - press: "1"
          - hear_re: "if it is an emergency, dial 9{3}"
          - hear: "try again later"
          - hear: "999"
        expect:
          hangup: true
        """,
    )
    assert ok.passed, ok.message()
    backwards = run(
        runner,
        """
        queue: full
        steps:
          - press: "1"
          - hear: "999"
          - hear: "try again later"
        """,
    )
    # "try again later" comes before "999" in that sentence, and nothing is said after it,
    # so the second hear waits in vain.
    assert backwards.status == "failed"
    assert backwards.failures[0].what.startswith("step 3")


def test_not_hear_watches_until_the_next_input_step(runner: Runner) -> None:
    welsh = """
        steps:
          - press: "9"
          - not_hear: "{phrase}"
          - press: "1"
        """
    passed = run(runner, welsh.format(phrase="report a crime"))
    assert passed.passed, passed.message()
    failed = run(runner, welsh.format(phrase="pwyswch 1"))
    assert failed.status == "failed"
    failure = failed.failures[0]
    assert failure.what == "step 2 (line 4): not_hear: 'pwyswch 1'"
    assert failure.expected == "not to hear 'pwyswch 1'"
    assert "pwyswch 1" in failure.heard
    assert any(line.endswith("<-- here") for line in failure.context)


def test_an_input_step_the_call_never_reached_fails(runner: Runner) -> None:
    result = run(
        runner,
        """
        steps:
          - press: "1"
          - press: "5"
        """,
    )
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.what == "step 2 (line 4): press: '5'"
    assert "the call ended first (enqueued in 'call-handlers'" in failure.heard


# -- expectations ------------------------------------------------------------------------------


FRAUD = """
    dial: {dial}
    steps:
      - press: "3"
      - press: "1"
      - press: "1"
    expect:
      {expect}
"""


@pytest.mark.parametrize(
    ("dial", "expect", "passes"),
    [
        ("completed", "transfer: '0300 123 2040'", True),
        ("completed", "transfer: '+443001232040'", True),
        ("completed", "transfer: '0300 123 9999'", False),
        ("completed", "outcome: dialled", True),
        ("completed", "hangup: false", False),  # the app hangs up after it
        ("busy", "message: 'Goodbye'", True),
        ("busy", "message: 'Report Fraud'", True),
        ("busy", "message: 'call handler'", False),
        ("busy", "hangup: true", True),
        ("busy", "hangup: false", False),
        ("busy", "node: report_fraud_goodbye", True),
        ("busy", "language: en-GB", True),
        ("busy", "language: cy-GB", False),
        ("busy", "not_heard: 'application error'", True),
        ("busy", "not_heard: [putting you through]", False),
        ("completed", "max_seconds: 120", True),
        ("completed", "max_seconds: 30", False),
    ],
)
def test_each_expectation_holds_or_fails(runner: Runner, dial: str, expect: str, passes: bool):
    result = run(runner, FRAUD.format(dial=dial, expect=expect))
    assert result.passed is passes, result.message()
    if not passes:
        name = expect.split(":")[0]
        assert result.failures[0].what == f"expect.{name} (line 8)"


def test_a_wrong_queue_names_the_expectation_and_what_happened(runner: Runner) -> None:
    result = run(
        runner,
        """
        steps: [{press: "1"}]
        expect:
          queue: general-enquiries
        """,
    )
    (failure,) = result.failures
    assert failure.what == "expect.queue (line 4)"
    assert failure.expected == "enqueued in 'general-enquiries'"
    assert failure.heard == "enqueued in 'call-handlers' (QueueResult=bridged)"


def test_a_wrong_transfer_names_the_number_dialled_once(runner: Runner) -> None:
    result = run(
        runner,
        """
        steps: [{press: "3"}, {press: "1"}, {press: "1"}]
        expect:
          transfer: "+441234567890"
        """,
    )
    (failure,) = result.failures
    assert failure.expected == "dialled +441234567890"
    assert failure.heard == "dialled +443001232040 (DialCallStatus=completed)"
    # The transfer failing: the number, then where the call ended.
    result = run(
        runner,
        """
        dial: busy
        steps: [{press: "3"}, {press: "1"}, {press: "1"}]
        expect:
          transfer: "+441234567890"
        """,
    )
    (failure,) = result.failures
    assert failure.heard.startswith("dialled +443001232040; ")
    assert failure.heard.count("+443001232040") == 1


def test_max_seconds_is_the_time_to_the_destination_not_the_handler_conversation(runner):
    result = run(
        runner,
        """
        steps: [{press: "1"}]
        expect:
          queue: call-handlers
          max_seconds: 60
        """,
    )
    assert result.passed, result.message()
    # The seconds are the moment the call was queued; the call itself went on for longer.
    (queued,) = [line for line in result.transcript if "ENQUEUE in queue 'call-handlers'" in line]
    assert result.seconds is not None and queued.endswith(f"(at {result.seconds:g}s)")
    (status,) = [line for line in result.transcript if "CallDuration=" in line]
    assert int(status.split("CallDuration=")[1].split("s")[0]) > 60


def test_queue_and_dial_lists_apply_in_turn(runner: Runner) -> None:
    result = run(
        runner,
        """
        at: "2026-11-30T09:00"
        queue: [full, answer]
        steps: [{press: "2"}]
        expect:
          queue: call-handlers
          queue_result: bridged
        """,
    )
    assert result.passed, result.message()
    assert "  queue result: queue-full" in result.transcript


def test_at_is_the_apps_clock_for_that_call_only(runner: Runner) -> None:
    template = """
        at: "{at}"
        steps: [{{press: "2"}}]
        expect:
          queue: {queue}
        """
    monday = run(runner, template.format(at="2026-11-30T09:00", queue="business-crime"))
    christmas = run(runner, template.format(at="2026-12-25T09:00", queue="general-enquiries"))
    assert monday.passed and christmas.passed, (monday.message(), christmas.message())
    assert any("Christmas Day" in line for line in christmas.transcript)


def test_the_in_process_app_signs_and_checks_every_request(runner: Runner) -> None:
    from ivr.scripts.runner import IN_PROCESS_URL

    app = runner.apps.get(MENU)
    client = app.app.test_client()
    assert client.post("/voice", data={"CallSid": "CA1"}).status_code == 403
    signature = RequestValidator(app.token).compute_signature(IN_PROCESS_URL, {"CallSid": "CA1"})
    signed = client.post(
        "/voice", data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": signature}
    )
    assert signed.status_code == 200


# -- any TwiML app over HTTP --------------------------------------------------------------------

AUTH = "sample-token-0123456789"


def sample_ivr() -> Flask:
    """Twilio's ivr-phone-tree sample (TwilioDevEd/ivr-phone-tree-python), ported to Python 3,
    with a signature check like any production app."""
    app = Flask("sample-ivr")

    @app.before_request
    def signed():
        query = request.query_string.decode()
        url = request.base_url + ("?" + query if query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(AUTH).validate(url, request.form, signature):
            return "forbidden", 403
        return None

    def twiml(response: VoiceResponse):
        return str(response), 200, {"Content-Type": "text/xml"}

    @app.post("/ivr/welcome")
    def welcome():
        r = VoiceResponse()
        with r.gather(num_digits=1, action="/ivr/menu", method="POST") as g:
            g.play(url="http://howtodocs.s3.amazonaws.com/et-phone.mp3", loop=3)
        return twiml(r)

    @app.post("/ivr/menu")
    def menu():
        digits = request.form.get("Digits")
        r = VoiceResponse()
        if digits == "1":
            r.say("To get to your extraction point, get on your bike and go down the street.")
            r.say("Thank you for calling the ET Phone Home Service.")
            r.hangup()
        elif digits == "2":
            with r.gather(num_digits=1, action="/ivr/planets", method="POST") as g:
                g.say("To call the planet Broh doe As O G, press 2. To go back, press star.")
        else:
            r.say("Returning to the main menu")
            r.redirect("/ivr/welcome")
        return twiml(r)

    @app.post("/ivr/planets")
    def planets():
        numbers = {"2": "+12024173378", "3": "+12027336386"}
        digits = request.form.get("Digits", "")
        r = VoiceResponse()
        if digits in numbers:
            r.dial(numbers[digits])
        else:
            r.say("Returning to the main menu")
            r.redirect("/ivr/welcome")
        return twiml(r)

    return app


@pytest.fixture(scope="module")
def sample_url() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, sample_ivr(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ivr/welcome"
    server.shutdown()
    server.server_close()


def test_scripts_run_against_any_twiml_app_over_http(sample_url: str) -> None:
    scripts = load(
        """
        calls:
          - name: instructions
            steps:
              - hear: "et-phone.mp3"
              - press: "1"
              - hear: "extraction point"
            expect:
              hangup: true
              message: "ET Phone Home"
              language: en-US  # Twilio's default for a <Say> without one
          - name: a planet
            steps: [{press: "2"}, {hear: "planet"}, {press: "2"}]
            expect:
              transfer: "+1 202-417-3378"
              outcome: dialled
          - name: wrong
            steps: [{press: "2"}, {press: "3"}]
            expect:
              transfer: "+12024173378"
        """
    )
    with Runner(Target(url=sample_url, auth_token=AUTH)) as runner:
        results = [runner.run(s) for s in scripts]
    assert [r.status for r in results] == ["passed", "passed", "failed"], [
        r.message() for r in results
    ]
    assert results[2].failures[0].what == "expect.transfer (line 20)"
    assert "dialled +12027336386" in results[2].failures[0].heard
    assert results[0].journey == []  # a foreign app: no journey events, no coverage


def test_a_foreign_app_refusing_the_signature_is_an_application_error(sample_url: str) -> None:
    (script,) = load("steps: [{press: '1'}]\n")
    with Runner(Target(url=sample_url, auth_token="wrong")) as runner:
        result = runner.run(script)
    assert result.status == "failed"
    assert result.failures[0].what == "the app"
    assert "403" in result.failures[0].heard


def test_in_process_only_scenarios_are_skipped_against_a_url(sample_url: str) -> None:
    (script,) = load("at: '2026-12-25T10:00'\nsteps: [{press: '1'}]\n")
    with Runner(Target(url=sample_url, auth_token=AUTH)) as runner:
        result = runner.run(script)
    assert result.status == "skipped"
    assert "clock" in (result.skip_reason or "")


def test_a_script_with_its_own_url_at_and_menu_runs_with_one_note(sample_url: str) -> None:
    """Issue 13's own example names url, at and menu together: it is valid, and it runs against
    the url, saying once that the in-process settings were not applied."""
    (script,) = load(
        f"""
        name: a planet
        at: "2026-11-30T09:00"
        url: {sample_url}
        menu: menus.json
        steps: [{{press: "2"}}, {{press: "2"}}]
        expect: {{transfer: "+12024173378"}}
        """
    )
    with Runner(Target(auth_token=AUTH)) as runner:
        result = runner.run(script)
    assert result.passed, result.message()
    notes = [n for n in result.notes if "not applied" in n]
    assert len(notes) == 1, result.notes
    assert "at" in notes[0] and "menu" in notes[0] and sample_url in notes[0]


def test_the_issue_example_script_is_valid() -> None:
    (script,) = load(ISSUE_EXAMPLE)
    assert script.scenario.url == "http://127.0.0.1:5000/voice"
    assert script.menu is None  # not loaded: the call goes to the url


ISSUE_EXAMPLE = """
    name: Report a crime reaches the call handlers
    from: "+447700900123"          # optional caller ID
    at: "2026-11-30T09:00"         # optional clock (Europe/London unless an offset is given)
    url: http://127.0.0.1:5000/voice   # optional: any TwiML app
    menu: menus.json               # optional menu file for the in-process app
    queue: answer                  # what a queue does: answer | full | hangup | error
    dial: completed                # what a <Dial> gets: completed | busy | no-answer | failed
    steps:
      - hear: "report a crime"     # a later spoken text contains this (case-insensitive)
      - press: "1"
      - say: "report a crime"      # speech
      - silence: true
      - hangup: true
    expect:                        # all that are given must hold at the end of the call
      queue: call-handlers         # enqueued in this queue
      transfer: "+443001232040"    # or: dialled this number (any UK/E.164 form)
      message: "Goodbye"           # or: the last words heard contain this
      hangup: true                 # or: the app ended the call
      language: cy-GB              # the last prompt's language
      max_seconds: 60              # simulated time to the end
"""


# -- barge-in (the simulator's, issue 15) ----------------------------------------------------------

BARGE = """
    calls:
      - name: barging in
        barge_in: true
        steps: [{hear: "999"}, {press: "1"}]
        expect: {queue: call-handlers}
      - name: waiting for each prompt to end
        steps: [{press: "1"}]
        expect: {queue: call-handlers}
"""


def test_barge_in_reaches_the_queue_sooner(runner: Runner) -> None:
    barged, waited = (runner.run(s) for s in load(BARGE))
    assert barged.passed and waited.passed, (barged.message(), waited.message())
    assert barged.seconds < waited.seconds
    assert not barged.notes
