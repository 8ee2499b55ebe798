from __future__ import annotations

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
