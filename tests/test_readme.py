"""The README's examples are run: every ``console`` block's commands, their output compared.

A block is a sequence of ``$ command`` lines, each followed by the output it shows. The commands
run in a fresh copy of the project (so an example may write files), with ``.venv/bin/`` meaning
this test's own environment, and each must exit 0 unless its block says otherwise. Output is
compared line by line after stable placeholders are put in (CallSids become ``CA…``):

- a line that is just ``...`` stands for any number of lines (none included);
- ``...`` inside a line stands for any text;
- a command that shows no output is only run.

A block that cannot run here (a server that keeps running, a Twilio account, ``sudo``) says so
just before it, with its reason: ``<!-- readme: not run (needs a Twilio account) -->``. A block
whose commands are expected to fail says ``<!-- readme: exit 1 -->``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
BLOCK = re.compile(
    r"(?:<!-- readme: (?P<directive>[^>]*?) -->\n)?```console\n(?P<body>.*?)```", re.S
)
COPIED = ("menus.json", "menus.schema.json", "callscript.schema.json", "tests", "ivr", "bench")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PLACEHOLDERS = [
    (re.compile(r"\bCA[0-9a-f]{32}\b"), "CA…"),
    (re.compile(r"\bRE[0-9a-f]{32}\b"), "RE…"),
]


@dataclass
class Command:
    line: str
    """The command as the README shows it (continuation lines joined)."""
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    start: int
    """The README line the block starts on (1-based), for the test's id."""
    directive: str
    commands: list[Command]

    @property
    def skipped(self) -> str | None:
        match = re.match(r"not run \((.+)\)$", self.directive)
        return match.group(1) if match else None

    @property
    def exit_code(self) -> int:
        match = re.match(r"exit (\d+)$", self.directive)
        return int(match.group(1)) if match else 0


def blocks(text: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(text):
        commands: list[Command] = []
        lines = match.group("body").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                commands.append(Command(command))
            elif commands:
                commands[-1].expected.append(line)
            i += 1
        start = text.count("\n", 0, match.start("body"))
        found.append(Block(start, (match.group("directive") or "").strip(), commands))
    return found


def normalise(text: str) -> list[str]:
    text = ANSI.sub("", text)
    for pattern, placeholder in PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return [line.rstrip() for line in text.splitlines()]


def _line_matches(expected: str, actual: str) -> bool:
    if "..." not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines fit ``expected`` with its ``...`` placeholders."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and _line_matches(head, actual[0]) and matches(rest, actual[1:])


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "100",
        "DATABASE_URL": f"sqlite:///{cwd / 'ivr-journeys.db'}",
    }
    env.pop("PUBLIC_BASE_URL", None)
    script = command.replace(".venv/bin/", f"{BIN}/")
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


ALL = blocks(README.read_text(encoding="utf-8"))


def test_every_console_block_runs_or_says_why_not() -> None:
    assert ALL, "no console blocks found"
    for block in ALL:
        assert block.commands, f"README line {block.start}: a console block with no $ command"
        assert not block.directive or block.skipped or re.match(r"exit \d+$", block.directive), (
            f"README line {block.start}: unknown directive {block.directive!r}"
        )


@pytest.mark.parametrize("block", ALL, ids=lambda b: f"line-{b.start}")
def test_readme_example(block: Block, tmp_path: Path) -> None:
    if block.skipped:
        pytest.skip(block.skipped)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, tmp_path / name)
    for command in block.commands:
        result = run(command.line, tmp_path)
        shown = normalise(result.stdout + result.stderr)
        expected = normalise("\n".join(command.expected))
        if command.expected:
            assert matches(expected, shown), (
                f"README line {block.start}: `$ {command.line}` printed:\n"
                + "\n".join(shown)
                + "\n\nbut the README shows:\n"
                + "\n".join(expected)
            )
        assert result.returncode == block.exit_code, (
            f"README line {block.start}: `$ {command.line}` exited {result.returncode}:\n"
            + "\n".join(shown)
        )
