from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from conftest import MENU, minimal_menu, write_menu

from ivr.cli import cli


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix}{name} "))
    return found


@pytest.mark.parametrize("name,command", commands(cli), ids=lambda v: str(v))
def test_every_command_has_help(name, command):
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert command.help and len(command.help.strip()) > 20


def test_validate_the_101_menu():
    result = CliRunner().invoke(cli, ["validate", str(MENU)])
    assert result.exit_code == 0
    assert "OK" in result.output and "start 'main'" in result.output


def test_validate_exits_1_with_located_errors(tmp_path):
    data = minimal_menu()
    data["nodes"]["main"]["options"][0]["goto"] = "nowhere"
    result = CliRunner().invoke(cli, ["validate", str(write_menu(tmp_path, data))])
    assert result.exit_code == 1
    assert "nodes.main.options[0].goto (line" in result.output
    assert "'nowhere', which does not exist" in result.output


def test_validate_prints_warnings_but_passes(tmp_path):
    data = minimal_menu(orphan={"kind": "hangup"})
    result = CliRunner().invoke(cli, ["validate", str(write_menu(tmp_path, data))])
    assert result.exit_code == 0
    assert "warning: nodes.orphan" in result.output


def test_validate_syntax_error(tmp_path):
    path = tmp_path / "menus.json"
    path.write_text('{"start": "a", "nodes": {', encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "invalid JSON" in result.output and "line 1" in result.output


def test_python_dash_m_ivr_works():
    out = subprocess.run(
        [sys.executable, "-m", "ivr", "validate", str(MENU)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout


# -- start-up: each command imports what it needs, when it runs (issue 12) -----------------

HEAVY = ("sqlalchemy", "alembic", "flask", "jinja2", "werkzeug", "requests", "twilio.rest")


def imported_by(*args: str) -> set[str]:
    """The modules loaded by running ``ivr ARGS`` in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from ivr.cli import cli\n"
        "try:\n"
        "    cli.main(sys.argv[1:], prog_name='ivr')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stderr.splitlines()[-1]))


def loaded(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules for p in packages if m == p or m.startswith(p + ".")}


def test_ivr_version_loads_no_library():
    modules = imported_by("--version")
    assert loaded(modules, *HEAVY, "pydantic", "dotenv", "phonenumbers", "twilio") == set()
    assert loaded(modules, "ivr") == {"ivr", "ivr.cli", "ivr.cli.terminal", "ivr.errors"}


def test_ivr_validate_loads_the_menu_model_and_the_clock_only():
    modules = imported_by("validate", str(MENU))
    assert loaded(modules, *HEAVY, "dotenv") == set()
    # The simulator's clock times the routes; the interpreter, its request signing and the
    # journey log are not needed to check a file.
    assert loaded(modules, "ivr.caller.interpreter", "twilio.request_validator") == set()
    assert loaded(modules, "ivr.journey", "ivr.webhooks", "ivr.scripts") == set()
    assert {"ivr.menu", "ivr.authoring.checks", "ivr.caller.clock"} <= modules


def test_the_simulators_surface_is_whole():
    """`from ivr.caller import X` works for every X the package lists, loaded on first use."""
    import ivr.caller

    for name in ivr.caller.__all__:
        assert getattr(ivr.caller, name).__name__ == name


# -- library errors: the group shows them, one way, with each command's exit status ---------


@pytest.mark.parametrize(
    "command,status",
    [
        (["validate"], 1),
        (["paths"], 1),
        (["graph"], 1),
        (["call", "--press", "1", "--menu"], 1),
        (["report", "--menu"], 2),  # a bad --menu is a bad parameter
        (["diff", str(MENU)], 2),  # documented: "2 when a file is not a valid menu"
    ],
)
def test_an_invalid_menu_is_shown_the_same_way_by_every_command(tmp_path, command, status):
    data = minimal_menu()
    data["nodes"]["main"]["options"][0]["goto"] = "nowhere"
    bad = write_menu(tmp_path, data)
    result = CliRunner().invoke(cli, [*command, str(bad)])
    assert result.exit_code == status, result.output
    (problem,) = [line for line in result.stderr.splitlines() if line.startswith("  error: ")]
    assert result.stderr.splitlines() == [f"{bad}: 1 error(s)", problem]
    assert problem.startswith("  error: nodes.main.options[0].goto (line ")
    assert "Traceback" not in result.output


def test_a_library_error_is_one_line_with_passwords_masked(capsys):
    """Any other IVRError a command lets through: click's `Error:` line, URLs masked, exit 1
    unless the command declares its own status."""
    from ivr.cli.terminal import Failure, code_for, exit_code
    from ivr.errors import JourneyError, TwilioUnreachable

    error = TwilioUnreachable("https://ivr:s3cret@abcd.example/voice", "timed out")
    Failure(error).show()
    assert capsys.readouterr().err == (
        "Error: cannot reach https://ivr:***@abcd.example/voice: timed out\n"
    )
    command = exit_code(2, JourneyError)(click.Command("c"))
    assert code_for(command, error) == 1
    assert code_for(command, JourneyError("bad")) == 2
    assert Failure(JourneyError("bad"), code_for(command, JourneyError("bad"))).exit_code == 2


@pytest.mark.parametrize("command", [["db", "current"], ["db", "upgrade"]])
def test_an_unreachable_journey_database_is_a_message_not_a_traceback(command):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://ivr:s3cret@127.0.0.1:{port}/ivr"
    result = CliRunner().invoke(cli, [*command, "--database", url])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot read the journey database's revision: ")
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.output and "s3cret" not in result.output
    assert isinstance(result.exception, SystemExit)
